#!/usr/bin/env bash
# README command one: set up, deploy the example app, upgrade it, show the page's revision
# before and after, print the deploy history, and write the report (elb-upgrade report).
#
#   scripts/demo.sh            (as root, or with sudo available for the set-up step)
#
# The app is a committed copy of examples/dashboard in a temporary git repo, deployed as
# the app `elb-demo` on the local Docker Engine. It keeps running afterwards; the last
# lines say where to look and how to remove it. Ports: API_PORT (8000), FRONTEND_PORT
# (8080), TERMINAL_PORT (8090) from the environment.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
started=$SECONDS

say() { printf '\n\033[1m### %s\033[0m\n' "$*"; }

say "set-up (scripts/setup.sh)"
bash "$ROOT/scripts/setup.sh"

export ELB_APP_NAME=${ELB_APP_NAME:-elb-demo}
export API_PORT=${API_PORT:-8000} FRONTEND_PORT=${FRONTEND_PORT:-8080} TERMINAL_PORT=${TERMINAL_PORT:-8090}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/elb-demo.XXXXXX")
export ELB_UPGRADE_HISTORY=$WORK/history.jsonl ELB_UPGRADE_SNAPSHOT=$WORK/snapshot.json
elb_upgrade() { "$ROOT/.venv/bin/elb-upgrade" "$@"; }

# The page as the frontend renders it: version, revision and each component's status.
show_page() {
	local html
	for _ in $(seq 40); do
		html=$(curl -fsS "http://127.0.0.1:$FRONTEND_PORT/" 2>/dev/null) && break
		sleep 0.25
	done
	printf '%s\n' "$html" | grep -oE 'id="(version|revision|status)"[^<]*' | sed -E 's/id="([a-z]+)"[^>]*>/  \1: /'
	printf '%s\n' "$html" | grep -oE '<td>[a-z_]+</td><td><span class="[a-z]+">[a-z]+' |
		sed -E 's#<td>([a-z_]+)</td><td><span class="[a-z]+">([a-z]+)#  component \1: \2#'
}

say "a fresh checkout of the example app in $WORK/dashboard"
# A previous demo's containers would make this a later deploy instead of the first one.
old=$(docker ps -aq --filter "label=elb-upgrade.app=$ELB_APP_NAME" 2>/dev/null || true)
[ -z "$old" ] || { echo "removing the previous demo's containers"; docker rm -f $old >/dev/null; }
cp -r "$ROOT/examples/dashboard" "$WORK/dashboard"
cd "$WORK/dashboard"
# The app's name and ports, committed beside elb-upgrade.toml (which reads .env).
printf 'ELB_APP_NAME=%s\nAPI_PORT=%s\nFRONTEND_PORT=%s\nTERMINAL_PORT=%s\n' \
	"$ELB_APP_NAME" "$API_PORT" "$FRONTEND_PORT" "$TERMINAL_PORT" >.env
git init -q -b main
git add -A
git -c user.name=demo -c user.email=demo@example.invalid commit -q -m "dashboard 1.0.0"
git log --oneline

say "first deploy: elb-upgrade full --yes"
elb_upgrade full --yes
say "the page at http://127.0.0.1:$FRONTEND_PORT/ before the upgrade"
show_page

say "a visible change: version 1.0.0 → 1.1.0, committed"
sed -i 's/VERSION = "1.0.0"/VERSION = "1.1.0"/' api/version.py
git -c user.name=demo -c user.email=demo@example.invalid commit -q -am "dashboard 1.1.0"
git log --oneline -1

say "upgrade: elb-upgrade full --yes"
elb_upgrade full --yes
say "the page after the upgrade"
show_page

say "elb-upgrade history"
elb_upgrade history

say "elb-upgrade report: the history as charts and DORA metrics, one offline HTML file"
elb_upgrade report -o "$WORK/report.html"

say "done in $((SECONDS - started)) s"
cat <<EOF
The report:      $WORK/report.html (open it in a browser; it loads nothing from the network)
The app keeps running: http://127.0.0.1:$FRONTEND_PORT/ (page), http://127.0.0.1:$API_PORT/api/health/ready
Try a rollback:  cd $WORK/dashboard && ELB_UPGRADE_HISTORY=$ELB_UPGRADE_HISTORY \\
                   ELB_UPGRADE_SNAPSHOT=$ELB_UPGRADE_SNAPSHOT $ROOT/.venv/bin/elb-upgrade rollback --yes
Remove it:       docker rm -f \$(docker ps -aq --filter label=elb-upgrade.app=$ELB_APP_NAME)
EOF
