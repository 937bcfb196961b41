#!/usr/bin/env bash
# README command one: set up, deploy the example app, upgrade it while a client keeps
# requesting the page (and prints how many requests failed: 0, the proxy switches traffic
# only after the new revision is ready), show the page's revision before and after, print
# the deploy history, and write the report (elb-upgrade report).
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
# A previous demo's containers (and its proxy) would make this a later deploy instead of the
# first one.
old=$(docker ps -aq --filter "label=elb-upgrade.app=$ELB_APP_NAME" 2>/dev/null || true)
old+=" $(docker ps -aq --filter "label=elb-upgrade.proxy-of=$ELB_APP_NAME" 2>/dev/null || true)"
[ -z "${old// /}" ] || { echo "removing the previous demo's containers"; docker rm -f $old >/dev/null; }
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

# A client that requests the page (which asks the api, which asks the terminal) about 20
# times a second until told to stop (at most 10 minutes), then prints what it saw.
keep_requesting() {
	"$ROOT/.venv/bin/python" - "http://127.0.0.1:$FRONTEND_PORT/" "$WORK/stop" <<-'EOF'
		import re, sys, time, urllib.request
		url, stop = sys.argv[1], sys.argv[2]
		ok = failed = 0
		revisions = []
		deadline = time.monotonic() + 600
		while time.monotonic() < deadline:
		    try:
		        with urllib.request.urlopen(url, timeout=10) as answer:
		            found = re.search(r'id="revision"[^>]*>([^<]*)', answer.read().decode())
		        ok += 1
		        if found and (not revisions or revisions[-1] != found.group(1)):
		            revisions.append(found.group(1))
		    except OSError:
		        failed += 1
		    try:
		        open(stop).close()
		        break
		    except OSError:
		        time.sleep(0.05)
		print(f"  page requests during the upgrade: {ok + failed}, failed: {failed}")
		print(f"  revisions the page showed, in order: {' -> '.join(revisions)}")
	EOF
}

say "upgrade: elb-upgrade full --yes (the page is requested all along)"
keep_requesting >"$WORK/requests.txt" &
client=$!
elb_upgrade full --yes
touch "$WORK/stop"
wait "$client"
cat "$WORK/requests.txt"
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
Which revision each public port routes to:  elb-upgrade status (from $WORK/dashboard)
Remove it:       docker rm -f \$(docker ps -aq --filter label=elb-upgrade.app=$ELB_APP_NAME) $ELB_APP_NAME-proxy
EOF
