#!/usr/bin/env bash
# The clean-root check (make fresh): the README's first command, run where
# nothing was installed by hand. It builds a minimal Debian 12 root
# (debootstrap --variant=minbase bookworm), mounts the host's Go toolchain
# into it read-only (a user brings Go), clones the committed HEAD into it,
# and inside it runs hack/install-deps.sh demo (what the demo needs),
# the same again to show that a second run installs nothing,
# `make demo`, which boots a utility VM, and then the package a user
# installs: `make deb`, apt-get installs it, and hack/package-check.sh runs
# a VM container with it through a containerd on its default config.
#
# Everything runs in a mount and PID namespace of its own: its mounts
# (/proc, /sys, the cgroup hierarchy, /dev, a fresh /run, Go) are seen by
# nothing else, and when the namespace's first process exits the kernel
# ends every process left in it. That process unmounts and ends what is
# left on its own too, by PID, also when a step fails; then the root is
# deleted. What stays on the host is the debootstrap tarball cached under
# _output/fresh (delete it to download the packages again) and the guest
# kernel that make demo built in the root, in _output/guest-kernel, where
# this checkout's make bootfiles finds it and builds it no more.
#
# Needs root, git and Go on the host; installs debootstrap if missing.
set -euo pipefail

suite=bookworm
mirror=http://deb.debian.org/debian

say() { echo "fresh: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# inside ROOT GOROOT: the namespace's first process. Mounts, runs the
# steps in the root, and unmounts and ends what is left whatever happens.
mounts=()
inside() {
  local root="$1" goroot="$2"
  cleanup_inside() {
    # Every process of this PID namespace but this one, by PID: /proc is
    # the namespace's own (unshare --mount-proc), and a glob forks nothing.
    local d killed=()
    for d in /proc/[0-9]*; do
      if [ "${d#/proc/}" != 1 ] && kill -KILL "${d#/proc/}" 2>/dev/null; then
        killed+=("${d#/proc/}")
      fi
    done
    if [ "${#killed[@]}" -gt 0 ]; then say "ended processes left in the root: ${killed[*]}"; fi
    local i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
      umount -R "${mounts[i]}" 2>/dev/null || umount -R -l "${mounts[i]}" || true
    done
    say "unmounted ${#mounts[@]} mounts: ${mounts[*]##*/root}"
  }
  trap cleanup_inside EXIT
  mnt() { # mnt TARGET MOUNT-ARGS...: mounts, and remembers to unmount
    local target="$1"
    shift
    mkdir -p "$target"
    mount "$@" "$target"
    mounts+=("$target")
  }
  # The root a mount of its own: in a chroot, mountinfo lists only the
  # mounts under it, and without this none holds its files, so containerd
  # finds no mount for its root and fails to load its metadata store.
  mnt "$root" --bind "$root"
  mnt "$root/usr/local/go" --bind "$goroot"
  mount -o remount,bind,ro "$root/usr/local/go"
  mnt "$root/proc" -t proc proc
  mnt "$root/sys" -t sysfs sysfs
  # The host's cgroup layout as it is: cgroup2, or v1 controllers (and a
  # hybrid's unified tree) under a tmpfs.
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    mnt "$root/sys/fs/cgroup" -t cgroup2 cgroup2
  else
    mnt "$root/sys/fs/cgroup" --rbind /sys/fs/cgroup
  fi
  mnt "$root/dev" --rbind /dev
  # A fresh /run: containerd's and winctr's state is the root's own.
  mnt "$root/run" -t tmpfs -o mode=0755,nosuid,nodev tmpfs

  # A user's environment: Go on the PATH, as its install instructions say.
  local env=(HOME=/root PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb)
  local v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY GOPROXY; do
    if [ -n "${!v:-}" ]; then env+=("$v=${!v}"); fi
  done
  # step NAME COMMAND: one step in the root, in the clone, timed.
  step() {
    local name="$1" t
    shift
    say "$name: $*"
    t="$(now)"
    if ! chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c "cd /root/winctr && $*"; then
      say "FAILED: $name, after $(since "$t")"
      return 1
    fi
    say "$name: done in $(since "$t")"
  }
  # What the README's first command needs (make demo); the tests' extra
  # tools are built on the CI host itself, where a clean root would only
  # double the time of the slowest step.
  step "install-deps" ./hack/install-deps.sh demo </dev/null
  # The second run installs nothing: no step line of an install.
  local out="$root/tmp/install-deps-again.log"
  step "install-deps again" "./hack/install-deps.sh demo >/tmp/install-deps-again.log 2>&1" </dev/null || {
    cat "$out"
    return 1
  }
  cat "$out"
  if grep -Eq '^[a-z-]+: apt: [^ ]+: |^install-deps: go install: |^build-(guest-crun|host-runc): building' "$out"; then
    say "FAILED: the second run of install-deps installed something again"
    return 1
  fi
  step "make demo" make demo </dev/null
  step "make deb" make deb </dev/null
  step "install the package" "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq ./_output/winctr_*.deb >/tmp/package-install.log 2>&1 || { cat /tmp/package-install.log; exit 1; }" </dev/null
  step "package check" ./hack/package-check.sh </dev/null
}

if [ "${1:-}" = --inside ]; then
  inside "$2" "$3"
  exit
fi

if [ "$(id -u)" -ne 0 ]; then
  say "needs root (debootstrap, mounts, chroot)" >&2
  exit 1
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
self="$repo/hack/$(basename "$0")"
goroot="$(go env GOROOT 2>/dev/null || /usr/local/go/bin/go env GOROOT)"
commit="$(git -C "$repo" rev-parse HEAD)"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  say "the checkout has uncommitted changes; they are not in the clone of $commit"
fi
if ! command -v debootstrap >/dev/null; then
  say "apt: debootstrap: it builds the minimal Debian root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap </dev/null >/dev/null
fi

start="$(now)"
work="$(mktemp -d /var/tmp/winctr-fresh.XXXXXX)"
root="$work/root"
ns_pid=""
cleanup() {
  local rc=$?
  if [ -n "$ns_pid" ] && kill -0 "$ns_pid" 2>/dev/null; then
    # unshare --kill-child takes the namespace, and so every process in
    # it, with it; it ignores TERM while it waits for its child.
    kill -KILL "$ns_pid" 2>/dev/null || true
    wait "$ns_pid" 2>/dev/null || true
  fi
  # The namespace's mounts were never the host's; anything under the root
  # still mounted here would be a bug, and deleting through it worse.
  if grep -q " $work/" /proc/self/mountinfo; then
    say "still mounted under $work, not deleting it:" >&2
    grep " $work/" /proc/self/mountinfo >&2
    exit 1
  fi
  rm -rf --one-file-system "$work"
  if [ "$rc" -eq 0 ]; then
    say "passed in $(since "$start"); the root is deleted"
  else
    say "failed after $(since "$start"); the root is deleted"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cache="$repo/_output/fresh"
tarball="$cache/$suite-minbase.tgz"
if [ ! -f "$tarball" ]; then
  t="$(now)"
  say "debootstrap: downloading a minimal $suite's packages into $tarball (cached)"
  mkdir -p "$cache"
  debootstrap --variant=minbase --make-tarball="$tarball.part" "$suite" "$work/tarball" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  mv "$tarball.part" "$tarball"
  rm -rf "$work/tarball"
  say "debootstrap: downloaded in $(since "$t")"
fi
t="$(now)"
say "debootstrap: a minimal $suite in $root, from $tarball ($(date -r "$tarball" +%F))"
debootstrap --variant=minbase --unpack-tarball="$tarball" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; exit 1; }
say "debootstrap: done in $(since "$t"), $(du -sh "$root" | cut -f1)"

# As an installed Debian 12 has them: updates and security too.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
EOF
# The host's way to the network: its resolver, and the certificate
# authorities added locally (an intercepting proxy's), which the root's
# ca-certificates takes in when install-deps installs it.
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -L /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
git clone -q "$repo" "$root/root/winctr"
git -C "$root/root/winctr" checkout -q --detach "$commit"
say "cloned $commit into /root/winctr; Go from $goroot ($("$goroot/bin/go" version | cut -d' ' -f3)), read-only"

unshare --mount --pid --fork --kill-child --propagation private --mount-proc \
  "$self" --inside "$root" "$goroot" &
ns_pid=$!
wait "$ns_pid"

# The guest kernel the root built (the same source, config and script as
# this checkout's) is kept for this checkout's own builds, which then do
# not build it again: the result alone, not its source and build tree.
built="$root/root/winctr/_output/guest-kernel"
kept="$repo/_output/guest-kernel"
if [ -f "$built/stamp" ] && ! cmp -s "$built/stamp" "$kept/stamp" 2>/dev/null; then
  mkdir -p "$kept"
  rm -rf "$kept/root" "$kept/release" "$kept/stamp"
  cp -a "$built/root" "$built/release" "$kept/"
  cp "$built/stamp" "$kept/stamp"
  say "kept the guest kernel it built ($(cat "$kept/release")) in $kept"
fi
