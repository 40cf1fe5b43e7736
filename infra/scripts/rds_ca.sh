#!/bin/sh
# The Amazon RDS CA bundle that training verifies database servers against (DB_TLS; see
# infra/deploy.md). This repository ships none: it is a build input, fetched from AWS at deploy-build
# time into a git-ignored directory with its SHA-256 recorded beside it.
#
#   rds_ca.sh fetch URL DIR [SHA256]  download URL (https, or file:// for a copy fetched elsewhere)
#                                     into DIR/global-bundle.pem and record its SHA-256; with SHA256
#                                     (RDS_CA_SHA256) a bundle with any other hash is refused and
#                                     nothing is replaced
#   rds_ca.sh ship DIR DEST           copy DIR/global-bundle.pem to DEST if its recorded SHA-256
#                                     matches (a mismatch or a missing record fails); when nothing
#                                     was fetched, say so in one line and succeed (CI has no AWS)
set -eu
BUNDLE=global-bundle.pem

die() { echo "$*" >&2; exit 1; }
sha256_of() { sha256sum <"$1" | cut -d' ' -f1; }

fetch() {
    url=$1 dir=$2 pin=$(printf '%s' "${3:-}" | tr 'A-F' 'a-f')
    mkdir -p "$dir"
    new="$dir/$BUNDLE.new"
    trap 'rm -f "$new" "$new.sha256"' EXIT
    # A redirect may only go to https; the first URL may be file:// (a copy made elsewhere).
    curl --fail --silent --show-error --proto '=https,file' --proto-redir '=https' --tlsv1.2 \
        --max-time 60 -o "$new" "$url"
    grep -q -- '-----BEGIN CERTIFICATE-----' "$new" || die "$url: not a PEM certificate bundle"
    actual=$(sha256_of "$new")
    if [ -n "$pin" ] && [ "$actual" != "$pin" ]; then
        die "RDS CA bundle from $url has SHA-256 $actual, not RDS_CA_SHA256=$pin: refused, $dir unchanged"
    fi
    echo "$actual  $BUNDLE" >"$new.sha256"
    mv "$new" "$dir/$BUNDLE"
    mv "$new.sha256" "$dir/$BUNDLE.sha256"
    count=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$dir/$BUNDLE")
    echo "RDS CA bundle: $dir/$BUNDLE, $count certificates, SHA-256 $actual (from $url)"
}

ship() {
    dir=$1 dest=$2
    if [ ! -e "$dir/$BUNDLE" ] && [ ! -e "$dir/$BUNDLE.sha256" ]; then
        echo "RDS CA bundle not fetched: run \`make rds-ca-bundle\` before deploying to RDS, or set DB_TLS_CA"
        return 0
    fi
    [ -f "$dir/$BUNDLE" ] || die "RDS CA bundle: $dir/$BUNDLE is missing but its SHA-256 is recorded: run \`make rds-ca-bundle\`"
    [ -f "$dir/$BUNDLE.sha256" ] || die "RDS CA bundle: $dir/$BUNDLE has no recorded SHA-256: FAILED (fetch it with \`make rds-ca-bundle\`)"
    recorded=$(cut -d' ' -f1 <"$dir/$BUNDLE.sha256")
    actual=$(sha256_of "$dir/$BUNDLE")
    [ "$actual" = "$recorded" ] || die "RDS CA bundle: $dir/$BUNDLE has SHA-256 $actual, recorded $recorded: FAILED (edited after the fetch? run \`make rds-ca-bundle\`)"
    mkdir -p "$(dirname "$dest")"
    cp "$dir/$BUNDLE" "$dest"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
fetch) [ $# -ge 2 ] || die "usage: rds_ca.sh fetch URL DIR [SHA256]"; fetch "$@" ;;
ship) [ $# -eq 2 ] || die "usage: rds_ca.sh ship DIR DEST"; ship "$@" ;;
*) die "usage: rds_ca.sh fetch URL DIR [SHA256] | ship DIR DEST" ;;
esac
