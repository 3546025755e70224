#!/usr/bin/env bash
# Runs a cargo test command and ends with one count: "N passed, N failed, N skipped".
#
# Cargo counts a test that returned early as passed. Our tests never return early silently:
# tests/src/skip.rs writes each skip (test, reason) to $MWAV1_SKIP_LOG, and this script takes
# those out of the passed count and lists them, with the opt-in (#[ignore]) tests.
#
# MWAV1_REQUIRE=engine,nvenc,... turns those skips into failures (tests/src/skip.rs). CI
# always requires the engine, the Windows build and Wine: `./dev test` fetches, builds and
# installs them, so a skip of any there means set-up went wrong.
#
#   scripts/run-tests.sh cargo test ... -- ...
set -uo pipefail
log=$(mktemp)
skips=$(mktemp)
trap 'rm -f "$log" "$skips"' EXIT
export MWAV1_SKIP_LOG=$skips
# Engine tests copy the demo project (library included, ~150 MB) into a temporary folder each,
# kept after the run to look at a failure. They all go into one folder per run, emptied when the
# next run starts, so that repeated runs do not fill /tmp.
run_tmp=${CARGO_TARGET_DIR:-target}/test-tmp
rm -rf "$run_tmp" && mkdir -p "$run_tmp"
TMPDIR=$(cd "$run_tmp" && pwd)
export TMPDIR
if [ "${CI:-}" = true ]; then
  export MWAV1_REQUIRE=${MWAV1_REQUIRE:+$MWAV1_REQUIRE,}engine,windows,wine
fi

"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

passed=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]\+\) passed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(sed -n 's/^test result: .*; \([0-9]\+\) failed.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
ignored=$(sed -n 's/^test result: .*; \([0-9]\+\) ignored.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
# A test skipped for two reasons (say, no build and no tool) wrote two lines: it counts once, with
# its reasons joined.
skip_list=$(sort -u "$skips" | awk -F'\t' '{if ($1 in r) r[$1] = r[$1] "; " $2; else r[$1] = $2} END {for (t in r) print t "\t" r[t]}' | sort)
skipped=$(printf '%s' "$skip_list" | grep -c . || true)

echo
echo "==> skipped tests"
if [ "$skipped" -gt 0 ]; then printf '%s\n' "$skip_list" | sed 's/^/  SKIPPED /; s/\t/: /'; fi
grep -E '^test .* \.\.\. ignored' "$log" | sed 's/^test \(.*\) \.\.\. ignored,\{0,1\} *\(.*\)/  SKIPPED \1: opt-in (#[ignore]) \2/'
[ "$skipped" -gt 0 ] || [ "$ignored" -gt 0 ] || echo "  none"
# A run that executed no test at all is a failure, not a green build.
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "no test ran"
  [ "$status" -ne 0 ] || status=1
fi
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo
echo "$((passed - skipped)) passed, $failed failed, $((skipped + ignored)) skipped"
exit "$status"
