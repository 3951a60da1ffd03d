#!/usr/bin/env bash
# Installs what winctr's build, demo and tests need on Debian 12, as root,
# without prompts; the user brings Go (README). One line per step says what
# it installs and why. Idempotent: a step whose result is already there is
# skipped, so a second run takes seconds.
#
#   hack/install-deps.sh demo   what `make demo` and `make bootfiles` use
#   hack/install-deps.sh test   that and what only the tests use (default)
#
# GUEST_KERNEL=debian (as make passes it) adds Debian's cloud kernel to the
# demo's packages; the project's kernel builds its own tools
# (hack/build-guest-kernel.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-test}"
case "$what" in
  demo | test) ;;
  *)
    echo "usage: $0 [demo|test]" >&2
    exit 2
    ;;
esac

CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
COMPAT_VERSION="${COMPAT_CONTAINERD_VERSION:-v2.2.9}"
TOOLS_BIN="$(pwd)/_output/tools/bin"
COMPAT_BIN="$(pwd)/_output/tools/compat/bin"

say() { echo "install-deps: $*"; }

# Debian packages, each with the reason it is here. Not in a minimal Debian
# 12 (debootstrap's minbase, which `make fresh` starts from) and so listed
# too: make, git and the CA certificates a user's machine usually has.
packages=(
  "make=the README's commands are make targets"
  "git=go build stamps the checkout's commit into the binaries"
  "ca-certificates=Go fetches modules over HTTPS"
  "runc=the host's OCI runtime, for containers on the host kernel"
  "busybox-static=the container image, built locally from its binary"
  "qemu-system-x86=the utility VM: QEMU and virtiofsd"
  "crun=the guest's OCI runtime is this package's source, built static below"
)
# Debian's cloud kernel is the guest's only where GUEST_KERNEL=debian
# selects it (make bootfiles builds the project's own otherwise); the tests
# boot it too (make e2e-compat).
if [ "$what" = test ] || [ "${GUEST_KERNEL:-project}" = debian ]; then
  packages+=("linux-image-cloud-amd64=Debian's cloud kernel and modules, the guest's with GUEST_KERNEL=debian")
fi
if [ "$what" = test ]; then
  packages+=("containernetworking-plugins=the CRI tests' pod network (bridge, host-local, loopback)")
fi

missing=()
for entry in "${packages[@]}"; do
  pkg="${entry%%=*}"
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ]; then
    continue
  fi
  say "apt: $pkg: ${entry#*=}"
  missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  say "apt: all ${#packages[@]} Debian packages present"
else
  if [ "$(id -u)" -ne 0 ]; then
    say "need root to install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Another apt (unattended upgrades, a second shell) may hold the lock.
  apt_get=(apt-get -o DPkg::Lock::Timeout=600)
  "${apt_get[@]}" update -qq
  "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

# The utility VM's crun: Debian's, statically linked (see the script).
./hack/build-guest-crun.sh "$(pwd)/_output/tools/guest/crun"

# Where Go's own instructions put it, as the Makefile assumes too.
command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null; then
  say "Go is not on the PATH nor in /usr/local/go; install the version go.mod names" >&2
  exit 1
fi
say "go: $(go version | cut -d' ' -f3), which you brought (see the README)"

# go_tool BIN NAME VERSION WHY: containerd's command NAME at VERSION,
# built with `go install` into BIN unless the one there is that version.
go_tool() {
  local bin="$1" name="$2" version="$3" why="$4"
  # Read whole, then matched: grep -q would stop reading at the match and,
  # under pipefail, the tool's SIGPIPE on its next line would fail the test.
  case "$("$bin/$name" -v 2>/dev/null || true)" in
    *"${version#v}"*) return 0 ;;
  esac
  say "go install: $name $version into $bin: $why"
  mkdir -p "$bin"
  # Outside the module, so the project's go.mod is not touched.
  (cd / && GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/containerd/containerd/v2/cmd/$name@$version")
}
go_tool "$TOOLS_BIN" containerd "$CONTAINERD_VERSION" "the container manager that starts winctr's shim"
go_tool "$TOOLS_BIN" ctr "$CONTAINERD_VERSION" "containerd's client, which the demo and tests drive"
if [ "$what" = test ]; then
  go_tool "$TOOLS_BIN" containerd-shim-runc-v2 "$CONTAINERD_VERSION" "containerd's runc shim, the baseline of make bench"
  # It still starts shims with the pre-2.3 protocol (flags, env, options
  # on stdin).
  go_tool "$COMPAT_BIN" containerd "$COMPAT_VERSION" "an older containerd, for the shim's compatibility tests"
fi
# The host's runc, current and with idmapped mounts (see the script); the
# harness puts it on the shims' PATH ahead of Debian's 1.1.5.
./hack/build-host-runc.sh "$TOOLS_BIN/runc"
say "containerd tools: $(ls "$TOOLS_BIN" | tr '\n' ' ')in $TOOLS_BIN"

