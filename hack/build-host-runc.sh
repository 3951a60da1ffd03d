#!/usr/bin/env bash
# Builds the host's runc for process isolation from its Go module, with
# seccomp, into the path given as $1 (default _output/tools/bin/runc, which
# the test harness puts on the shims' PATH ahead of the system's).
#
# Why: Debian 12's runc 1.1.5 has no idmapped mounts, so containerd's CRI
# cannot offer user-namespaced pods (hostUsers: false) on a runc of that
# age, and it names a refused negative oom_score_adj only as "can't get
# final child's PID from pipe". runc's go.mod has replace directives that
# `go install` refuses, so the module is copied out of the module cache
# and built there. Needs gcc, pkg-config and libseccomp-dev (install-deps
# installs them); idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${RUNC_VERSION:-v1.4.4}"
out="${1:-$(pwd)/_output/tools/bin/runc}"
# The version read whole, then matched: under pipefail a grep -q that
# stops reading would fail the test with runc's SIGPIPE.
have="$("$out" --version 2>/dev/null || true)"
case "$have" in
  "runc version ${version#v}"*) exit 0 ;;
esac
echo "build-host-runc: building runc $version with seccomp (the host's runc for process isolation: idmapped mounts for user-namespaced pods)"
. hack/apt-missing.sh
apt_missing build-host-runc "runc's cgo build with seccomp" gcc libc6-dev pkg-config libseccomp-dev
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/opencontainers/runc@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
[ -n "$dir" ] || { echo "build-host-runc: runc $version not found in the module proxy" >&2; exit 1; }
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
mkdir -p "$(dirname "$out")"
(cd "$work/src" && CGO_ENABLED=1 go build -trimpath -tags seccomp -ldflags "-X main.version=${version#v}" -o "$out.tmp" .)
mv "$out.tmp" "$out"
have="$("$out" --version)"
echo "${have%%$'\n'*}"
