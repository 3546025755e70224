#!/usr/bin/env bash
# Puts the Godot release the tests run at .tools/bin/godot: Debian's `godot` package (the
# engine's stable release) with every library it loads, from Debian's development suite "sid",
# unpacked (never installed) into a cache folder and started through that folder's own dynamic
# loader, since the engine needs sid's newer glibc.
#
#   scripts/engine/godot.sh            fetch the pinned packages (scripts/engine/pins), checked
#                                      against their sha256, unpack them and write the wrapper;
#                                      prints the wrapper's path
#   scripts/engine/godot.sh resolve    rewrite the pins from sid's index as it is today
#   scripts/engine/godot.sh deb NAME VERSION POOL SHA256
#                                      fetch one pinned package (or the version sid has now, as
#                                      below); prints the .deb's path
#
# sid moves on and its pool keeps only current versions: a pinned package that has left it is
# replaced by the version sid has now, with a warning and the command that updates the pins.
#
#   MWAV1_STACK_CACHE  where downloads and the unpacked engine live (default: ~/.cache/movie-writer-av1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
pins=$here/pins
cache=${MWAV1_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/movie-writer-av1}
downloads=$cache/downloads
wrapper=$repo/.tools/bin/godot
# The engine, and what it loads without declaring it: Mesa's OpenGL (llvmpipe) and Vulkan
# (lavapipe) drivers and the GL dispatch libraries (libglvnd) the engine opens at run time.
ROOTS=(godot libgl1-mesa-dri libegl-mesa0 libglx-mesa0 mesa-vulkan-drivers libvulkan1
  libglvnd0 libgl1 libegl1 libglx0 libopengl0 libgles2)

log() { echo "godot: $*" >&2; }

# shellcheck source=../stack/fetch.sh
. "$repo/scripts/stack/fetch.sh"

# A private apt state for sid, beside the machine's own (which it never touches). The mirror's
# sid Release file may have expired: sid is fetched by version and sha256, so its date is moot.
sid_apt() {
  local dir=$cache/apt-sid mirror
  mirror=$(apt_mirrors | sed -n 1p || true)
  [ -n "$mirror" ] || { log "no Debian mirror in this machine's apt sources"; exit 1; }
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main" >"$dir/sources.list"
  touch "$dir/status"
  APT_OPTS=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$dir/lists" -o "Dir::State::status=$dir/status" -o "Dir::Cache=$dir/cache"
    -o Acquire::Check-Valid-Until=false -o APT::Architecture=amd64 -o APT::Architectures=amd64
    -o Debug::NoLocking=true -o APT::Sandbox::User=root)
  if [ -z "${SID_UPDATED:-}" ]; then
    apt-get "${APT_OPTS[@]}" update -qq >/dev/null || { log "apt-get update of sid failed"; exit 1; }
    SID_UPDATED=1
  fi
}

# "name version pool-path sha256" for each package sid has now (or the closure of ROOTS).
sid_lines() {
  sid_apt
  local names
  names=$(apt-get "${APT_OPTS[@]}" install --print-uris -qq --no-install-recommends "$@" \
    | awk '{print $2}' | sed 's/_.*//')
  # shellcheck disable=SC2086 # one name a word
  apt-cache "${APT_OPTS[@]}" show --no-all-versions $names \
    | awk '/^Package:/ {p=$2} /^Version:/ {v=$2} /^Filename:/ {f=$2} /^SHA256:/ {print p, v, substr(f, 11), $2}'
}

resolve() {
  {
    sed -n '/^#/p' "$pins"
    sid_lines "${ROOTS[@]}" | sort | awk '{printf "%-26s %-26s %-72s %s\n", $1, $2, $3, $4}'
  } >"$pins.part"
  mv "$pins.part" "$pins"
  log "$(grep -vc '^#' "$pins") packages pinned in $pins (godot $(awk '$1 == "godot" {print $2}' "$pins"))"
}

# The pinned package, or the version sid has now if the pinned one has left the pool.
fetch_pinned() { # name version pool sha256
  local pinned=$2
  mkdir -p "$downloads"
  if (fetch_source "$@") 2>/dev/null; then echo "$downloads/$(basename "$3")"; return; fi
  local now
  now=$(sid_lines "$1" 2>/dev/null | awk -v n="$1" '$1 == n' || true)
  [ -n "$now" ] || { log "$1 $2 is not in sid any more, and sid has no $1"; exit 1; }
  # shellcheck disable=SC2086 # four fields
  set -- $now
  log "WARNING: $1 $pinned has left sid; using $2 (update the pins: scripts/engine/godot.sh resolve)"
  fetch_source "$@"
  echo "$downloads/$(basename "$3")"
}

fetch() {
  local key root
  key=$(grep -v '^#' "$pins" | sha256sum | cut -c1-16)
  root=$cache/godot-$key
  if [ ! -f "$root/.complete" ]; then
    mkdir -p "$downloads"
    rm -rf "$root"
    mkdir -p "$root"
    log "fetching the engine and $(($(grep -vc '^#' "$pins") - 1)) packages it loads (sid, pinned; about 180 MB once)"
    local name version pool sha deb
    while read -r name version pool sha; do
      deb=$(fetch_pinned "$name" "$version" "$pool" "$sha")
      dpkg-deb -x "$deb" "$root"
    done < <(grep -v '^#' "$pins")
    # Vulkan's driver manifests name their library by absolute path: point them into the root.
    for icd in "$root"/usr/share/vulkan/icd.d/*.json; do
      sed -i "s|\"/usr/lib/|\"$root/usr/lib/|" "$icd"
    done
    touch "$root/.complete"
  fi
  local lib=$root/usr/lib/x86_64-linux-gnu
  mkdir -p "$(dirname "$wrapper")"
  cat >"$wrapper.part" <<WRAP
#!/bin/sh
# Written by scripts/engine/godot.sh: Debian's Godot release, started through the dynamic loader
# of the folder it was unpacked into (it needs a newer glibc than the machine's).
export LIBGL_DRIVERS_PATH=$lib/dri
export __EGL_VENDOR_LIBRARY_DIRS=$root/usr/share/glvnd/egl_vendor.d
export VK_DRIVER_FILES=\$(echo $root/usr/share/vulkan/icd.d/lvp_icd*.json)
exec $lib/ld-linux-x86-64.so.2 --library-path $lib:$lib/pulseaudio $root/usr/bin/godot "\$@"
WRAP
  chmod +x "$wrapper.part"
  mv "$wrapper.part" "$wrapper"
  # A broken unpack shows here, at set-up, rather than as failed engine tests.
  local version
  version=$("$wrapper" --headless --version 2>/dev/null | tail -1) ||
    { log "$wrapper does not run: $("$wrapper" --headless --version 2>&1 | tail -3)"; exit 1; }
  log "Godot $version at $wrapper"
  echo "$wrapper"
}

case "${1:-fetch}" in
  fetch) fetch ;;
  resolve) resolve ;;
  deb) [ $# -eq 5 ] || { echo "usage: $0 deb NAME VERSION POOL SHA256"; exit 2; }
       shift; fetch_pinned "$@" ;;
  *) echo "usage: $0 [fetch|resolve|deb NAME VERSION POOL SHA256]"; exit 2 ;;
esac
