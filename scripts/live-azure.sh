#!/usr/bin/env bash
# Smoke-check the azure platform against a real Container App and record what Azure sent.
#   ELB_LIVE_AZURE_RESOURCE_GROUP=rg ELB_LIVE_AZURE_APP=ca-scratch scripts/live-azure.sh
# See tests/live/test_live_azure.py for every setting; the record is written to
# ${ELB_LIVE_AZURE_RECORD:-live-azure-record.json}. It deploys to the app named: use a
# scratch app, never production.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${ELB_LIVE_AZURE_RESOURCE_GROUP:-}" || -z "${ELB_LIVE_AZURE_APP:-}" ]]; then
    echo "live-azure: set ELB_LIVE_AZURE_RESOURCE_GROUP and ELB_LIVE_AZURE_APP (a scratch Container App); nothing was run" >&2
    exit 2
fi
uv run pytest -p no:cacheprovider -v tests/live "$@"
echo "live-azure: record written to ${ELB_LIVE_AZURE_RECORD:-live-azure-record.json}"
