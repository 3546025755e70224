#!/usr/bin/env bash
# Writes the licence texts of the statically linked libraries into DEST/licenses/ and a
# THIRD_PARTY_NOTICES.txt into DEST that says what is inside and where its exact sources are.
# The texts come from the pinned source tarballs themselves (scripts/stack/pins).
#
#   notice.sh DEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=$1
downloads=${MWAV1_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/movie-writer-av1}/downloads
mkdir -p "$dest/licenses"

tarball() { echo "$downloads/$(basename "$(awk -v n="$1" '$1 == "source" && $2 == n {print $4}' "$here/pins")")"; }
from_tar() { # name member-suffix out
  local t
  t=$(tarball "$1")
  tar -xOf "$t" --wildcards "*/$2" >"$dest/licenses/$3"
}
from_tar ffmpeg COPYING.LGPLv2.1 ffmpeg-LGPL-2.1.txt
from_tar ffmpeg LICENSE.md ffmpeg-LICENSE.md
from_tar svt-av1 LICENSE.md svt-av1-LICENSE.md
from_tar svt-av1 PATENTS.md svt-av1-PATENTS.md
from_tar aom LICENSE aom-LICENSE.txt
from_tar aom PATENTS aom-PATENTS.txt
# nv-codec-headers carries its MIT licence in each header's opening comment.
tar -xOf "$(tarball nv-codec-headers)" --wildcards '*/include/ffnvcodec/nvEncodeAPI.h' |
  sed -n '1,/\*\//p' >"$dest/licenses/nv-codec-headers-MIT.txt"
opus=$(ls -d "$HOME"/.cargo/registry/src/*/audiopus_sys-*/opus 2>/dev/null | sort | tail -1)
[ -n "$opus" ] || { echo "notice.sh: the bundled libopus sources (audiopus_sys) are not in the cargo registry" >&2; exit 1; }
cp "$opus/COPYING" "$dest/licenses/opus-COPYING.txt"

{
  cat <<'EOF'
MovieWriterAV1 third-party notices
==================================

Each library in bin/ is MovieWriterAV1 (MIT, see LICENSE.txt) statically linked with the
libraries below. Their licence texts are in licenses/.

EOF
  printf '%-18s %-10s %-32s %s\n' library version licence "source (Debian source archive, pool/main/...)"
  grep -v '^#' "$here/pins" | awk '$1 == "source"' | while read -r _ name version pool sha; do
    case $name in
      ffmpeg) lic="LGPL-2.1-or-later" ;;
      svt-av1) lic="BSD-3-Clause-Clear + AOM patent" ;;
      aom) lic="BSD-2-Clause + AOM patent" ;;
      nv-codec-headers) lic="MIT" ;;
      *) lic="see licenses/" ;;
    esac
    printf '%-18s %-10s %-32s %s\n' "$name" "$version" "$lic" "$pool"
    printf '%-18s %-10s %-32s sha256 %s\n' "" "" "" "$sha"
  done
  printf '%-18s %-10s %-32s %s\n' libopus "bundled" \
    "BSD-3-Clause" "crates.io: $(basename "$(dirname "$opus")") (its opus/ folder)"
  cat <<'EOF'

FFmpeg is built as LGPL (no GPL or non-free parts) with only these components: the encoders
libsvtav1, libaom_av1, av1_nvenc, av1_vaapi, av1_qsv and aac, the mp4/mov muxers and the file
protocol. NVENC/CUDA, libva and libvpl are not linked: they are loaded at run time where the
machine has them. The Windows and macOS libraries leave out what their OS lacks (VA-API and QSV;
on macOS NVENC too) and link no Apple framework. The exact configure lines are in
scripts/stack/build.sh (Linux), windows.sh and macos.sh of the MovieWriterAV1 repository, which
also download and check these tarballs (scripts/stack/fetch.sh).

Relinking (LGPL-2.1 section 6): the complete source of MovieWriterAV1 is public under the MIT
licence. To use a modified FFmpeg, change scripts/stack/pins or scripts/stack/build.sh to build
your version and run `./dev package`; the library is then relinked against it.
EOF
} >"$dest/THIRD_PARTY_NOTICES.txt"
