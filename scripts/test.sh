#!/usr/bin/env bash
# README command two: set up everything (idempotent), then lint, type-check and run the
# whole test suite against the real services set-up started (Docker Engine, Redis,
# Azurite; scripts/check.sh), then the unit tests at the lowest versions pyproject.toml
# allows. Extra arguments go to pytest, e.g. `scripts/test.sh -k lock -x`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/setup.sh"

"$ROOT/scripts/check.sh" "$@"
echo "==> unit tests at the lowest versions pyproject.toml allows"
"$ROOT/scripts/lowest.sh" -q
