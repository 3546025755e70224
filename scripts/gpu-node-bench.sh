#!/usr/bin/env bash
# Movie Maker on a GPU render node: the engine with no writer (the ceiling), Godot's AVI writer
# and MovieWriterAV1, on demo_project, at 1920x1080 and 3840x2160, in one run. Prints wall time,
# real-time speed, the ratio to the ceiling and the engine's own per-frame "Encoding time".
#
# usage: scripts/gpu-node-bench.sh GODOT PROJECT [FRAMES]
#   GODOT    the engine binary; PROJECT a copy of demo_project with the addon (the release zip
#            unpacked into it). Runs each engine through $RUN (default: plain), e.g.
#            RUN="bash run-headless.sh 3840x2160" for an NVIDIA machine without a display
#            (../shared/tools/gpu-node/ has that recipe).
set -u
GODOT=$1 PROJECT=$2 FRAMES=${3:-600}
RUN=${RUN:-}
OUT=${OUT:-$(mktemp -d)}
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
printf '%-10s %-8s %8s %9s %10s %16s %12s\n' size writer wall_s realtime vs_ceiling encode_ms/frame bytes
for size in 1920x1080 3840x2160; do
  ceiling=""
  for writer in none avi webm; do
    args=(--path "$PROJECT" --rendering-driver opengl3 --resolution "$size" --fixed-fps 60 --quit-after "$FRAMES")
    file=""
    if [ "$writer" != none ]; then
      file=$OUT/$size.$writer
      args+=(--write-movie "$file")
    fi
    start=$(date +%s.%N)
    log=$($RUN "$GODOT" "${args[@]}" 2>&1)
    wall=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN {print a - b}')
    [ -n "$ceiling" ] || ceiling=$wall
    enc=$(echo "$log" | sed -n 's/.*Encoding time.*average: \([0-9.]*\) ms\/frame.*/\1/p' | head -1)
    bytes=$([ -n "$file" ] && stat -c %s "$file" 2>/dev/null || echo -)
    realtime=$(awk -v f="$FRAMES" -v w="$wall" 'BEGIN {printf "%.2f", f / 60 / w}')
    ratio=$(awk -v c="$ceiling" -v w="$wall" 'BEGIN {printf "%.2f", c / w}')
    printf '%-10s %-8s %8.1f %8sx %10s %16s %12s\n' "$size" "$writer" "$wall" "$realtime" "$ratio" "${enc:--}" "$bytes"
    echo "$log" | grep -E "Using Device|MovieWriterAV1: (recording|wrote)" | sed 's/^/    /'
    rm -f "$file"
  done
done
