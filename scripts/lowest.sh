#!/usr/bin/env bash
# The lower bounds in pyproject.toml are a tested claim: resolve the LOWEST version every
# direct dependency allows (all extras), install them into .venv-lowest, and run the
# tests that need no service (tests/test_*.py, the fast CLI and the history package)
# against them.
# Called by scripts/test.sh (README command two, and so CI). Extra arguments go to pytest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=$ROOT/.venv-lowest
REQS=$VENV/requirements-lowest.txt

[ -x "$VENV/bin/python" ] || uv venv --quiet --python 3.11 "$VENV"
uv pip compile --quiet pyproject.toml --all-extras --resolution lowest-direct -o "$REQS.new"
if ! cmp -s "$REQS.new" "$REQS"; then
	uv pip install --quiet --python "$VENV/bin/python" -r "$REQS.new" \
		pytest pytest-timeout hypothesis trustme
	mv "$REQS.new" "$REQS"
else
	rm -f "$REQS.new"
fi
uv pip install --quiet --python "$VENV/bin/python" --no-deps -e .
echo "    lowest: $(grep -cE '^[a-z]' "$REQS") packages, e.g. $(grep -E '^(click|rich|httpx|docker)==' "$REQS" | tr '\n' ' ')"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_*.py tests/cli/test_fast.py tests/history "$@"
