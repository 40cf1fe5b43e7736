#!/usr/bin/env bash
# Make `sam local` work on a machine without a Docker engine: podman + a local stand-in of the Lambda
# Python 3.13 base image. Idempotent and quick when everything is already in place.
# Does nothing when a real Docker engine already answers (`docker info`).
#
# Environment (all optional):
#   SAM            path of the sam executable (default .tools/sam/bin/sam); its venv provides the RIE
#   SAM_LOCAL_DIR  runtime dir (default .tools/sam-local): podman.sock, env.sh, caches
#   FORCE_IMAGE=1  rebuild the stand-in image even if it is up to date
#   DEBIAN_MIRROR  override the Debian mirror taken from the apt configuration (see build-image.sh)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SAM_LOCAL_DIR=${SAM_LOCAL_DIR:-$ROOT/.tools/sam-local}
SAM=${SAM:-$ROOT/.tools/sam/bin/sam}
SOCK="$SAM_LOCAL_DIR/podman.sock"
ENV_FILE="$SAM_LOCAL_DIR/env.sh"
CONF="$HERE/containers.conf"
IMAGE=public.ecr.aws/lambda/python:3.13-x86_64
PY_VERSION=3.13.0
PACKAGES=(podman runc debootstrap)

say() { printf 'sam-local: %s\n' "$*" >&2; }
die() { printf 'sam-local: FAILED: %s\n' "$*" >&2; exit 1; }
t0=$SECONDS

mkdir -p "$SAM_LOCAL_DIR"

# --- 0. A real Docker engine? Then there is nothing to do. ---------------------------------------
# (Our own podman socket answers `docker info` too once env.sh is sourced: ignore it for this check.)
if command -v docker >/dev/null 2>&1; then
    if [[ ${DOCKER_HOST:-} == "unix://$SOCK" ]]; then docker_env=(env -u DOCKER_HOST); else docker_env=(env); fi
    if "${docker_env[@]}" timeout 15 docker info >/dev/null 2>&1; then
        say "a Docker engine answers (docker info): nothing to set up; sam local will use it"
        printf '# A real Docker engine answered `docker info`: nothing to export.\n' >"$ENV_FILE"
        exit 0
    fi
fi

# --- 1. Debian packages ------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "packages missing (${missing[*]}) and not root: run 'sudo apt-get install ${missing[*]}'"
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$SAM_LOCAL_DIR/apt.log" 2>&1 ||
        die "apt-get update (log: $SAM_LOCAL_DIR/apt.log): $(tail -n 3 "$SAM_LOCAL_DIR/apt.log")"
    apt-get install -y -qq "${missing[@]}" >>"$SAM_LOCAL_DIR/apt.log" 2>&1 ||
        die "apt-get install ${missing[*]} (log: $SAM_LOCAL_DIR/apt.log): $(tail -n 3 "$SAM_LOCAL_DIR/apt.log")"
fi

export CONTAINERS_CONF="$CONF"

# --- 2. Podman API socket ----------------------------------------------------------------------------
ping_socket() { curl -fsS --max-time 3 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }
if ! ping_socket; then
    if [[ -f $SAM_LOCAL_DIR/podman.pid ]]; then
        kill "$(cat "$SAM_LOCAL_DIR/podman.pid")" 2>/dev/null || true
    fi
    rm -f "$SOCK"
    say "starting podman system service on unix://$SOCK"
    setsid nohup podman system service --time=0 "unix://$SOCK" >"$SAM_LOCAL_DIR/podman.log" 2>&1 </dev/null &
    echo $! >"$SAM_LOCAL_DIR/podman.pid"
    for _ in $(seq 1 50); do ping_socket && break; sleep 0.2; done
    ping_socket || die "podman API did not answer on $SOCK (log: $SAM_LOCAL_DIR/podman.log): $(tail -n 3 "$SAM_LOCAL_DIR/podman.log")"
fi

cat >"$ENV_FILE" <<EOF
# Written by infra/sam-local/setup.sh: source it before running sam local.
export DOCKER_HOST=unix://$SOCK
export CONTAINERS_CONF=$CONF
EOF

# --- 3. The stand-in Lambda image --------------------------------------------------------------------
[[ -x $SAM ]] || die "sam not found at $SAM (run: make .tools/sam/bin/sam or make tools)"
SAM_PY="$(dirname "$(readlink -f "$SAM")")/python"
[[ -x $SAM_PY ]] || SAM_PY="$(dirname "$SAM")/python"
RIE="$("$SAM_PY" -c 'import os, samcli; print(os.path.dirname(samcli.__file__))')/local/rapid/aws-lambda-rie-x86_64"
[[ -f $RIE ]] || die "the installed aws-sam-cli has no $RIE"
BOTO3_VERSION=$(sed -n 's/^boto3==\([^[:space:];]*\).*/\1/p' "$ROOT/requirements-dev.txt")
[[ -n $BOTO3_VERSION ]] || die "no boto3 pin in requirements-dev.txt"

stamp=$(cat "$HERE/build-image.sh" <(echo "$PY_VERSION $BOTO3_VERSION") "$RIE" | sha256sum | cut -d' ' -f1)
# The stamp sits beside podman's image store (per user, per machine), not in the checkout: a fresh
# clone on the same machine reuses an image built from the same inputs instead of rebuilding it.
STAMP_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/genre-model-sam-local"
mkdir -p "$STAMP_DIR" 2>/dev/null || STAMP_DIR="$SAM_LOCAL_DIR"
STAMP_FILE="$STAMP_DIR/$(echo "$IMAGE" | tr '/:' '__').stamp"
if [[ ${FORCE_IMAGE:-} != 1 ]] && podman image exists "$IMAGE" &&
    [[ -f $STAMP_FILE && $(cat "$STAMP_FILE") == "$stamp" ]]; then
    say "image $IMAGE is up to date"
else
    say "building the stand-in image $IMAGE (about 1-2 minutes)"
    rm -f "$STAMP_FILE"
    old_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    SAM_LOCAL_DIR="$SAM_LOCAL_DIR" IMAGE="$IMAGE" RIE="$RIE" BOTO3_VERSION="$BOTO3_VERSION" \
        PY_VERSION="$PY_VERSION" bash "$HERE/build-image.sh" || die "building $IMAGE (see messages above)"
    # SAM derives ...:3.13-rapid-x86_64 (and samcli/lambda-python:3.13-... with layers) from the base
    # image and reuses them while they exist: drop the stale ones so they are derived from the new base.
    podman images --format '{{.Repository}}:{{.Tag}}' |
        grep -E '^(public\.ecr\.aws/lambda/python:3\.13-rapid-|([a-z0-9.-]+/)?samcli/lambda-python:3\.13)' |
        xargs -r podman rmi -f >/dev/null 2>&1 || true
    # ...and the previous base image, now untagged.
    if [[ -n $old_id && $old_id != $(podman image inspect --format '{{.Id}}' "$IMAGE") ]]; then
        podman rmi "$old_id" >/dev/null 2>&1 || true
    fi
    echo "$stamp" >"$STAMP_FILE"
fi

# --- 4. MariaDB for the containers -------------------------------------------------------------------
# `--docker-network host` is a no-op in SAM CLI 1.170 (the container stays on podman's bridge), and
# MariaDB listens on the host's 127.0.0.1 only. A forwarder on the wildcard address, port
# SAM_LOCAL_DB_PORT (env.json's DB_PORT), passes connections from podman's subnet to 127.0.0.1:3306.
# The wildcard, not the bridge gateway: netavark creates the bridge (and host.containers.internal's
# address) only while a container is attached, so an address-bound listener cannot start before the
# first container. SAM_LOCAL_DB_FORWARD=0 turns this off.
if [[ ${SAM_LOCAL_DB_FORWARD:-1} != 0 ]]; then
    DB_PORT=${SAM_LOCAL_DB_PORT:-13306}
    SUBNET=$(podman network inspect podman --format '{{range .Subnets}}{{.Subnet}}{{end}}' 2>/dev/null || true)
    [[ -n $SUBNET ]] || die "cannot read the subnet of podman's default network (podman network inspect podman)"
    db_up() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$DB_PORT" 2>/dev/null; }
    if ! db_up; then
        if [[ -f $SAM_LOCAL_DIR/db-forward.pid ]]; then
            kill "$(cat "$SAM_LOCAL_DIR/db-forward.pid")" 2>/dev/null || true
        fi
        say "forwarding *:$DB_PORT (from $SUBNET) -> 127.0.0.1:3306 (MariaDB)"
        setsid nohup python3 "$HERE/tcp_forward.py" "0.0.0.0:$DB_PORT" 127.0.0.1:3306 \
            --allow "$SUBNET" --allow 127.0.0.0/8 \
            >"$SAM_LOCAL_DIR/db-forward.log" 2>&1 </dev/null &
        echo $! >"$SAM_LOCAL_DIR/db-forward.pid"
        for _ in $(seq 1 25); do db_up && break; sleep 0.2; done
        db_up || die "MariaDB forwarder did not start (log: $SAM_LOCAL_DIR/db-forward.log): $(tail -n 3 "$SAM_LOCAL_DIR/db-forward.log")"
    fi
fi

say "ready in $((SECONDS - t0)) s: source $ENV_FILE, then sam local ... --skip-pull-image"
