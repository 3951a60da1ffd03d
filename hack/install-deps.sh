#!/usr/bin/env bash
# Installs what winctr's build, demo and tests need on Debian 12, as root,
# without prompts: runc, crun, busybox-static, QEMU, the cloud kernel and the CNI
# plugins from Debian, containerd, ctr and containerd-shim-runc-v2
# 2.4 built with `go install` into _output/tools/bin, and the utility VM's
# static crun (from Debian's source package) in _output/tools/guest. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
TOOLS_BIN="$(pwd)/_output/tools/bin"

need_pkgs=()
# qemu-system-x86 (QEMU and virtiofsd) and the cloud kernel are for the
# utility VM: the boot files and the VM tests; containernetworking-plugins
# (bridge, host-local, loopback) for the CRI tests' pod network; crun is
# the utility VM's OCI runtime, runc the host's.
for pkg in runc crun busybox-static qemu-system-x86 linux-image-cloud-amd64 containernetworking-plugins; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install ${need_pkgs[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" </dev/null
fi

mkdir -p "$TOOLS_BIN"
# containerd-shim-runc-v2 is the baseline of `make bench`.
for tool in containerd ctr containerd-shim-runc-v2; do
  if ! "$TOOLS_BIN/$tool" -v 2>/dev/null | grep -q "${CONTAINERD_VERSION#v}"; then
    echo "install-deps: building $tool $CONTAINERD_VERSION"
    # Outside the module, so the project's go.mod is not touched.
    (cd / && GOBIN="$TOOLS_BIN" GOFLAGS=-mod=mod go install "github.com/containerd/containerd/v2/cmd/$tool@$CONTAINERD_VERSION")
  fi
done
# An older containerd that still starts shims with the pre-2.3 protocol
# (flags, env, options on stdin), to test the shim's compatibility path.
COMPAT_VERSION="${COMPAT_CONTAINERD_VERSION:-v2.2.9}"
COMPAT_BIN="$(pwd)/_output/tools/compat/bin"
if ! "$COMPAT_BIN/containerd" --version 2>/dev/null | grep -q "${COMPAT_VERSION#v}"; then
  echo "install-deps: building containerd $COMPAT_VERSION (compatibility tests)"
  mkdir -p "$COMPAT_BIN"
  (cd / && GOBIN="$COMPAT_BIN" GOFLAGS=-mod=mod go install "github.com/containerd/containerd/v2/cmd/containerd@$COMPAT_VERSION")
fi

# The utility VM's crun: Debian's, statically linked (see the script).
./hack/build-guest-crun.sh "$(pwd)/_output/tools/guest/crun"

echo "install-deps: runc $(runc --version | head -1 | awk '{print $3}'), busybox, containerd/ctr in $TOOLS_BIN"
