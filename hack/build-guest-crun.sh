#!/usr/bin/env bash
# Builds the utility VM's OCI runtime: Debian's crun (the source package of
# the crun installed here, with Debian's patches), statically linked and
# without systemd, CRIU and libgcrypt, into the path given as $1.
#
# Why: Debian's crun loads ten shared libraries (libsystemd and what it
# pulls in). Under TCG the guest spent 90-180 ms in the dynamic loader for
# every crun command, against 20 ms for this static one; a container's
# create and start run two. The guest has no systemd, so nothing is lost.
# yajl is Debian's (libyajl-dev, with Debian's fixes, as Debian's crun
# links it): the yajl embedded in crun's source is not on the include path
# of crun's own objects, and a fresh machine has no other. Debian ships its
# static archive as libyajl_s.a, which no -lyajl finds, so configure is
# handed the archive itself.
# Needs root (apt-get); idempotent.
set -euo pipefail

out="$1"
want="$(dpkg-query -W -f='${Version}' crun 2>/dev/null || true)"
if [ -z "$want" ]; then
  echo "build-guest-crun: Debian's crun package is not installed" >&2
  exit 1
fi
# The source files are named without the version's epoch, if it has one.
noepoch="${want#*:}"
upstream="${noepoch%%-*}"
# The version is read whole, then matched: grep -q would stop reading at
# the match and, under pipefail, crun's SIGPIPE would fail the test.
have="$("$out" --version 2>/dev/null || true)"
if [ "${have%%$'\n'*}" = "crun version ${upstream}" ] \
  && [ -f "$out.debian-version" ] && [ "$(cat "$out.debian-version")" = "$want" ]; then
  echo "build-guest-crun: $out is Debian's crun $want, static: up to date"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# python3: libocispec generates its JSON parsers with it; file: libtool's
# configure probes libraries with it.
. "$(dirname "$0")/apt-missing.sh"
apt_missing build-guest-crun "to compile crun" gcc make pkg-config libc6-dev libseccomp-dev libcap-dev libyajl-dev python3 file xz-utils patch
echo "build-guest-crun: building a static crun $want for the utility VM (a few minutes, once)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The source index of Debian's own archive, in a list of our own: the
# system's apt configuration is left as it is.
. /etc/os-release
codename="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"
cat >"$work/sources.list" <<EOF
deb-src http://deb.debian.org/debian $codename main
deb-src http://deb.debian.org/debian $codename-updates main
deb-src http://deb.debian.org/debian-security $codename-security main
EOF
mkdir -p "$work/lists/partial"
apt_src=(-o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
apt-get -qq "${apt_src[@]}" update
(cd "$work" && apt-get -qq "${apt_src[@]}" source --download-only "crun=$want" </dev/null)

src="$work/crun-$upstream"
tar -xf "$work/crun_${upstream}.orig.tar.xz" -C "$work"
tar -xf "$work/crun_${noepoch}.debian.tar.xz" -C "$src"
if [ -f "$src/debian/patches/series" ]; then
  while read -r p; do
    case "$p" in ''|'#'*) continue ;; esac
    patch -s -p1 -d "$src" <"$src/debian/patches/$p"
  done <"$src/debian/patches/series"
fi
# Chained with &&: left of || the subshell ignores set -e, and the later
# steps' errors would bury the first one.
(
  cd "$src" &&
    # libgcrypt only caches compiled seccomp filters; without the search
    # result configure would link it, and a static link needs it whole.
    ./configure -q --disable-systemd --disable-criu --disable-shared \
      ac_cv_search_gcry_check_version=no \
      ac_cv_search_yajl_tree_get="$(gcc -print-file-name=libyajl_s.a)" &&
    make -s git-version.h &&
    make -s -j"$(nproc)" -C libocispec &&
    make -s -j"$(nproc)" LDFLAGS=-all-static crun
) >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }
# A link that silently went dynamic (a library with no static archive)
# would still run in the guest, and pay the loader's cost again there.
if readelf -l "$src/crun" | grep 'Requesting program interpreter' >/dev/null; then
  echo "build-guest-crun: $src/crun is dynamically linked" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
strip -o "$out.tmp" "$src/crun"
mv "$out.tmp" "$out"
echo "$want" >"$out.debian-version"
"$out" --version | head -1
