#!/usr/bin/env bash
# Builds the pinned encoder stack (scripts/stack/pins) for one macOS architecture, cross-compiled
# here with `zig cc`, which carries the macOS C headers and libSystem's stubs (no Apple SDK is
# needed, so nothing here may ask for a framework). `./dev build-macos` runs it for x86_64 and
# for arm64 and merges the two libraries it links into one universal dylib. Like build.sh (the
# Linux stack), the result goes into a cache folder keyed by the hash of its inputs, a failed run
# resumes at the component that failed, and the prefix is the last line on stdout.
#
# The same components as the Linux build, minus the ones that only exist there:
#   - SVT-AV1 (encoder) and libaom (real-time encoder and decoder), static; NEON on arm64, nasm
#     (macho64) on x86_64;
#   - FFmpeg, static, LGPL: libsvtav1, libaom_av1, aac, the mp4/mov muxers, the mov and matroska
#     demuxers, the libaom AV1 decoder and the file protocol;
#   - no av1_vaapi or av1_qsv (Linux's), no av1_nvenc (NVIDIA has no macOS driver), and none of
#     Apple's frameworks (VideoToolbox, AudioToolbox, CoreImage, AVFoundation, Secure Transport,
#     AppKit, Metal): the library must load with libSystem alone.
# The floors are those of the official Godot 4.6 macOS builds (platform/macos/detect.py):
# macOS 10.13 on x86_64, 11.0 on arm64.
#
#   ZIG=/path/to/zig scripts/stack/macos.sh x86_64|arm64
#   MWAV1_STACK_CACHE  where prefixes live (default: ~/.cache/movie-writer-av1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ZIG:?set ZIG to the zig binary (./dev does)}"
cache=${MWAV1_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/movie-writer-av1}
arch=${1:?usage: macos.sh x86_64|arm64}
case "$arch" in
  x86_64) target=x86_64-macos.10.13 ffarch=x86_64 ;;
  arm64) target=aarch64-macos.11.0 ffarch=aarch64 ;;
  *) echo "macos.sh: unknown architecture $arch (x86_64 or arm64)" >&2; exit 2 ;;
esac

key=$( { cat "$here/pins" "$here/macos.sh" "$here/fetch.sh" "$here/steps.sh"; "$ZIG" version; echo "$target"; } |
  sha256sum | cut -c1-16)
prefix=$cache/stack-macos-$arch-$key
if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

log() { echo "stack (macos $arch): $*" >&2; }
jobs=$(nproc)
downloads=$cache/downloads
work=$cache/work-macos-$arch-$key
mkdir -p "$downloads" "$work/bin" "$work/src" "$prefix/lib/pkgconfig"
sys=$work/sys

# shellcheck source=fetch.sh
. "$here/fetch.sh"
# shellcheck source=steps.sh
. "$here/steps.sh"
# The sources and the host's nasm only: libva and libvpl are Linux's.
fetch_pins nasm

zig_toolchain "$target"
export PATH=$work/bin:$sys/usr/bin:$PATH
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig
unset PKG_CONFIG_PATH
cmake_common=(-G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix"
  -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_SYSTEM_NAME=Darwin -DCMAKE_SYSTEM_PROCESSOR="$arch"
  -DCMAKE_C_COMPILER="$work/bin/cc" -DCMAKE_CXX_COMPILER="$work/bin/c++"
  -DCMAKE_AR="$work/bin/ar" -DCMAKE_RANLIB="$work/bin/ranlib" -DBUILD_SHARED_LIBS=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  # CMake's Darwin platform insists on install_name_tool, which only shared libraries use: nothing
  # built here is one.
  -DCMAKE_INSTALL_NAME_TOOL=true
  # configure checks compile without linking: nothing built here is an executable, and CMake's
  # Darwin link rules assume Apple's linker.
  -DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY)
svt_flags=() ffmpeg_asm=()
if [ "$arch" = x86_64 ]; then
  cmake_common+=(-DCMAKE_ASM_NASM_COMPILER="$sys/usr/bin/nasm")
  # clang 18+ wants -mevex512 for 512-bit intrinsics, which SVT-AV1 2.3 predates
  svt_flags=(-DCMAKE_C_FLAGS=-mevex512)
  ffmpeg_asm=(--x86asmexe="$sys/usr/bin/nasm")
fi

# SVT-AV1's default log level becomes "error", as on Linux (see scripts/stack/steps.sh).
quiet_svt_log

if ! built svt-av1; then
log "building SVT-AV1 (static, PIC, no apps, no LTO)"
quietly svt-av1-configure cmake -S "$work/src/svt-av1" -B "$work/build-svt" "${cmake_common[@]}" \
  -DBUILD_APPS=OFF -DBUILD_TESTING=OFF -DSVT_AV1_LTO=OFF -DBUILD_DEC=OFF "${svt_flags[@]}"
quietly svt-av1 cmake --build "$work/build-svt" -j "$jobs" --target install
mark svt-av1
fi

if ! built aom; then
log "building libaom (static, PIC, real-time-only encoder and decoder)"
quietly aom-configure cmake -S "$work/src/aom" -B "$work/build-aom" "${cmake_common[@]}" \
  -DENABLE_DOCS=0 -DENABLE_EXAMPLES=0 -DENABLE_TESTS=0 -DENABLE_TESTDATA=0 -DENABLE_TOOLS=0 \
  -DCONFIG_AV1_DECODER=1 -DCONFIG_REALTIME_ONLY=1 -DCONFIG_TUNE_VMAF=0 -DCONFIG_TUNE_BUTTERAUGLI=0 \
  -DAOM_TARGET_CPU="$arch"
quietly aom cmake --build "$work/build-aom" -j "$jobs" --target install
mark aom
fi

if ! built ffmpeg; then
log "building FFmpeg (static, LGPL, only the encoders and muxers we use)"
cd "$work/src/ffmpeg"
# configure gives every darwin link -Wl,-dynamic,-search_paths_first, which zig's linker refuses;
# both are what Apple's linker does by default anyway.
sed -i 's/^        add_ldflags -Wl,-dynamic,-search_paths_first$/        :/' configure
! grep -q 'add_ldflags -Wl,-dynamic,-search_paths_first' configure ||
  { log "FFmpeg's configure changed upstream: -Wl,-dynamic was not taken out"; exit 1; }
quietly ffmpeg-configure ./configure --prefix="$prefix" --cc="$work/bin/cc" --cxx="$work/bin/c++" \
  --ar="$work/bin/ar" --ranlib="$work/bin/ranlib" "${ffmpeg_asm[@]}" \
  `# the host's GNU nm cannot read Mach-O: configure reads the C symbol prefix (_) with it` \
  --nm="$(llvm-config --bindir)/llvm-nm" \
  --target-os=darwin --arch="$ffarch" --enable-cross-compile \
  --pkg-config=pkg-config --pkg-config-flags=--static \
  --enable-static --disable-shared --enable-pic --disable-programs --disable-doc --disable-debug \
  --disable-autodetect --enable-pthreads --disable-network --disable-everything \
  --disable-avdevice --disable-avfilter --disable-swscale --disable-swresample \
  `# --disable-autodetect leaves these off already; named so that no later default brings one in` \
  --disable-videotoolbox --disable-audiotoolbox --disable-coreimage --disable-avfoundation \
  --disable-securetransport --disable-appkit --disable-metal \
  --enable-libsvtav1 --enable-encoder=libsvtav1 \
  --enable-libaom --enable-encoder=libaom_av1 \
  --enable-encoder=aac --enable-muxer=mp4 --enable-muxer=mov --enable-protocol=file \
  --enable-demuxer=mov \
  --enable-demuxer=matroska --enable-decoder=libaom_av1
quietly ffmpeg make -j "$jobs"
quietly ffmpeg-install make install
mark ffmpeg
fi

touch "$prefix/.complete"
rm -rf "$work"
echo "$prefix"
