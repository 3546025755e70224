# Build steps shared by the stack scripts (build.sh, windows.sh, macos.sh), which source it: each
# lists this file among the inputs of its cache key.
#
# Expects $prefix (the install prefix), $work (scratch: wrappers in $work/bin, logs) and a `log`
# function.

# zig_toolchain TARGET: cc, c++, ar and ranlib in $work/bin, all zig, for TARGET (zig's ar writes
# the archive format of the objects' platform: BSD-style for Mach-O).
# -fno-sanitize=undefined: zig cc adds UBSan traps unless told otherwise. -Wno-date-time: zig
# makes __DATE__ an error (reproducible builds), and SVT-AV1 prints its build date.
zig_toolchain() {
  local tool
  for tool in cc c++; do
    printf '#!/bin/sh\nexec "%s" %s -target %s -fno-sanitize=undefined -Wno-date-time "$@"\n' \
      "$ZIG" "$tool" "$1" >"$work/bin/$tool"
  done
  for tool in ar ranlib; do printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$ZIG" "$tool" >"$work/bin/$tool"; done
  chmod +x "$work/bin"/*
}

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
quiet_svt_log() {
  sed -i 's/SvtLogLevel level = SVT_LOG_INFO;/SvtLogLevel level = SVT_LOG_ERROR;/' \
    "$work/src/svt-av1/Source/Lib/Codec/svt_log.c"
  grep -q 'level = SVT_LOG_ERROR;' "$work/src/svt-av1/Source/Lib/Codec/svt_log.c" ||
    { log "svt_log.c changed upstream: the default log level was not set"; exit 1; }
}
