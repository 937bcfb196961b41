#!/usr/bin/env bash
# The suite itself: ruff, mypy --strict and pytest against the services scripts/setup.sh
# started. scripts/test.sh (README command two, and so CI) runs set-up, then this, then
# the lowest-versions step; bench/bench_suite.py times exactly this. Extra arguments go to
# pytest, e.g. `scripts/check.sh -k lock -x`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

echo "==> ruff check"
uv run --quiet ruff check .

# mypy needs one core for about 6 s and the tests leave 10-20 % of the CPU idle: it runs beside
# them, and its report is printed (and its verdict counted) when they are done.
echo "==> mypy --strict src (beside the tests; its report follows theirs)"
MYPY_LOG=$(mktemp)
trap 'rm -f "$MYPY_LOG"' EXIT
uv run --quiet mypy >"$MYPY_LOG" 2>&1 &
MYPY_PID=$!

# The suite runs on several workers (pytest-xdist): most of its time is spent waiting on
# containers, sockets and child processes, and every test owns its names, ports and files.
# Bytecode is written for this step even where PYTHONDONTWRITEBYTECODE is set (CI): one
# collection pass rewrites the tests' asserts once and caches them (git-ignored
# __pycache__), so each worker loads them instead of rewriting all of them again (about
# 4 s of CPU per worker on this 2-core machine).
echo "==> pytest (${ELB_TEST_WORKERS:=6} workers)"
env -u PYTHONDONTWRITEBYTECODE uv run --quiet pytest --collect-only -q "$@" >/dev/null 2>&1 || true
tests=0
env -u PYTHONDONTWRITEBYTECODE uv run --quiet pytest -n "$ELB_TEST_WORKERS" --dist worksteal "$@" \
	|| tests=$?

echo "==> mypy --strict src (report)"
mypy=0
wait "$MYPY_PID" || mypy=$?
cat "$MYPY_LOG"
if [ "$tests" -ne 0 ] || [ "$mypy" -ne 0 ]; then
	echo "FAILED: pytest exit $tests, mypy exit $mypy (0 is a pass)" >&2
	exit 1
fi
