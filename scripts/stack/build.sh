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

key=$( { cat "$here/pins" "$here/build.sh" "$here/dlshim.sh"; "$ZIG" version; echo "$glibc"; } | sha256sum | cut -c1-16)
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

# --- the archive, from this machine's apt sources (no host is written into the repo) ----------
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

while read -r kind name version pool sha; do
  case "$kind" in
    source) fetch_source "$name" "$version" "$pool" "$sha"
            if [ ! -d "$work/src/$name" ]; then
              mkdir -p "$work/src/$name.part"
              tar -xf "$downloads/$(basename "$pool")" -C "$work/src/$name.part" --strip-components=1
              mv "$work/src/$name.part" "$work/src/$name"
            fi ;;
    deb) fetch_deb "$name" "$version" ;;
  esac
done < <(grep -v '^#' "$here/pins" | grep -v '^[[:space:]]*$')

# The unpacked .pc files say prefix=/usr; point them at the unpacked tree.
sed -i "s:^prefix=/usr:prefix=$sys/usr:" "$sys"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc
ln -sf libva.so.2 "$sys/usr/lib/x86_64-linux-gnu/libva.so"
ln -sf libva-drm.so.2 "$sys/usr/lib/x86_64-linux-gnu/libva-drm.so"
ln -sf libvpl.so.2 "$sys/usr/lib/x86_64-linux-gnu/libvpl.so"

# --- zig as the C toolchain, for glibc 2.28 ---------------------------------------------------
# -fno-sanitize=undefined: zig cc adds UBSan traps unless told otherwise. -Wno-date-time: zig
# makes __DATE__ an error (reproducible builds), and SVT-AV1 prints its build date.
for tool in cc c++; do
  printf '#!/bin/sh\nexec "%s" %s -target x86_64-linux-gnu.%s -fno-sanitize=undefined -Wno-date-time "$@"\n' \
    "$ZIG" "$tool" "$glibc" >"$work/bin/$tool"
done
for tool in ar ranlib; do printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$ZIG" "$tool" >"$work/bin/$tool"; done
chmod +x "$work/bin"/*
export PATH=$work/bin:$sys/usr/bin:$PATH
export PKG_CONFIG_LIBDIR=$prefix/lib/pkgconfig:$sys/usr/lib/x86_64-linux-gnu/pkgconfig
unset PKG_CONFIG_PATH
cmake_common=(-G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix"
  -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_C_COMPILER="$work/bin/cc" -DCMAKE_CXX_COMPILER="$work/bin/c++"
  -DCMAKE_AR="$work/bin/ar" -DCMAKE_RANLIB="$work/bin/ranlib" -DBUILD_SHARED_LIBS=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_ASM_NASM_COMPILER="$sys/usr/bin/nasm")

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

# SVT-AV1 prints a banner and its whole configuration (level "info") on every encoder open, into
# the game's console, and only the SVT_LOG environment variable changes that. Setting it from
# inside the engine's multithreaded process would be unsound, so the default level becomes
# "error" here; SVT_LOG still overrides it for anyone who wants the details.
sed -i 's/SvtLogLevel level = SVT_LOG_INFO;/SvtLogLevel level = SVT_LOG_ERROR;/' \
  "$work/src/svt-av1/Source/Lib/Codec/svt_log.c"
grep -q 'level = SVT_LOG_ERROR;' "$work/src/svt-av1/Source/Lib/Codec/svt_log.c" ||
  { log "svt_log.c changed upstream: the default log level was not set"; exit 1; }

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
