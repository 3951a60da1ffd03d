#!/usr/bin/env bash
# Builds the utility VM's kernel: Debian's linux source package (with
# Debian's patches) configured by hack/guest-kernel/config on top of
# allnoconfig, most drivers built in. Installs, under the directory given
# as $1, boot/vmlinuz-<release> and lib/modules/<release> (the few modules
# left), and writes the release to $1/release; cmd/winctr-bootfiles takes
# them with -kernel-root and -kernel-release.
#
# Why: Debian's cloud kernel is built for any cloud machine. Under TCG its
# initcalls take most of a second of a VM's boot, and the guest loads a
# dozen modules one after another; the guest needs a small fixed set of
# drivers, known at build time.
#
# The unpacked source is cached in $1/src-<version> and the build tree in
# $1/build; a second run with the same source, config and script does
# nothing, also when only the result ($1/root, release, stamp) is there.
# Needs root for apt-get when build tools are missing.
set -euo pipefail

out="$(mkdir -p "$1" && cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
config="$here/guest-kernel/config"
jobs="${JOBS:-$(nproc)}"

# The source index of Debian's own archive, in a list of our own: the
# system's apt configuration is left as it is.
. /etc/os-release
codename="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"
apt_dir="$out/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/dl"
cat >"$apt_dir/sources.list" <<LIST
deb-src http://deb.debian.org/debian $codename main
deb-src http://deb.debian.org/debian $codename-updates main
deb-src http://deb.debian.org/debian-security $codename-security main
LIST
apt_src=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$apt_dir/lists" -o APT::Sandbox::User=root)

# The version: GUEST_KERNEL_VERSION; else the one last built here (also a
# build kept without its source, as the clean-root check leaves one); else
# one already unpacked (offline rebuilds); else the newest the archive serves.
version="${GUEST_KERNEL_VERSION:-}"
if [ -z "$version" ] && [ -f "$out/stamp" ] && [ -f "$out/release" ]; then
  version="$(cut -d' ' -f1 "$out/stamp")"
fi
if [ -z "$version" ]; then
  for d in "$out"/src-*/; do
    [ -f "$d/.unpacked" ] && version="$(basename "$d")" && version="${version#src-}"
  done
fi
# What the build depends on: the source's version, the config and this
# script. A build whose stamp matches is used as it is.
stamp_of() { echo "$1 $(cat "$config" "$0" | sha256sum | cut -d' ' -f1)"; }
if [ -n "$version" ] && [ -f "$out/release" ] && [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$(stamp_of "$version")" ]; then
  exit 0
fi
# A rebuild of a version whose source is gone takes the newest instead:
# the archive may no longer serve it.
if [ -z "${GUEST_KERNEL_VERSION:-}" ] && [ -n "$version" ] && [ ! -f "$out/src-$version/.unpacked" ]; then
  version=""
fi

# lz4 compresses the kernel (the config's KERNEL_LZ4), kmod has the
# depmod that modules_install runs: a minimal Debian has neither.
. "$here/apt-missing.sh"
apt_missing build-guest-kernel "the kernel's build tools" gcc make bc flex bison libelf-dev dpkg-dev xz-utils kmod lz4

if [ -z "$version" ] || [ ! -f "$out/src-$version/.unpacked" ]; then
  apt-get -qq "${apt_src[@]}" update
  if [ -z "$version" ]; then
    candidates="$(apt-cache "${apt_src[@]}" showsrc linux | sed -n 's/^Version: //p' | sort -Vru)"
  else
    candidates="$version"
  fi
  # The security archive's index can list versions its pool does not
  # serve through every mirror: take the newest one that downloads.
  for v in $candidates; do
    if (cd "$apt_dir/dl" && apt-get -qq "${apt_src[@]}" source --download-only "linux=$v" </dev/null) >/dev/null 2>&1; then
      version="$v"
      break
    fi
    version=""
  done
  [ -n "$version" ] || { echo "build-guest-kernel: no linux source package downloads" >&2; exit 1; }
  src="$out/src-$version"
  rm -rf "$src"
  echo "build-guest-kernel: unpacking linux $version"
  dpkg-source --no-check -x "$apt_dir/dl/linux_$version.dsc" "$src" >"$out/unpack.log" 2>&1 \
    || { tail -20 "$out/unpack.log" >&2; exit 1; }
  touch "$src/.unpacked"
  rm -f "$apt_dir"/dl/*
fi
src="$out/src-$version"

stamp="$(stamp_of "$version")"
echo "build-guest-kernel: building linux $version for the utility VM ($jobs jobs)"
# Whatever step fails, its output is in the build log, not on the terminal.
trap 'echo "build-guest-kernel: failed; the end of $out/build.log:" >&2; tail -20 "$out/build.log" >&2' ERR
start=$(date +%s)
build="$out/build"
mkdir -p "$build"
# Reproducible: the build's user, host and time are fixed.
export KBUILD_BUILD_USER=winctr KBUILD_BUILD_HOST=winctr
KBUILD_BUILD_TIMESTAMP="$(dpkg-parsechangelog -l "$src/debian/changelog" -S Date)"
export KBUILD_BUILD_TIMESTAMP
kmake=(make -s -C "$src" O="$build" ARCH=x86_64)
# Each step checks its own status: set -e does not reach into a subshell
# whose status is tested.
(
  "${kmake[@]}" KCONFIG_ALLCONFIG="$config" allnoconfig || exit 1
  # Every option the config sets must have survived allnoconfig's
  # dependency resolution: a dropped one is a driver the guest lacks.
  missing=0
  while IFS= read -r line; do
    case "$line" in CONFIG_*=*) ;; *) continue ;; esac
    opt="${line%%=*}" val="${line#*=}"
    if [ "$val" = n ]; then
      grep -q "^$opt=" "$build/.config" && { echo "build-guest-kernel: $opt is set, wanted off" >&2; missing=1; }
    elif ! grep -qx "$opt=$val" "$build/.config"; then
      echo "build-guest-kernel: $opt=$val did not survive allnoconfig (a dependency is off)" >&2
      missing=1
    fi
  done <"$config"
  [ "$missing" = 0 ] || exit 1
  "${kmake[@]}" -j"$jobs" bzImage modules
) >"$out/build.log" 2>&1 || { grep -m20 -E 'build-guest-kernel|error' "$out/build.log" >&2; tail -20 "$out/build.log" >&2; exit 1; }
release="$("${kmake[@]}" kernelrelease)"
rm -rf "$out/root"
mkdir -p "$out/root/boot"
"${kmake[@]}" INSTALL_MOD_PATH="$out/root" INSTALL_MOD_STRIP=1 DEPMOD=/sbin/depmod modules_install >>"$out/build.log" 2>&1
cp "$build/arch/x86/boot/bzImage" "$out/root/boot/vmlinuz-$release"
cp "$build/.config" "$out/root/boot/config-$release"
echo "$release" >"$out/release"
echo "$stamp" >"$out/stamp"
echo "build-guest-kernel: $release in $(( $(date +%s) - start )) s"
