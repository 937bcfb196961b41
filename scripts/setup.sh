#!/usr/bin/env bash
# One idempotent set-up step for the demo, the tests and CI.
#
#   sudo scripts/setup.sh      (as root already on CI and dev machines)
#
# Each step checks first and does nothing when its part is already there, so a repeated
# run takes a few seconds. What it does, in order:
#   1. Python environment: uv (pip install uv if missing), `uv sync`
#   2. Debian packages, only those missing: docker.io, redis-server, debootstrap, npm,
#      chromium (headless, for the report's browser test); the npm package azurite
#   3. starts, when not running: the Docker Engine (host networking only), Redis on
#      127.0.0.1:6379, Azurite (Blob 10000, Queue 10001, Table 10002 on 127.0.0.1)
#   4. builds the base image elb-base:bookworm once (debootstrap + docker import; the
#      root file system tarball is cached so a wiped engine re-imports in seconds)
#   5. builds the proxy image elb-proxy:haproxy-2.6-r1 once (HAProxy and socat from Debian,
#      on the base image), which every app with public ports runs as <app>-proxy
#   6. builds the elb_upgrade wheel into examples/dashboard/api/wheels/ (git-ignored)
#   7. builds the example's api image once more (elb-setup/dashboard-api:layers), so its
#      pip install layer is in the engine's build cache before the first deploy or test
#
# Environment: ELB_BASE_IMAGE (default elb-base:bookworm), ELB_CACHE_DIR (default
# ~/.cache/elb-upgrade), ELB_PROXY_IMAGE (default elb-proxy:haproxy-2.6-r1),
# ELB_SETUP_SKIP_SERVICES=1 to do steps 1 and 6 only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ELB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/elb-upgrade}
LOGS=$CACHE/logs
BASE_IMAGE=${ELB_BASE_IMAGE:-elb-base:bookworm}
SOCKET=/var/run/docker.sock
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
export DEBIAN_FRONTEND=noninteractive

step() { printf '==> %s\n' "$*"; }
ok() { printf '    %s\n' "$*"; }
die() {
	printf 'setup: %s\n' "$1" >&2
	[ $# -lt 2 ] || printf '  → %s\n' "$2" >&2
	exit 1
}

# Run a command as root: directly when we are root (CI), else through sudo.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "'$*' needs root and sudo is missing" "run scripts/setup.sh as root"
	fi
}

# Wait up to $1 seconds for the command after it to succeed.
wait_for() {
	local seconds=$1
	shift
	for _ in $(seq $((seconds * 4))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.25
	done
	return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
engine_up() { [ -S "$SOCKET" ] && docker_ping; }
docker_ping() { "$ROOT/.venv/bin/python" -c "import docker; docker.from_env(timeout=3).ping()"; }

python_env() {
	step "Python environment (uv sync)"
	if ! command -v uv >/dev/null; then
		ok "uv is missing: pip install uv"
		python3 -m pip install --quiet uv || die "cannot install uv" \
			"install it by hand: python3 -m pip install uv"
	fi
	# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on CI) every CLI start
	# would otherwise compile ~400 modules again (about 0.6 s of a 2.5 s upgrade).
	(cd "$ROOT" && uv sync --quiet --compile-bytecode && .venv/bin/python -m compileall -q src) ||
		die "uv sync failed" "read the error above; then rerun"
	ok "$(cd "$ROOT" && uv run --quiet python --version) in $ROOT/.venv"
}

debian_packages() {
	step "Debian packages"
	local missing=()
	command -v dockerd >/dev/null || missing+=(docker.io)
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v node >/dev/null || missing+=(nodejs)
	command -v npm >/dev/null || missing+=(npm)
	command -v git >/dev/null || missing+=(git)
	command -v curl >/dev/null || missing+=(curl)
	command -v wrk >/dev/null || missing+=(wrk) # the readiness benchmark's load generator
	[ -x /usr/bin/chromium ] || missing+=(chromium) # tests/report opens the HTML report in it
	if [ ${#missing[@]} -eq 0 ]; then
		ok "dockerd, redis-server, debootstrap, node, npm, git, curl, wrk and chromium are installed"
	else
		command -v apt-get >/dev/null || die "missing: ${missing[*]}, and this is not Debian" \
			"install them with your package manager, then rerun"
		ok "apt-get install ${missing[*]}"
		as_root apt-get update -qq
		as_root apt-get install -y -qq "${missing[@]}" >"$LOGS/apt.log" 2>&1 ||
			die "apt-get install ${missing[*]} failed (log: $LOGS/apt.log)" \
				"read the log; then rerun scripts/setup.sh"
	fi
	if command -v azurite >/dev/null; then
		ok "azurite is installed"
	else
		ok "npm install -g azurite"
		as_root npm install -g --silent azurite >"$LOGS/npm.log" 2>&1 ||
			die "npm install -g azurite failed (log: $LOGS/npm.log)" "read the log; then rerun"
	fi
}

docker_engine() {
	step "Docker Engine"
	if engine_up; then
		ok "running ($SOCKET)"
		return
	fi
	# A pid file left by an engine that died with its machine makes dockerd refuse to start.
	if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
		as_root rm -f /var/run/docker.pid
	fi
	ok "starting dockerd --bridge=none --iptables=false --ip-masq=false (log: $LOGS/dockerd.log)"
	# Host networking only: no docker0 bridge, no NAT rules (docs/architecture.md).
	as_root setsid nohup dockerd --bridge=none --iptables=false --ip-masq=false \
		>"$LOGS/dockerd.log" 2>&1 </dev/null &
	wait_for 60 engine_up || die "the Docker Engine did not come up in 60 s" \
		"read $LOGS/dockerd.log; start it by hand: dockerd --bridge=none --iptables=false --ip-masq=false"
	ok "running ($SOCKET)"
}

redis() {
	step "Redis on 127.0.0.1:6379"
	if port_open 6379; then
		ok "running"
		return
	fi
	redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no \
		--logfile "$LOGS/redis.log" || die "redis-server did not start" "read $LOGS/redis.log"
	wait_for 15 port_open 6379 || die "Redis is not listening on 6379" "read $LOGS/redis.log"
	ok "started"
}

azurite_emulator() {
	step "Azurite on 127.0.0.1 (Blob 10000, Table 10002)"
	if port_open 10002 && port_open 10000; then
		ok "running"
		return
	fi
	setsid nohup azurite --inMemoryPersistence --silent --skipApiVersionCheck \
		--blobHost 127.0.0.1 --blobPort 10000 --queueHost 127.0.0.1 --queuePort 10001 \
		--tableHost 127.0.0.1 --tablePort 10002 \
		>"$LOGS/azurite.log" 2>&1 </dev/null &
	wait_for 30 port_open 10002 || die "Azurite is not listening on 10002" "read $LOGS/azurite.log"
	ok "started"
}

base_image() {
	step "Base image $BASE_IMAGE"
	if docker_image_exists "$BASE_IMAGE"; then
		ok "present"
		return
	fi
	local tarball=$CACHE/elb-base-bookworm.tar
	[ -s "$tarball" ] || make_rootfs "$tarball"
	ok "docker import $tarball"
	# PIP_CERT: the package index is reachable from a build only through the host's CA bundle,
	# which make_rootfs copied in.
	docker_import "$tarball" "$BASE_IMAGE" || die "docker import failed" "rerun scripts/setup.sh"
	ok "built"
}

docker_image_exists() {
	"$ROOT/.venv/bin/python" - "$1" <<-'EOF' >/dev/null 2>&1
		import sys, docker
		docker.from_env().images.get(sys.argv[1])
	EOF
}

docker_import() {
	"$ROOT/.venv/bin/python" - "$1" "$2" <<-'EOF'
		import sys, docker
		tarball, name = sys.argv[1], sys.argv[2]
		repo, _, tag = name.partition(":")
		changes = ["ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
		           "ENV PIP_DISABLE_PIP_VERSION_CHECK=1", "ENV PYTHONUNBUFFERED=1",
		           'CMD ["python3"]']
		with open(tarball, "rb") as data:
		    docker.from_env(timeout=600).api.import_image_from_data(
		        data.read(), repository=repo, tag=tag or "latest", changes=changes)
	EOF
}

make_rootfs() {
	local tarball=$1 dir
	dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
	ok "debootstrap --variant=minbase bookworm (about a minute; log: $LOGS/debootstrap.log)"
	as_root debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
		bookworm "$dir" "$(debian_mirror)" >"$LOGS/debootstrap.log" 2>&1 ||
		die "debootstrap failed (log: $LOGS/debootstrap.log)" "read the log; then rerun"
	as_root cp "$CA_BUNDLE" "$dir/etc/ssl/certs/ca-certificates.crt"
	# Smaller image, faster import: no package caches, docs or locales.
	as_root rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* \
		"$dir"/usr/share/doc "$dir"/usr/share/man "$dir"/usr/share/locale
	as_root tar -C "$dir" -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	as_root rm -rf "$dir"
}

# The mirror apt already uses here, so debootstrap works wherever apt-get does.
debian_mirror() {
	local uri
	uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
	[ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -1)
	echo "${uri:-http://deb.debian.org/debian}"
}

proxy_image() {
	step "Proxy image (HAProxy 2.6 from Debian, on $BASE_IMAGE)"
	# The platform's own build function, so setup and the first deploy build the same image.
	if ! "$ROOT/.venv/bin/python" - "$BASE_IMAGE" <<-'EOF'; then
		import os, sys, docker
		from elb_upgrade.platforms.docker import proxy
		image = os.environ.get("ELB_PROXY_IMAGE") or proxy.IMAGE
		said = []
		proxy.ensure_image(docker.from_env(timeout=600), image, sys.argv[1], said.append)
		print(f"    {'built' if said else 'present'}: {image}")
	EOF
		die "building the proxy image failed" \
			"read the error above (the build runs apt-get install haproxy socat); then rerun"
	fi
}

app_wheel() {
	step "elb_upgrade wheel for the example app's api image"
	local out=$ROOT/examples/dashboard/api/wheels tmp
	tmp=$(mktemp -d)
	# Built aside and copied: uv writes a catch-all .gitignore into its output folder.
	(cd "$ROOT" && uv build --quiet --wheel --out-dir "$tmp") || die "uv build --wheel failed" \
		"read the error above"
	rm -f "$out"/*.whl
	cp "$tmp"/*.whl "$out"/
	rm -rf "$tmp"
	ok "$(basename "$out"/*.whl) in examples/dashboard/api/wheels/"
}

example_layers() {
	step "Example app's dependency layers (docker build of examples/dashboard/api, cached)"
	# The first deploy of the example (README command one, and every docker test's copy)
	# finds its pip install layer built; without this, the suite's parallel first builds
	# each ran the same pip install (about 10 s of CPU each) on a fresh machine.
	if ! "$ROOT/.venv/bin/python" - "$ROOT/examples/dashboard/api" "$BASE_IMAGE" <<-'EOF'; then
		import sys, docker
		api, base = sys.argv[1], sys.argv[2]
		docker.from_env(timeout=900).images.build(
		    path=api, buildargs={"BASE_IMAGE": base}, tag="elb-setup/dashboard-api:layers", rm=True)
	EOF
		die "building the example's api image failed" "read the error above; then rerun"
	fi
	ok "built (cached layers are reused)"
}

main() {
	mkdir -p "$LOGS"
	local started=$SECONDS
	python_env
	if [ "${ELB_SETUP_SKIP_SERVICES:-}" != 1 ]; then
		debian_packages
		docker_engine
		redis
		azurite_emulator
		base_image
		proxy_image
	fi
	app_wheel
	if [ "${ELB_SETUP_SKIP_SERVICES:-}" != 1 ]; then
		example_layers
	fi
	step "ready in $((SECONDS - started)) s"
}

main "$@"
