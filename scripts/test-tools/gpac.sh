#!/usr/bin/env bash
# Puts MP4Box (gpac), which the MP4 checks of the test suite run, at .tools/bin/MP4Box.
#
# Debian 12 has no gpac package, so the pinned bullseye packages (gpac.pins) are downloaded from
# the Debian mirrors in this machine's apt sources (no host is written into the repo), checked
# against their sha256 and unpacked, never installed, into a cache folder keyed by the pins. The
# wrapper points the dynamic loader at that folder. A second run with the same pins downloads and
# unpacks nothing.
#
#   MWAV1_STACK_CACHE  where downloads and the unpacked tree live (default: ~/.cache/movie-writer-av1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
pins=$here/gpac.pins
cache=${MWAV1_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/movie-writer-av1}
downloads=$cache/downloads
root=$cache/gpac-$(sha256sum "$pins" | cut -c1-16)
wrapper=$repo/.tools/bin/MP4Box

log() { echo "gpac: $*" >&2; }

# The archive's mirrors and the checked download, as the encoder stack fetches them: the pool is
# shared by every suite, so any Debian mirror this machine uses also serves bullseye's packages.
# The unpacked tree depends only on the pinned files' sha256, so the key stays the pins' hash.
# shellcheck source=../stack/fetch.sh
. "$repo/scripts/stack/fetch.sh"

if [ ! -f "$root/.complete" ]; then
  mkdir -p "$downloads"
  rm -rf "$root"
  mkdir -p "$root"
  while read -r name version pool sha; do
    case "$name" in '' | '#'*) continue ;; esac
    fetch_source "$name" "$version" "$pool" "$sha"
    dpkg-deb -x "$downloads/$(basename "$pool")" "$root"
  done <"$pins"
  touch "$root/.complete"
fi

mkdir -p "$(dirname "$wrapper")"
cat >"$wrapper.part" <<EOF
#!/bin/sh
# Written by scripts/test-tools/gpac.sh: MP4Box from the unpacked bullseye packages.
LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} exec $root/usr/bin/MP4Box "\$@"
EOF
chmod +x "$wrapper.part"
mv "$wrapper.part" "$wrapper"
# A library missing on this machine shows here, at set-up, rather than as a failed check.
"$wrapper" -version >/dev/null 2>&1 || { log "$wrapper does not run: $("$wrapper" -version 2>&1 | head -3)"; exit 1; }
