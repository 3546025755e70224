#!/usr/bin/env bash
# Engine-level comparison: records demo_project for the same frames with Godot's AVI (MJPEG),
# OGV (Theora) and PNG writers and with MovieWriterAV1 (WebM), then prints wall time, the
# engine's own "Encoding time … ms/frame", file size, and SSIM/PSNR against the PNG recording
# (lossless reference), pairing frames by index (every frame decoded as stored, then frame i
# against PNG i), never by timestamp: Matroska keeps millisecond timestamps.
#
# usage: scripts/engine-compare.sh [FRAMES]   (needs ./dev build, the engine at $GODOT4_BIN or
#                                              .tools/bin/godot, which ./dev fetches; xvfb-run and ffmpeg)
#   SIZE (default 1280x720) is the window's size; WRITERS (default "png avi ogv webm") the runs,
#   png first (the reference). `webm,p6` records at speed_preset 6 (through override.cfg).
set -euo pipefail
cd "$(dirname "$0")/.."
GODOT=${GODOT4_BIN:-$(dirname "$0")/../.tools/bin/godot}
FRAMES=${1:-300}
SIZE=${SIZE:-1280x720}
WRITERS=${WRITERS:-png avi ogv webm}
OUT=$(mktemp -d /tmp/mwav1-compare-XXXX)
cp -rL demo_project "$OUT/project"
"$GODOT" --headless --path "$OUT/project" --import >/dev/null 2>&1 || true
"$GODOT" --headless --path "$OUT/project" --import >/dev/null 2>&1 || true
echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %9s %14s %12s %8s %8s\n' writer wall_s "encode_ms/frm" bytes SSIM PSNR
for writer in $WRITERS; do
  ext=${writer%%,*} dir=$OUT/${writer/,/-}
  # The window Movie Maker records: Godot 4.6.3 ignores --resolution there, the override is read.
  printf '[display]\nwindow/size/window_width_override=%s\nwindow/size/window_height_override=%s\n' \
    "${SIZE%x*}" "${SIZE#*x}" >"$OUT/project/override.cfg"
  case $writer in
    *,p[0-9]*) printf '[editor]\nmovie_writer/av1/speed_preset=%s\n' "${writer##*,p}" >>"$OUT/project/override.cfg" ;;
  esac
  mkdir -p "$dir"
  start=$(date +%s.%N)
  log=$(xvfb-run -a -s "-screen 0 ${SIZE}x24" "$GODOT" --path "$OUT/project" --rendering-method gl_compatibility \
    --rendering-driver opengl3 --write-movie "$dir/movie.$ext" --fixed-fps 60 --quit-after "$FRAMES" 2>&1)
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  enc=$(echo "$log" | sed -n 's/.*Encoding time.*average: \([0-9.]*\) ms\/frame.*/\1/p')
  if [ "$ext" = png ]; then
    bytes=$(cat "$OUT"/png/movie*.png | wc -c)
    printf '%-9s %9.1f %14s %12s %8s %8s\n' "$writer" "$wall" "$enc" "$bytes" "(ref)" "(ref)"
    continue
  fi
  bytes=$(stat -c %s "$dir/movie.$ext")
  # Decode every frame as stored (no frame-rate conversion), then compare frame i with PNG i.
  ffmpeg -v error -i "$dir/movie.$ext" -fps_mode passthrough -f rawvideo -pix_fmt yuv420p -y "$dir/raw.yuv"
  compare() { ffmpeg -f rawvideo -pix_fmt yuv420p -s "$SIZE" -framerate 60 -i "$dir/raw.yuv" \
      -framerate 60 -i "$OUT/png/movie%08d.png" -lavfi "[1:v]format=yuv420p[b];[0:v][b]$1" -f null - 2>&1; }
  ssim=$(compare ssim | sed -n 's/.*SSIM.* All:\([0-9.]*\).*/\1/p')
  psnr=$(compare psnr | sed -n 's/.*PSNR.* average:\([0-9.inf]*\).*/\1/p')
  rm -f "$dir/raw.yuv"
  printf '%-9s %9.1f %14s %12s %8s %8s\n' "$writer" "$wall" "$enc" "$bytes" "$ssim" "$psnr"
done
echo "files in $OUT"
