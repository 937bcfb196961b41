#!/usr/bin/env bash
# README command two: set up everything (idempotent), then lint, type-check and run the
# whole test suite against the real services set-up started (Docker Engine, Redis,
# Azurite). Extra arguments go to pytest, e.g. `scripts/test.sh -k lock -x`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/setup.sh"

echo "==> ruff check"
uv run --quiet ruff check .
echo "==> mypy --strict src"
uv run --quiet mypy
# The suite runs on several workers (pytest-xdist): most of its time is spent waiting on
# containers, sockets and child processes, and every test owns its names, ports and files.
# Bytecode is written for this step even where PYTHONDONTWRITEBYTECODE is set (CI): one
# collection pass rewrites the tests' asserts once and caches them (git-ignored
# __pycache__), so each worker loads them instead of rewriting all of them again (about
# 4 s of CPU per worker on this 2-core machine).
echo "==> pytest (${ELB_TEST_WORKERS:=6} workers)"
env -u PYTHONDONTWRITEBYTECODE uv run --quiet pytest --collect-only -q "$@" >/dev/null 2>&1 || true
env -u PYTHONDONTWRITEBYTECODE uv run --quiet pytest -n "$ELB_TEST_WORKERS" --dist worksteal "$@"
echo "==> unit tests at the lowest versions pyproject.toml allows"
"$ROOT/scripts/lowest.sh" -q
