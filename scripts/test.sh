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
echo "==> pytest (${ELB_TEST_WORKERS:=6} workers)"
uv run --quiet pytest -n "$ELB_TEST_WORKERS" --dist worksteal "$@"
echo "==> unit tests at the lowest versions pyproject.toml allows"
"$ROOT/scripts/lowest.sh" -q
