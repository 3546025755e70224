#!/usr/bin/env bash
# Hardware check of the AV1 backends: prints what `mwav1 probe` finds, records a short clip
# with `--backend auto`, and forces each hardware backend that has its own driver path
# (`nvenc`, `vulkan`). A forced backend must either record or fail with exactly the reason its
# probe gave; `auto` must always record (falling back to SVT-AV1 with a note).
#
# usage: scripts/hardware-check.sh [MWAV1 [OUT_DIR]]
#   MWAV1    the built binary (default: target/x86_64-unknown-linux-gnu/release/mwav1)
#   OUT_DIR  where the clips go (default: out/hardware-check)
#
# Exit status: 0 when every check held, 1 otherwise. Everything is printed as it happens.
# docs/hardware-h100.txt is this script's output on an NVIDIA H100 machine.
set -u

MWAV1=${1:-target/x86_64-unknown-linux-gnu/release/mwav1}
OUT_DIR=${2:-out/hardware-check}
# 2 s at 720p60: long enough for two keyframe intervals of 1 s, short enough for any machine.
CLIP=(--size 1280x720 --fps 60 --seconds 2 --keyint 1)
failures=0

section() { printf '\n== %s\n' "$*"; }
fail() {
    echo "CHECK FAILED: $*"
    failures=$((failures + 1))
}

mkdir -p "$OUT_DIR"
section "machine"
uname -srm
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
else
    echo "nvidia-smi: not installed"
fi
command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>&1 | grep -E "deviceName|driverInfo|apiVersion"

section "$MWAV1 probe"
probe_out=$("$MWAV1" probe 2>&1)
status=$?
echo "$probe_out"
[ $status -eq 0 ] || fail "mwav1 probe exited with status $status"

section "$MWAV1 record --backend auto"
"$MWAV1" record --backend auto --out "$OUT_DIR/auto.webm" "${CLIP[@]}" 2>&1
status=$?
echo "exit status $status"
[ $status -eq 0 ] || fail "auto must always record"

for backend in nvenc vulkan; do
    # VBR: the rate control every hardware backend does, so a failure is the hardware's.
    section "$MWAV1 record --backend $backend (forced) --rate-control vbr --bitrate 6000"
    out=$("$MWAV1" record --backend "$backend" --out "$OUT_DIR/$backend.webm" "${CLIP[@]}" \
        --rate-control vbr --bitrate 6000 2>&1)
    status=$?
    echo "$out"
    echo "exit status $status"
    if [ $status -eq 0 ]; then
        echo "($backend recorded $OUT_DIR/$backend.webm)"
        continue
    fi
    # The error reads "... encoder is not available: <reason>"; the probe printed
    # "unavailable: <reason>" for the same backend.
    reason=${out#*is not available: }
    if [ "$reason" = "$out" ]; then
        fail "forced $backend failed without saying it is unavailable"
    elif grep -qF -- "unavailable: $reason" <<<"$probe_out"; then
        echo "OK: forced $backend fails with its probe's reason"
    else
        fail "forced $backend failed with a reason its probe did not give: $reason"
    fi
done

section "result"
if [ $failures -eq 0 ]; then
    echo "all checks held"
else
    echo "$failures check(s) failed"
fi
[ $failures -eq 0 ]
