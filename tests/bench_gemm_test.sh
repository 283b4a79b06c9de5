#!/usr/bin/env bash
# tests/bench_gemm_test.sh — smoke test of examples/bench_gemm (the GEMM
# library comparison, docs/performance.md): that the tool runs, not what it
# measures. A --quick run (28x28, batch 2) with the adapters make built here
# must exit 0 with the call table and the summary, the capture's own check
# (the backend's gemm slot against the recorded SGEMMs) passed and no
# library's result off; a run with no adapters (--adapters on an empty
# folder) must do the same with every other library's column n/a, as when
# none is installed; unknown options and library names exit 2. Nothing
# here depends on timings. Not part of `make check` (about half a minute
# on two shared cores); `make check-bench-gemm`. Ends with
# "bench_gemm_test: N passed, N failed". Environment: BENCH_GEMM (binary).
# shellcheck disable=SC2317  # the helper functions run through check
set -u

BENCH_GEMM=${BENCH_GEMM:-examples/bench_gemm}
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2

CHECK_NAME=bench_gemm_test
# shellcheck source=tests/check_lib.sh
. tests/check_lib.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME ARGS...: runs the bench into $tmp/NAME.out, status in $tmp/NAME.rc
run() {
  local name=$1
  shift
  "$BENCH_GEMM" "$@" >"$tmp/$name.out" 2>&1
  echo $? >"$tmp/$name.rc"
}
status_is() { [ "$(cat "$tmp/$1.rc")" = "$2" ] || { tail -20 "$tmp/$1.out"; false; }; }
has() { grep -q -- "$2" "$tmp/$1.out" || { echo "no '$2' in $1's output"; false; }; }
lacks() { ! grep -q -- "$2" "$tmp/$1.out" || { grep -- "$2" "$tmp/$1.out" | head -5; false; }; }
# the OpenBLAS total of the training step is a positive number of ms
total_ok() { awk '/^training step/ { found = 1; if (!($3 + 0 > 0)) exit 1 } END { exit !found }' "$tmp/$1.out"; }
# every call row has an OpenBLAS figure (the column after the "|")
rows_ok() {
  awk '/^ *[0-9]+  [RC] [FDW?] / { n++; split($0, f, "|"); split(f[2], g, " "); if (g[1] !~ /^[0-9]+\.[0-9]$/) bad++ }
       END { exit !(n > 20 && !bad) }' "$tmp/$1.out"
}

run all --size 28 --batch 2 --quick
check "quick run exits 0" status_is all 0
check "quick run: the 28x28 table" has all "== GoogLeNet 28x28, batch 2"
check "quick run: every call has an OpenBLAS figure" rows_ok all
check "quick run: summary with the per-shape best" has all "per-shape best"
check "quick run: training-step total" total_ok all
check "quick run: no FAIL line" lacks all "FAIL"

mkdir "$tmp/none"
run none --size 28 --batch 2 --quick --adapters "$tmp/none"
check "no adapters: exits 0" status_is none 0
for lib in BLIS libxsmm oneDNN oneDNN-mm; do
  check "no adapters: $lib is n/a" has none "^  $lib *n/a: no bench_gemm_"
done
check "no adapters: training-step total" total_ok none
check "no adapters: no FAIL line" lacks none "FAIL"

run badlib --size 28 --batch 2 --quick --libs blis,mkl
check "--libs with an unknown library exits 2" status_is badlib 2
check "--libs: the message names it" has badlib 'no library "mkl"'
run badopt --bogus
check "an unknown option exits 2" status_is badopt 2
run badsize --size 28,x
check "a bad --size exits 2" status_is badsize 2

finish
