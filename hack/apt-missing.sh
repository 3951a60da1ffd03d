# Sourced by the build scripts. apt_missing WHO WHY PKG...: installs those
# of the Debian packages PKG that are not installed, one line each in
# install-deps' form ("WHO: apt: PKG: WHY"), so that the clean-root check
# sees any install on a second run. Needs root when one is missing.
apt_missing() {
  local who="$1" why="$2" pkg missing=()
  shift 2
  for pkg in "$@"; do
    if ! dpkg -s "$pkg" >/dev/null 2>&1; then
      echo "$who: apt: $pkg: $why"
      missing+=("$pkg")
    fi
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}
