#!/usr/bin/env bash
# Movie Maker on a GPU render node, in one run, at each size: the engine with no writer, the
# engine with a writer that does nothing (the ceiling: see below), Godot's AVI writer and
# MovieWriterAV1, on demo_project. Prints wall time, real-time speed, the ratio to the ceiling,
# the engine's own per-frame "Encoding time" (the writer's time on the main thread), the file
# size, and the CPU time of the engine's main thread and of the whole process.
#
# usage: scripts/gpu-node-bench.sh GODOT PROJECT [FRAMES]
#   GODOT    the engine binary; PROJECT a copy of demo_project with the addon, built with the
#            bench-only feature `bench-null-writer` (the `null` writer, files `*.nullmovie`):
#              cargo-zigbuild zigbuild --release --target x86_64-unknown-linux-gnu.2.28 \
#                -p movie_writer_av1 --features bench-null-writer
#   Runs each engine through $RUN (default: plain), e.g. RUN="bash run-headless.sh 3840x2160"
#   for an NVIDIA machine without a display (../shared/tools/gpu-node/ has that recipe).
#   SIZES (default "1920x1080 3840x2160") and WRITERS (default "none null avi webm") pick the
#   runs. A webm writer takes options after commas: `webm,p8` records at speed_preset 8 (through
#   the project's override.cfg); `webm,renice` puts every thread but the engine's main one at
#   nice 10, `webm,pin` keeps them off the main thread's core (experiments: is the main thread
#   losing CPU to the others?); `webm,alt` records
#   with the library at $ALT_LIB instead (e.g. an older build, to compare two builds in one run).
#
# Why the null writer is the ceiling: with no writer at all, the engine skips its synchronous
# read-back of each frame from the GPU (texture_get_data), which it does before calling any
# writer. The null writer pays that read-back and nothing else.
set -u
GODOT=$1 PROJECT=$2 FRAMES=${3:-600}
RUN=${RUN:-}
SIZES=${SIZES:-1920x1080 3840x2160}
WRITERS=${WRITERS:-none null avi webm}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
LIBDIR=$PROJECT/addons/movie_writer_av1/bin
LIB=$(ls "$LIBDIR"/*.so | head -1)
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
printf '%-10s %-12s %7s %8s %8s %10s %10s %8s %8s\n' size writer wall_s realtime vs_null "enc_ms/frm" bytes main_cpu all_cpu

# CPU seconds (user + system) of one task's /proc stat line.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "$1" 2>/dev/null; }

# Follows the engine process of run $1 while it runs: its main thread's and the whole process's CPU
# seconds, last seen before it exited, go to $2. $3 places its threads: `renice` puts all but
# the main one at nice 10; `pin` gives the main thread CPU 0 and its hyper-thread siblings, and
# the others every other CPU.
watch_cpu() {
  local marker=$1 result=$2 place=$3 pid="" main all t seen=""
  local main_cpus other_cpus
  main_cpus=$(cat /sys/devices/system/cpu/cpu0/topology/thread_siblings_list 2>/dev/null || echo 0)
  main_cpus=$(echo "$main_cpus" | awk -F, '{for (i = 1; i <= NF; i++) {n = split($i, r, "-");
    for (c = r[1]; c <= r[n]; c++) printf "%s%s", (k++ ? "," : ""), c}}')
  other_cpus=$(seq 0 $(($(nproc) - 1)) | grep -vxF -f <(echo "$main_cpus" | tr , '\n') | paste -sd,)
  for _ in $(seq 100); do
    for p in $(pgrep -f -- "$marker"); do
      [ "$(readlink /proc/$p/exe 2>/dev/null)" = "$(readlink -f "$GODOT")" ] && pid=$p
    done
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || return
  while [ -d /proc/$pid/task ]; do
    main=$(cpu_s /proc/$pid/task/$pid/stat)
    all=$(cpu_s /proc/$pid/stat)
    [ -n "$main" ] && echo "$main $all" >"$result"
    # Each new thread once (SVT-AV1's start with the recording, rayon's at its first frame).
    for t in /proc/$pid/task/*; do
      t=${t##*/}
      case " $seen " in *" $t "*) continue ;; esac
      seen="$seen $t"
      case $place in
        renice) [ "$t" != "$pid" ] && renice -n 10 -p "$t" >/dev/null 2>&1 ;;
        pin) if [ "$t" = "$pid" ]; then taskset -p -c "$main_cpus" "$t"; else taskset -p -c "$other_cpus" "$t"; fi >/dev/null 2>&1 ;;
      esac
    done
    sleep 0.2
  done
}

for size in $SIZES; do
  ceiling=""
  for writer in $WRITERS; do
    kind=${writer%%,*}
    args=(--path "$PROJECT" --rendering-driver opengl3 --resolution "$size" --fixed-fps 60 --quit-after "$FRAMES")
    file="" place=""
    rm -f "$PROJECT/override.cfg"
    cp "$LIB" "$OUT/lib.keep"
    for opt in $(echo "$writer" | tr , ' ' | cut -d' ' -f2-); do
      [ "$opt" = "$kind" ] && continue
      case $opt in
        p[0-9]*) printf '[editor]\nmovie_writer/av1/speed_preset=%s\n' "${opt#p}" >"$PROJECT/override.cfg" ;;
        renice | pin) place=$opt ;;
        alt) cp "$ALT_LIB" "$LIB" ;;
      esac
    done
    case $kind in
      none) ;;
      null) file=$OUT/$size.nullmovie ;;
      *) file=$OUT/$size.$kind ;;
    esac
    [ -n "$file" ] && args+=(--write-movie "$file")
    marker="mwav1-bench-$size-${writer//,/-}-$$"
    rm -f "$OUT/cpu"
    start=$(date +%s.%N)
    watch_cpu "$marker" "$OUT/cpu" "$place" &
    watcher=$!
    log=$($RUN "$GODOT" "${args[@]}" -- "$marker" 2>&1)
    wall=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN {print a - b}')
    wait $watcher
    cp "$OUT/lib.keep" "$LIB"
    rm -f "$PROJECT/override.cfg"
    [ "$kind" = null ] && ceiling=$wall
    enc=$(echo "$log" | sed -n 's/.*Encoding time.*average: \([0-9.]*\) ms\/frame.*/\1/p' | head -1)
    bytes=-
    [ -n "$file" ] && [ "$kind" != null ] && bytes=$(stat -c %s "$file" 2>/dev/null || echo -)
    realtime=$(awk -v f="$FRAMES" -v w="$wall" 'BEGIN {printf "%.2f", f / 60 / w}')
    ratio=$(awk -v c="$ceiling" -v w="$wall" 'BEGIN {if (c == "") print "-"; else printf "%.2f", c / w}')
    read -r main all <"$OUT/cpu" 2>/dev/null || { main=-; all=-; }
    printf '%-10s %-12s %7.1f %7sx %8s %10s %10s %8s %8s\n' "$size" "$writer" "$wall" "$realtime" "$ratio" "${enc:--}" "$bytes" "$main" "$all"
    echo "$log" | grep -E "Using Device|MovieWriterAV1: wrote|ERROR" | sed 's/^/    /'
    [ -n "${KEEP:-}" ] || rm -f "$file"
  done
done
