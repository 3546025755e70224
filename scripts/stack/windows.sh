#!/usr/bin/env bash
# Builds the pinned encoder stack (scripts/stack/pins) for 64-bit Windows (x86_64-windows-gnu),
# cross-compiled here with `zig cc`, which ships the mingw-w64 headers and import libraries.
# Like scripts/stack/build.sh (the Linux stack), the result goes into a cache folder keyed by the
# hash of its inputs, a failed run resumes at the component that failed, and the prefix is the
# last line on stdout.
#
# The same components as the Linux build, minus the ones that only exist there:
#   - SVT-AV1 and libaom, static, encoder only;
#   - FFmpeg, static, LGPL: libsvtav1, libaom_av1, av1_nvenc (FFmpeg loads nvcuda.dll and
#     nvEncodeAPI64.dll at run time, through nv-codec-headers), aac, the mp4/mov muxers, the mov
#     demuxer and the file protocol;
#   - no av1_vaapi: VA-API is Linux's;
#   - no av1_qsv: on Windows it needs oneVPL's dispatcher built from source for mingw (Debian ships
#     only its headers and a Linux .so) and FFmpeg's D3D11 device code; not built yet.
# Threads are Win32 threads (FFmpeg's w32threads; SVT-AV1 and libaom use Win32 on _WIN32), so the
# result needs no winpthread DLL.
#
#   ZIG=/path/to/zig scripts/stack/windows.sh
#   MWAV1_STACK_CACHE  where prefixes live (default: ~/.cache/movie-writer-av1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ZIG:?set ZIG to the zig binary (./dev does)}"
cache=${MWAV1_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/movie-writer-av1}
target=x86_64-windows-gnu

key=$( { cat "$here/pins" "$here/windows.sh" "$here/fetch.sh" "$here/steps.sh"; "$ZIG" version; echo "$target"; } |
  sha256sum | cut -c1-16)
prefix=$cache/stack-windows-$key
if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

log() { echo "stack (windows): $*" >&2; }
jobs=$(nproc)
downloads=$cache/downloads
work=$cache/work-windows-$key
mkdir -p "$downloads" "$work/bin" "$work/src" "$prefix/lib/pkgconfig"
sys=$work/sys

# shellcheck source=fetch.sh
. "$here/fetch.sh"
# shellcheck source=steps.sh
. "$here/steps.sh"
# The sources and the host's nasm only: libva and libvpl are Linux's.
fetch_pins nasm

# --- zig as the C toolchain, for Windows ----------------------------------------------------
zig_toolchain "$target"
export PATH=$work/bin:$sys/usr/bin:$PATH
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig
unset PKG_CONFIG_PATH
cmake_common=(-G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix"
  -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_SYSTEM_PROCESSOR=AMD64
  -DCMAKE_C_COMPILER="$work/bin/cc" -DCMAKE_CXX_COMPILER="$work/bin/c++"
  -DCMAKE_AR="$work/bin/ar" -DCMAKE_RANLIB="$work/bin/ranlib" -DBUILD_SHARED_LIBS=OFF
  -DCMAKE_ASM_NASM_COMPILER="$sys/usr/bin/nasm"
  # configure checks compile without linking: zig builds the mingw-w64 C runtime again for each
  # set of -m flags a link names (a minute each here), and nothing built here is an executable.
  -DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY)

# SVT-AV1's default log level becomes "error", as on Linux (see scripts/stack/steps.sh).
quiet_svt_log

if ! built svt-av1; then
log "building SVT-AV1 (static, no apps, no LTO)"
quietly svt-av1-configure cmake -S "$work/src/svt-av1" -B "$work/build-svt" "${cmake_common[@]}" \
  -DBUILD_APPS=OFF -DBUILD_TESTING=OFF -DSVT_AV1_LTO=OFF -DBUILD_DEC=OFF \
  `# clang 18+ wants -mevex512 for 512-bit intrinsics, which SVT-AV1 2.3 predates` \
  -DCMAKE_C_FLAGS=-mevex512
quietly svt-av1 cmake --build "$work/build-svt" -j "$jobs" --target install
mark svt-av1
fi

if ! built aom; then
log "building libaom (static, encoder only, real-time only)"
quietly aom-configure cmake -S "$work/src/aom" -B "$work/build-aom" "${cmake_common[@]}" \
  -DENABLE_DOCS=0 -DENABLE_EXAMPLES=0 -DENABLE_TESTS=0 -DENABLE_TESTDATA=0 -DENABLE_TOOLS=0 \
  -DCONFIG_AV1_DECODER=0 -DCONFIG_REALTIME_ONLY=1 -DCONFIG_TUNE_VMAF=0 -DCONFIG_TUNE_BUTTERAUGLI=0 \
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
  --target-os=mingw32 --arch=x86_64 --enable-cross-compile \
  --pkg-config=pkg-config --pkg-config-flags=--static \
  `# no --disable-debug: with it, configure links every test with -Wl,--pic-executable, which` \
  `# zig's linker refuses; the shipped DLL is stripped in any case` \
  --enable-static --disable-shared --disable-programs --disable-doc \
  --disable-autodetect --enable-w32threads --disable-network --disable-everything \
  --disable-avdevice --disable-avfilter --disable-swscale --disable-swresample \
  --enable-libsvtav1 --enable-encoder=libsvtav1 \
  --enable-libaom --enable-encoder=libaom_av1 \
  --enable-ffnvcodec --enable-cuda --enable-nvenc --enable-encoder=av1_nvenc \
  --enable-encoder=aac --enable-muxer=mp4 --enable-muxer=mov --enable-protocol=file \
  --enable-demuxer=mov
quietly ffmpeg make -j "$jobs"
quietly ffmpeg-install make install
mark ffmpeg
fi

touch "$prefix/.complete"
rm -rf "$work"
echo "$prefix"
