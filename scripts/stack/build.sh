#!/usr/bin/env bash
# Builds the pinned encoder stack (scripts/stack/pins) into a cache folder keyed by the hash of
# its inputs, and prints that folder (the prefix) as the last line on stdout.
#
# Everything is compiled with `zig cc` for glibc 2.28, the floor of the official Godot Linux
# builds, so that no object asks for a newer symbol (glibc >= 2.33 headers turn stat() into a
# symbol that 2.28 lacks, for example). A second run with the same inputs builds nothing, and a
# run after a failure resumes at the component that failed.
#
#   ZIG=/path/to/zig scripts/stack/build.sh
#   MWAV1_STACK_CACHE  where prefixes live (default: ~/.cache/movie-writer-av1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ZIG:?set ZIG to the zig binary (./dev does)}"
cache=${MWAV1_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/movie-writer-av1}
glibc=2.28

key=$( { cat "$here/pins" "$here/build.sh" "$here/fetch.sh" "$here/steps.sh" "$here/dlshim.sh"; "$ZIG" version; echo "$glibc"; } |
  sha256sum | cut -c1-16)
prefix=$cache/stack-$key
if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

log() { echo "stack: $*" >&2; }
jobs=$(nproc)
downloads=$cache/downloads
work=$cache/work-$key
mkdir -p "$downloads" "$work/bin" "$work/src" "$prefix/lib/pkgconfig"
sys=$work/sys

# shellcheck source=fetch.sh
. "$here/fetch.sh"
# shellcheck source=steps.sh
. "$here/steps.sh"
fetch_pins '*'

# The unpacked .pc files say prefix=/usr; point them at the unpacked tree.
sed -i "s:^prefix=/usr:prefix=$sys/usr:" "$sys"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc
ln -sf libva.so.2 "$sys/usr/lib/x86_64-linux-gnu/libva.so"
ln -sf libva-drm.so.2 "$sys/usr/lib/x86_64-linux-gnu/libva-drm.so"
ln -sf libvpl.so.2 "$sys/usr/lib/x86_64-linux-gnu/libvpl.so"

# --- zig as the C toolchain, for glibc 2.28 ---------------------------------------------------
zig_toolchain "x86_64-linux-gnu.$glibc"
export PATH=$work/bin:$sys/usr/bin:$PATH
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig:$sys/usr/lib/x86_64-linux-gnu/pkgconfig
unset PKG_CONFIG_PATH
cmake_common=(-G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix"
  -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_C_COMPILER="$work/bin/cc" -DCMAKE_CXX_COMPILER="$work/bin/c++"
  -DCMAKE_AR="$work/bin/ar" -DCMAKE_RANLIB="$work/bin/ranlib" -DBUILD_SHARED_LIBS=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_ASM_NASM_COMPILER="$sys/usr/bin/nasm")

quiet_svt_log

if ! built svt-av1; then
log "building SVT-AV1 (static, PIC, no apps, no LTO)"
quietly svt-av1-configure cmake -S "$work/src/svt-av1" -B "$work/build-svt" "${cmake_common[@]}" \
  -DBUILD_APPS=OFF -DBUILD_TESTING=OFF -DSVT_AV1_LTO=OFF -DBUILD_DEC=OFF \
  `# clang 18+ wants -mevex512 for 512-bit intrinsics, which SVT-AV1 2.3 predates; it has no` \
  `# effect where AVX-512 itself is off, so it is safe for every file` \
  -DCMAKE_C_FLAGS=-mevex512
quietly svt-av1 cmake --build "$work/build-svt" -j "$jobs" --target install
mark svt-av1
fi

if ! built aom; then
log "building libaom (static, PIC, real-time only encoder: used for odd and tiny sizes; decoder: the farm's chunk check)"
quietly aom-configure cmake -S "$work/src/aom" -B "$work/build-aom" "${cmake_common[@]}" \
  -DENABLE_DOCS=0 -DENABLE_EXAMPLES=0 -DENABLE_TESTS=0 -DENABLE_TESTDATA=0 -DENABLE_TOOLS=0 \
  -DCONFIG_AV1_DECODER=1 -DCONFIG_REALTIME_ONLY=1 -DCONFIG_TUNE_VMAF=0 -DCONFIG_TUNE_BUTTERAUGLI=0 \
  -DAOM_TARGET_CPU=x86_64
quietly aom cmake --build "$work/build-aom" -j "$jobs" --target install
mark aom
fi

log "installing nv-codec-headers (NVENC is loaded at run time by FFmpeg)"
quietly nv-codec-headers make -C "$work/src/nv-codec-headers" PREFIX="$prefix" install

if ! built ffmpeg; then
log "building FFmpeg (static, LGPL, only the encoders and muxers we use)"
cd "$work/src/ffmpeg"
quietly ffmpeg-configure ./configure --prefix="$prefix" --cc="$work/bin/cc" --cxx="$work/bin/c++" \
  --ar="$work/bin/ar" --ranlib="$work/bin/ranlib" --x86asmexe="$sys/usr/bin/nasm" \
  --pkg-config=pkg-config --pkg-config-flags=--static \
  `# configure links test programs against libva/libvpl, which ask for glibc 2.34 symbols` \
  --extra-ldflags=-Wl,--allow-shlib-undefined \
  --enable-static --disable-shared --enable-pic --disable-programs --disable-doc --disable-debug \
  --disable-autodetect --enable-pthreads --disable-network --disable-everything \
  --disable-avdevice --disable-avfilter --disable-swscale --disable-swresample \
  --enable-libsvtav1 --enable-encoder=libsvtav1 \
  --enable-libaom --enable-encoder=libaom_av1 \
  --enable-ffnvcodec --enable-cuda --enable-nvenc --enable-encoder=av1_nvenc \
  --enable-vaapi --enable-encoder=av1_vaapi \
  --enable-libvpl --enable-encoder=av1_qsv \
  --enable-encoder=aac --enable-muxer=mp4 --enable-muxer=mov --enable-protocol=file \
  `# reads the fragmented recording back when write_end turns it into one moov` \
  --enable-demuxer=mov \
  `# the render farm reads chunks back (Matroska) and decodes every frame to check it` \
  --enable-demuxer=matroska --enable-decoder=libaom_av1
# configure finds sysctl() by linking, but zig's glibc headers, like glibc >= 2.32's, have no
# sys/sysctl.h (the call is only a fallback for counting CPUs on BSDs).
sed -i 's/^#define HAVE_SYSCTL 1$/#define HAVE_SYSCTL 0/' config.h
quietly ffmpeg make -j "$jobs"
quietly ffmpeg-install make install
mark ffmpeg
fi

log "generating the run-time loader for libva and libvpl"
"$here/dlshim.sh" "$prefix" "$sys" "$work"

touch "$prefix/.complete"
rm -rf "$work"
echo "$prefix"
