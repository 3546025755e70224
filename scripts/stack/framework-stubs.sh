#!/usr/bin/env bash
# Writes empty stand-ins for the Apple frameworks that ffmpeg-sys-next's build script asks every
# static macOS build to link (its build.rs names them whatever FFmpeg was built with), so that
# zig's linker, which has no Apple SDK, finds something under each name.
#
# Each stand-in is a text stub (.tbd) that exports no symbol. The link runs with
# -dead_strip_dylibs, which drops every library nothing uses, so none of them reaches the dylib's
# load commands; and a symbol that something did take from a framework would fail the link as
# undefined, as no stub defines one. Our FFmpeg (scripts/stack/macos.sh) uses no framework.
# tests/tests/portable_macos.rs checks the load commands of what was linked.
#
#   framework-stubs.sh DIR    (then link with -F DIR, i.e. rustc's -L framework=DIR)
set -euo pipefail
dir=$1
# ffmpeg-sys-next 8.1's list (its build.rs, "if statik && target_os is macos or ios").
for name in AppKit AudioToolbox AVFoundation CoreFoundation CoreGraphics CoreMedia CoreServices \
  CoreVideo Foundation OpenCL OpenGL QTKit QuartzCore Security VideoDecodeAcceleration VideoToolbox; do
  mkdir -p "$dir/$name.framework"
  cat >"$dir/$name.framework/$name.tbd" <<TBD
--- !tapi-tbd
tbd-version:     4
targets:         [ x86_64-macos, arm64-macos ]
install-name:    '/System/Library/Frameworks/$name.framework/$name'
current-version: 1
...
TBD
done
