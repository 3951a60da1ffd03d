#!/usr/bin/env bash
# The installed package at work (the clean-root check's last step, after
# `make deb` and installing it): a containerd on its default config, which
# imports the package's drop-in, runs a container with the package's shim
# on the host kernel, with the package's runc (not the system's), and one
# in a utility VM booted from the package's boot files, through ctr with
# the runtime options the package installs. `winctr version` names the
# package's build. The containerd it starts is ended by PID.
#
# Needs root, the package installed, and containerd and ctr from
# `make deps` (_output/tools/bin): Debian 12 ships no containerd 2.x.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "package-check: $*"; }
tools="$PWD/_output/tools/bin"
work="$(mktemp -d)"
cd_pid=""
cleanup() {
  if [ -n "$cd_pid" ]; then
    kill -TERM "$cd_pid" 2>/dev/null || true
    wait "$cd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

for f in /usr/bin/containerd-shim-winctr-v1 /usr/bin/winctr /usr/libexec/winctr/runc /etc/winctr/vm.toml /etc/containerd/conf.d/winctr.toml; do
  [ -e "$f" ] || { say "FAILED: $f is not installed"; exit 1; }
done
/usr/bin/winctr version

if [ -e /etc/containerd/config.toml ]; then
  say "/etc/containerd/config.toml exists: it must import /etc/containerd/conf.d/*.toml"
fi
"$tools/containerd" --log-level warn >"$work/containerd.log" 2>&1 &
cd_pid=$!
sock=/run/containerd/containerd.sock
for _ in $(seq 1 100); do
  [ -S "$sock" ] && break
  kill -0 "$cd_pid" 2>/dev/null || { cat "$work/containerd.log"; say "FAILED: containerd exited"; exit 1; }
  sleep 0.2
done
ctr=("$tools/ctr" --address "$sock")

go run ./test/mkimage -o "$work/busybox.tar" >/dev/null
"${ctr[@]}" images import "$work/busybox.tar" >/dev/null
host="$(uname -r)"

# On the host kernel: the shim records the runc it drives in the bundle.
"${ctr[@]}" run -d --runtime io.containerd.winctr.v1 local/busybox:latest package-host sleep 600 >/dev/null
state="/run/containerd/io.containerd.runtime.v2.task/default/package-host/winctr-runc.json"
used="$(cat "$state" 2>/dev/null || true)"
seen="$("${ctr[@]}" task exec --exec-id k package-host uname -r)"
"${ctr[@]}" task kill -s KILL package-host >/dev/null
for _ in $(seq 1 50); do
  "${ctr[@]}" task delete package-host >/dev/null 2>&1 && break
  sleep 0.2
done
"${ctr[@]}" container rm package-host >/dev/null
say "a host-kernel container saw kernel $seen; the shim's runc: $used"
case "$used" in
  *'"/usr/libexec/winctr/runc"'*) ;;
  *) say "FAILED: the host-kernel container did not run with the package's runc"; exit 1 ;;
esac
[ "$seen" = "$host" ] || { say "FAILED: the host-kernel container saw kernel $seen"; exit 1; }

guest="$("${ctr[@]}" run --rm --runtime io.containerd.winctr.v1 \
  --runtime-config-path /etc/winctr/vm.toml local/busybox:latest package-check uname -r)"
say "host kernel $host; the container's kernel $guest"
if [ -z "$guest" ] || [ "$guest" = "$host" ]; then
  cat "$work/containerd.log"
  say "FAILED: the container did not run in a VM of the package's"
  exit 1
fi
say "a VM container through the installed package: ok"
