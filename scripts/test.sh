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
echo "==> pytest"
uv run --quiet pytest "$@"
echo "==> unit tests at the lowest versions pyproject.toml allows"
"$ROOT/scripts/lowest.sh" -q
