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

key=$( { cat "$here/pins" "$here/windows.sh"; "$ZIG" version; echo "$target"; } | sha256sum | cut -c1-16)
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

# --- sources and nasm: the same fetching as scripts/stack/build.sh (copied from it, so that this
# script leaves the Linux stack's inputs, and so its cache key, alone) ---------------------------
apt_mirrors() {
  {
    sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n'
    sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  } | grep -E '/debian/?$' | sed 's:/$::' | awk '!seen[$0]++'
}

fetch_source() { # name version pool sha256
  local file=$downloads/$(basename "$3")
  if [ -f "$file" ] && echo "$4  $file" | sha256sum -c --quiet - 2>/dev/null; then return; fi
  local m
  for m in $(apt_mirrors); do
    log "downloading $1 $2 from $m/pool/main/$3"
    if curl -fsSL --retry 3 -o "$file.part" "$m/pool/main/$3"; then
      if echo "$4  $file.part" | sha256sum -c --quiet -; then
        mv "$file.part" "$file"
        return
      fi
      log "$1: sha256 mismatch (want $4)"
    fi
  done
  log "could not fetch $1 $2 from any Debian mirror in the apt sources"
  exit 1
}

fetch_deb() { # name version
  local file
  file=$(ls "$downloads/$1_$2_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$file" ]; then
    log "downloading Debian package $1=$2"
    (cd "$downloads" && { apt-get download -q "$1=$2" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null && apt-get download -q "$1=$2" >/dev/null 2>&1; }; }) ||
      { log "apt-get download $1=$2 failed"; exit 1; }
    file=$(ls "$downloads/$1_$2_"*.deb | head -1)
  fi
  dpkg-deb -x "$file" "$sys"
}

# Only the sources and the host's nasm: libva and libvpl are Linux's.
while read -r kind name version pool sha; do
  case "$kind $name" in
    source\ *) fetch_source "$name" "$version" "$pool" "$sha"
              if [ ! -d "$work/src/$name" ]; then
                mkdir -p "$work/src/$name.part"
                tar -xf "$downloads/$(basename "$pool")" -C "$work/src/$name.part" --strip-components=1
                mv "$work/src/$name.part" "$work/src/$name"
              fi ;;
    "deb nasm") fetch_deb "$name" "$version" ;;
  esac
done < <(grep -v '^#' "$here/pins" | grep -v '^[[:space:]]*$')

# --- zig as the C toolchain, for Windows ----------------------------------------------------
# -fno-sanitize=undefined: zig cc adds UBSan traps unless told otherwise. -Wno-date-time: zig
# makes __DATE__ an error (reproducible builds), and SVT-AV1 prints its build date.
for tool in cc c++; do
  printf '#!/bin/sh\nexec "%s" %s -target %s -fno-sanitize=undefined -Wno-date-time "$@"\n' \
    "$ZIG" "$tool" "$target" >"$work/bin/$tool"
done
for tool in ar ranlib; do printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$ZIG" "$tool" >"$work/bin/$tool"; done
chmod +x "$work/bin"/*
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

# Each component leaves a mark in the prefix once installed, so a failed run resumes there.
built() { [ -f "$prefix/.built-$1" ]; }
mark() { touch "$prefix/.built-$1"; }

quietly() { # runs a build step, showing its log only when it fails
  local name=$1; shift
  local t0=$SECONDS
  if ! "$@" >"$work/$name.log" 2>&1; then
    tail -40 "$work/$name.log" >&2
    log "$name failed; full log: $work/$name.log"
    exit 1
  fi
  log "$name done in $((SECONDS - t0)) s"
}

# SVT-AV1's default log level becomes "error", as on Linux (see scripts/stack/build.sh).
sed -i 's/SvtLogLevel level = SVT_LOG_INFO;/SvtLogLevel level = SVT_LOG_ERROR;/' \
  "$work/src/svt-av1/Source/Lib/Codec/svt_log.c"
grep -q 'level = SVT_LOG_ERROR;' "$work/src/svt-av1/Source/Lib/Codec/svt_log.c" ||
  { log "svt_log.c changed upstream: the default log level was not set"; exit 1; }

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
