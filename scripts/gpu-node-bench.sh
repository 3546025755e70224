#!/usr/bin/env bash
# Movie Maker on a GPU render node, in one run, at each size: the engine with no writer, the
# engine with a writer that does nothing (the ceiling: see below), Godot's AVI writer and
# MovieWriterAV1, on demo_project. Prints wall time, real-time speed, the ratio to the ceiling,
# the engine's own per-frame "Encoding time" (the writer's time on the main thread), the file
# size, and the CPU time of the engine's main thread and of the whole process. Under each
# MovieWriterAV1 row: its own account of the main thread's time (starting, frames, waiting for
# the encoder, finishing) and how long its encode thread took to open the encoder.
#
# usage: scripts/gpu-node-bench.sh GODOT PROJECT [FRAMES]
#   GODOT    the engine binary; PROJECT a copy of demo_project with the addon, built with the
#            bench-only feature `bench-null-writer` (the `null` writer, files `*.nullmovie`):
#              cargo-zigbuild zigbuild --release --target x86_64-unknown-linux-gnu.2.28 \
#                -p movie_writer_av1 --features bench-null-writer
#   Runs each engine through $RUN (default: plain), e.g. RUN="bash run-headless.sh 3840x2160"
#   for an NVIDIA machine without a display (docs/gpu-node.md has that recipe).
#   SIZES (default "1920x1080 3840x2160") and WRITERS (default "none null avi webm") pick the
#   runs. A webm writer takes options after commas: `webm,p8` records at speed_preset 8 (through
#   the project's override.cfg); `webm,renice` puts every thread but the engine's main one at
#   nice 10, `webm,pin` keeps them off the main thread's core (experiments: is the main thread
#   losing CPU to the others?); `webm,alt` records
#   with the library at $ALT_LIB instead (e.g. an older build, to compare two builds in one run).
#   Load beside the engine, in other processes, for any writer (is a slower engine the encoder's
#   coupling to it, or the machine shared with busy cores?): `,enc` runs `$MWAV1 record` of the
#   same size in a loop (`,encN`: on the last N CPUs only); `,spinN` and `,streamN` run N threads
#   of `$PROBE spin` (arithmetic only) or `$PROBE stream` (copies between 512 MiB buffers, so
#   through memory). $PROBE is scripts/gpu-node-probe.c built (its header says how).
#   With $PROBE set, every row also gets a line "probe sample:" (the engine's main thread sampled
#   every 5 ms: R running or waiting for a CPU, S/sysN asleep in system call N) and the same for
#   Xvfb when one runs. Every row gets a line "detail:": the main thread's CPU time on a CPU
#   (run_s) and runnable but waiting for one (rq_wait_s, both from schedstat), user and system
#   time, minor page faults, voluntary and forced context switches; Xvfb's CPU seconds; and the
#   machine's TLB-shootdown and function-call interrupts during the row (/proc/interrupts).
#   vs_null is taken against the latest plain `null` row, never one with a load.
#
# Why the null writer is the ceiling: with no writer at all, the engine skips its synchronous
# read-back of each frame from the GPU (texture_get_data), which it does before calling any
# writer. The null writer pays that read-back and nothing else.
set -u
GODOT=$1 PROJECT=$2 FRAMES=${3:-600}
RUN=${RUN:-}
SIZES=${SIZES:-1920x1080 3840x2160}
WRITERS=${WRITERS:-none null avi webm}
PROBE=${PROBE:-} MWAV1=${MWAV1:-}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
LIBDIR=$PROJECT/addons/movie_writer_av1/bin
LIB=$(ls "$LIBDIR"/*.so | head -1)
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
printf '%-10s %-12s %7s %8s %8s %10s %10s %8s %8s\n' size writer wall_s realtime vs_null "enc_ms/frm" bytes main_cpu all_cpu

# CPU seconds (user + system) of one task's /proc stat line.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12 + $13) / hz}' "$1" 2>/dev/null; }

# The machine's TLB-shootdown and function-call interrupts so far, all CPUs: "TLB CAL".
irqs() {
  awk '$1 == "TLB:" || $1 == "CAL:" {s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; n[$1] = s}
    END {print n["TLB:"] + 0, n["CAL:"] + 0}' /proc/interrupts
}

# Follows the engine process of run $1 while it runs: its main thread's and the whole process's CPU
# seconds, last seen before it exited, go to $2. $3 places its threads: `renice` puts all but
# the main one at nice 10; `pin` gives the main thread CPU 0 and its hyper-thread siblings, and
# the others every other CPU.
watch_cpu() {
  local marker=$1 result=$2 place=$3 pid="" main all t seen="" xsampler=""
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
  if [ -n "$PROBE" ]; then
    "$PROBE" sample "$pid" "$pid" 5 >"$result.sample" &
    local xvfb
    xvfb=$(pgrep -x Xvfb | head -1)
    [ -n "$xvfb" ] && { "$PROBE" sample "$xvfb" "$xvfb" 5 >"$result.xsample" & xsampler=$!; }
  fi
  local hz
  hz=$(getconf CLK_TCK)
  while [ -d /proc/$pid/task ]; do
    main=$(cpu_s /proc/$pid/task/$pid/stat)
    all=$(cpu_s /proc/$pid/stat)
    [ -n "$main" ] && echo "$main $all" >"$result"
    # The main thread's scheduler figures, last seen: on a CPU, runnable but waiting for one.
    {
      read -r run wait _ </proc/$pid/task/$pid/schedstat &&
        awk -v hz="$hz" -v run="$run" -v wait="$wait" '{sub(/.*\) /, "")
          printf "run_s %.2f rq_wait_s %.2f user_s %.2f sys_s %.2f minflt %d", run / 1e9, wait / 1e9, $12 / hz, $13 / hz, $8}' \
          /proc/$pid/task/$pid/stat &&
        awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {printf " vcsw %d ivcsw %d\n", v, n}' \
          /proc/$pid/task/$pid/status
    } >"$result.main.new" 2>/dev/null && mv "$result.main.new" "$result.main"
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
  [ -n "$xsampler" ] && kill "$xsampler"
  wait
}

for size in $SIZES; do
  ceiling=""
  for writer in $WRITERS; do
    kind=${writer%%,*}
    args=(--path "$PROJECT" --rendering-driver opengl3 --resolution "$size" --fixed-fps 60 --quit-after "$FRAMES")
    file="" place="" loadcmd=""
    # The window Movie Maker records: Godot 4.6.3 ignores --resolution there, the override is read.
    printf '[display]\nwindow/size/window_width_override=%s\nwindow/size/window_height_override=%s\n' \
      "${size%x*}" "${size#*x}" >"$PROJECT/override.cfg"
    cp "$LIB" "$OUT/lib.keep"
    for opt in $(echo "$writer" | tr , ' ' | cut -d' ' -f2-); do
      [ "$opt" = "$kind" ] && continue
      case $opt in
        p[0-9]*) printf '[editor]\nmovie_writer/av1/speed_preset=%s\n' "${opt#p}" >>"$PROJECT/override.cfg" ;;
        renice | pin) place=$opt ;;
        alt) cp "$ALT_LIB" "$LIB" ;;
        enc | enc[0-9]*)
          cpus=""
          [ "$opt" != enc ] && cpus="taskset -c $(($(nproc) - ${opt#enc}))-$(($(nproc) - 1))"
          loadcmd="while :; do $cpus $MWAV1 record --out $OUT/load.webm --size $size --fps 60 --frames $FRAMES; done" ;;
        spin[0-9]*) loadcmd="$PROBE spin ${opt#spin} 100000" ;;
        stream[0-9]*) loadcmd="$PROBE stream ${opt#stream} 100000 512" ;;
      esac
    done
    case $kind in
      none) ;;
      null) file=$OUT/$size.nullmovie ;;
      *) file=$OUT/$size.$kind ;;
    esac
    [ -n "$file" ] && args+=(--write-movie "$file")
    marker="mwav1-bench-$size-${writer//,/-}-$$"
    rm -f "$OUT"/cpu*
    xvfb=$(pgrep -x Xvfb | head -1)
    xvfb_before=$([ -n "$xvfb" ] && cpu_s /proc/$xvfb/stat)
    irq_before=$(irqs)
    load=""
    [ -n "$loadcmd" ] && { setsid bash -c "$loadcmd" >/dev/null 2>&1 & load=$!; }
    start=$(date +%s.%N)
    watch_cpu "$marker" "$OUT/cpu" "$place" &
    watcher=$!
    log=$($RUN "$GODOT" "${args[@]}" -- "$marker" 2>&1)
    wall=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN {print a - b}')
    [ -n "$load" ] && kill -- -"$load" 2>/dev/null
    wait $watcher
    wait
    irq_after=$(irqs)
    xvfb_s=-
    [ -n "$xvfb" ] && xvfb_s=$(awk -v a="$(cpu_s /proc/$xvfb/stat)" -v b="$xvfb_before" 'BEGIN {printf "%.2f", a - b}')
    cp "$OUT/lib.keep" "$LIB"
    rm -f "$PROJECT/override.cfg"
    [ "$writer" = null ] && ceiling=$wall
    enc=$(echo "$log" | sed -n 's/.*Encoding time.*average: \([0-9.]*\) ms\/frame.*/\1/p' | head -1)
    bytes=-
    [ -n "$file" ] && [ "$kind" != null ] && bytes=$(stat -c %s "$file" 2>/dev/null || echo -)
    realtime=$(awk -v f="$FRAMES" -v w="$wall" 'BEGIN {printf "%.2f", f / 60 / w}')
    ratio=$(awk -v c="$ceiling" -v w="$wall" 'BEGIN {if (c == "") print "-"; else printf "%.2f", c / w}')
    read -r main all <"$OUT/cpu" 2>/dev/null || { main=-; all=-; }
    printf '%-10s %-12s %7.1f %7sx %8s %10s %10s %8s %8s\n' "$size" "$writer" "$wall" "$realtime" "$ratio" "${enc:--}" "$bytes" "$main" "$all"
    echo "$log" | grep -E "Using Device|MovieWriterAV1: (wrote|encoding with|time on)|ERROR" | sed 's/^/    /'
    echo "    detail: $(cat "$OUT/cpu.main" 2>/dev/null) xvfb_s $xvfb_s tlb_shootdowns $((${irq_after% *} - ${irq_before% *})) call_irqs $((${irq_after#* } - ${irq_before#* }))"
    cat "$OUT/cpu.sample" 2>/dev/null | sed 's/^/    /'
    sed 's/^probe sample/probe sample Xvfb/; s/^/    /' "$OUT/cpu.xsample" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -f "$file"
  done
done
