#!/usr/bin/env bash
# Build a local stand-in of the Lambda Python 3.13 base image (public.ecr.aws/lambda/python:3.13-x86_64)
# and import it into podman. Called by setup.sh when the image is missing or this script changed.
#
# Inputs (environment, all set by setup.sh):
#   SAM_LOCAL_DIR   project-local runtime dir (scratch space and caches live here)
#   IMAGE           image name to create (":3.13" is tagged too)
#   RIE             path of the Runtime Interface Emulator shipped in the aws-sam-cli wheel
#   BOTO3_VERSION   boto3/botocore version to put in /var/runtime (as the official image does)
#   PY_VERSION      pyenv version to copy (default 3.13.0)
#   DEBIAN_MIRROR   optional: override the Debian mirror taken from the machine's apt configuration
set -euo pipefail

: "${SAM_LOCAL_DIR:?}" "${IMAGE:?}" "${RIE:?}" "${BOTO3_VERSION:?}"
PY_VERSION=${PY_VERSION:-3.13.0}
SUITE=bookworm
LIBS=libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libexpat1,libuuid1,ca-certificates

say() { printf 'build-image: %s\n' "$*" >&2; }
die() { printf 'build-image: FAILED: %s\n' "$*" >&2; exit 1; }

# --- Debian mirror: from the machine's apt configuration, never hard-coded ----------------------------
debian_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    # 1) apt's own view (needs the package lists, i.e. a previous apt-get update)
    uri=$(apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(REPO_URI)' 2>/dev/null |
        awk -v s="$SUITE" '$1 == "deb" && $2 == s { print $3; exit }')
    # 2) the sources files themselves (deb822 .sources, then one-line .list)
    if [[ -z $uri ]]; then
        uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$SUITE" '
            /^[[:space:]]*$/ { if (deb && hit && u != "") { print u; exit } deb = hit = 0; u = ""; next }
            /^Types:/ { deb = ($0 ~ /(^|[[:space:]])deb([[:space:]]|$)/) }
            /^URIs:/ { u = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
            END { if (deb && hit && u != "") print u }' | head -n1)
    fi
    if [[ -z $uri ]]; then
        uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i+1) == s) { print $i; exit } break } }')
    fi
    [[ -n $uri ]] || die "no Debian $SUITE mirror found in the apt configuration; set DEBIAN_MIRROR=<url>"
    echo "${uri%/}"
}

# --- CPython from pyenv ----------------------------------------------------------------------------
command -v pyenv >/dev/null 2>&1 || [[ -x ${PYENV_ROOT:-$HOME/.pyenv}/bin/pyenv ]] ||
    die "pyenv not found (needed for CPython $PY_VERSION)"
PYENV=$(command -v pyenv || echo "${PYENV_ROOT:-$HOME/.pyenv}/bin/pyenv")
if ! PYPREFIX=$("$PYENV" prefix "$PY_VERSION" 2>/dev/null); then
    say "pyenv has no $PY_VERSION; installing it (pyenv install -s $PY_VERSION, several minutes)"
    "$PYENV" install -s "$PY_VERSION" || die "pyenv install $PY_VERSION"
    PYPREFIX=$("$PYENV" prefix "$PY_VERSION")
fi
PYBIN="$PYPREFIX/bin/python${PY_VERSION%.*}"
[[ -x $PYBIN ]] || die "$PYBIN missing"
[[ -x $RIE ]] || die "Runtime Interface Emulator not found at $RIE"

# --- Base root filesystem (debootstrap, cached) ------------------------------------------------------
BASE="$SAM_LOCAL_DIR/cache/rootfs-$SUITE"
if [[ ! -f $BASE/.complete || $(cat "$BASE/.complete") != "$LIBS" ]]; then
    MIRROR=$(debian_mirror)
    say "debootstrap --variant=minbase $SUITE from $MIRROR (about 40 s)"
    rm -rf "$BASE"
    mkdir -p "$BASE"
    debootstrap --variant=minbase --include="$LIBS" "$SUITE" "$BASE" "$MIRROR" \
        >"$SAM_LOCAL_DIR/debootstrap.log" 2>&1 ||
        die "debootstrap (log: $SAM_LOCAL_DIR/debootstrap.log): $(tail -n 3 "$SAM_LOCAL_DIR/debootstrap.log")"
    # Keep the image small: apt caches and lists are not needed at runtime.
    rm -rf "$BASE"/var/cache/apt/archives/*.deb "$BASE"/var/lib/apt/lists/*
    echo "$LIBS" >"$BASE/.complete"
fi

ROOTFS="$SAM_LOCAL_DIR/build/rootfs"
rm -rf "$SAM_LOCAL_DIR/build"
mkdir -p "$ROOTFS"
cp -a "$BASE/." "$ROOTFS/"
rm -f "$ROOTFS/.complete"

# --- CPython at the prefix it was built for, /var/lang -> prefix ------------------------------------
say "copying CPython $PY_VERSION from $PYPREFIX (without tests, tk, idle, static lib, site-packages)"
mkdir -p "$ROOTFS$PYPREFIX"
PYLIB=lib/python${PY_VERSION%.*}
tar -C "$PYPREFIX" \
    --exclude="./$PYLIB/test" --exclude="./$PYLIB/idlelib" --exclude="./$PYLIB/tkinter" \
    --exclude="./$PYLIB/turtledemo" --exclude="./$PYLIB/lib-dynload/_tkinter*" \
    --exclude="./$PYLIB/site-packages" --exclude='*.a' -cf - . | tar -C "$ROOTFS$PYPREFIX" -xf -
mkdir -p "$ROOTFS$PYPREFIX/$PYLIB/site-packages"
# The prefix may sit under a private home directory (/root); the function must be able to traverse it.
d=$PYPREFIX
while [[ $d != / ]]; do chmod a+rx "$ROOTFS$d"; d=$(dirname "$d"); done
rm -rf "$ROOTFS/var/lang"
ln -s "$PYPREFIX" "$ROOTFS/var/lang"
ln -sf "python${PY_VERSION%.*}" "$ROOTFS$PYPREFIX/bin/python3"

# --- /var/runtime: awslambdaric + boto3/botocore, installed with that same Python ------------------------
say "pip install awslambdaric boto3==$BOTO3_VERSION botocore==$BOTO3_VERSION into /var/runtime"
mkdir -p "$ROOTFS/var/runtime" "$ROOTFS/var/task" "$ROOTFS/opt"
"$PYBIN" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile \
    --only-binary=:all: --target "$ROOTFS/var/runtime" awslambdaric "boto3==$BOTO3_VERSION" "botocore==$BOTO3_VERSION" \
    >"$SAM_LOCAL_DIR/pip.log" 2>&1 || die "pip install into /var/runtime: $(tail -n 5 "$SAM_LOCAL_DIR/pip.log")"

# --- Runtime Interface Emulator, bootstrap, entrypoint ------------------------------------------------
install -m 0755 "$RIE" "$ROOTFS/usr/local/bin/aws-lambda-rie"

cat >"$ROOTFS/var/runtime/bootstrap" <<'BOOT'
#!/bin/bash
# Lambda-like sys.path: /var/task (cwd, via -m), layers under /opt, then the runtime's own packages.
export AWS_EXECUTION_ENV=${AWS_EXECUTION_ENV:-AWS_Lambda_python3.13}
export PYTHONPATH="/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
HANDLER=${_HANDLER:-${AWS_LAMBDA_FUNCTION_HANDLER:-$1}}
cd "${LAMBDA_TASK_ROOT:-/var/task}"
exec /var/lang/bin/python3.13 -m awslambdaric "$HANDLER"
BOOT
chmod 0755 "$ROOTFS/var/runtime/bootstrap"

cat >"$ROOTFS/lambda-entrypoint.sh" <<'ENTRY'
#!/bin/sh
# As in the official image: the handler is the only argument; without a Runtime API, run the emulator.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  exec /usr/local/bin/aws-lambda-rie $RUNTIME_ENTRYPOINT
else
  exec $RUNTIME_ENTRYPOINT
fi
ENTRY
chmod 0755 "$ROOTFS/lambda-entrypoint.sh"

# --- Import ------------------------------------------------------------------------------------------
say "podman import -> $IMAGE"
tar -C "$ROOTFS" --numeric-owner -cf - . | podman import --quiet \
    --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin' \
    --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV TZ=:/etc/localtime' \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
    --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'WORKDIR /var/task' \
    --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
    - "$IMAGE" >/dev/null || die "podman import"
podman tag "$IMAGE" "${IMAGE%-x86_64}" || die "podman tag ${IMAGE%-x86_64}"
rm -rf "$SAM_LOCAL_DIR/build"
say "done: $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
