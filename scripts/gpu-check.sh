#!/usr/bin/env bash
# gpu-check.sh — everything that needs a GPU, in one command, for a lent GPU
# machine (an H200 with the CUDA 13 toolkit and PyTorch, but no package
# registry). Finishes in under 8 minutes; see docs/gpu.md.
#
#   bash scripts/gpu-check.sh            (results in $OUT, default ./gpu-out)
#
# Steps, each with its own time limit inside an overall budget
# (GPU_CHECK_BUDGET seconds, default 450); a step that no longer fits is
# skipped and says so:
#   1. dependencies: Check, OpenBLAS and zlib come from the system when it
#      has them, else from the .deb files of .gpudeps/ (made here by
#      scripts/fetch-gpu-deps.sh and carried along), unpacked with dpkg -x
#      into a private prefix that CPATH, LIBRARY_PATH and LD_LIBRARY_PATH
#      point at; nothing is installed into the system;
#   2. build: the library (CUDA=1) and the Check runner; the fat binary must
#      hold sm_80 and sm_90 code (cuobjdump);
#   3. the CUDA-vs-CPU parity suite (tests/test_cuda.c) — on a GPU machine
#      "parity cases skipped" is a failure;
#   4. compute-sanitizer memcheck (and racecheck when time allows) over the
#      per-op parity cases, where the tool exists;
#   5. every unit suite (informative: AUTO now resolves to CUDA);
#   6. the example trainer on the GPU for about 200 steps of the D2L recipe
#      (batch 128, 96x96), reporting images/s; skipped if examples/train
#      cannot be built.
#   7. examples/bench and examples/bench_torch.py on the GPU (informative), if
#      the budget allows.
# Writes $OUT/gpu-summary.md (a table of the steps) and the logs beside it;
# exits non-zero when a step failed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
SUMMARY=$OUT/gpu-summary.md
BUDGET=${GPU_CHECK_BUDGET:-450}
JOBS=$(nproc 2>/dev/null || echo 4)
DEPS_DIR=${GPU_DEPS_DIR:-$ROOT/.gpudeps}
PREFIX=${GPU_DEPS_PREFIX:-/tmp/inc-gpudeps}
TEST_BIN=build/cuda1/tests/run
MAKE=(make -o deps-build CUDA=1 -j"$JOBS") # -o: the dpkg check of deps-build does not apply here
: >"$LOG"

ROWS=()
FAILED=0
row() { ROWS+=("| $1 | $2 | $3 | $4 |"); }
say() { echo "== [$SECONDS s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - SECONDS)); }

# run_step NAME MIN_SECONDS LIMIT LOGFILE CMD...: runs CMD under a timeout
# (LIMIT, cut to the budget left) unless fewer than MIN_SECONDS are left.
# Sets STEP_RESULT and STEP_SECONDS; returns the command's status (2 when
# skipped).
run_step() {
  local name=$1 need=$2 limit=$3 log=$4
  shift 4
  STEP_SECONDS=0
  if [ "$(left)" -lt "$need" ]; then
    STEP_RESULT="skipped (only $(left) s of the budget left)"
    say "$name: skipped, $(left) s left"
    return 2
  fi
  [ "$limit" -gt "$(left)" ] && limit=$(left)
  say "$name: $*"
  local t0=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  STEP_SECONDS=$((SECONDS - t0))
  case $rc in
  0) STEP_RESULT=pass ;;
  124 | 137) STEP_RESULT="FAIL (timed out after $limit s)" ;;
  *) STEP_RESULT="FAIL (exit $rc)" ;;
  esac
  say "$name: $STEP_RESULT in $STEP_SECONDS s"
  return $rc
}

# shellcheck disable=SC2317 # called through the EXIT trap
write_summary() {
  {
    echo "# libinception GPU check"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- source: $(git describe --always --dirty 2>/dev/null || echo 'unknown (no git metadata)')"
    echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || echo 'nvidia-smi unavailable')"
    echo "- nvcc: $(nvcc --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -1)"
    echo "- host: $(nproc 2>/dev/null) CPUs, $(gcc -dumpfullversion 2>/dev/null | sed 's/^/gcc /')"
    echo "- dependencies: ${DEPS_NOTE:-not resolved}"
    echo "- total time: $SECONDS s (budget $BUDGET s)"
    echo
    echo "| step | result | seconds | detail |"
    echo "| --- | --- | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
    echo
    if [ "$FAILED" = 0 ]; then echo "**Overall: PASS**"; else echo "**Overall: FAIL** (see the logs beside this file)"; fi
  } >"$SUMMARY"
}
trap write_summary EXIT

# ---- 1. dependencies ----------------------------------------------------------
export PATH=/usr/local/cuda/bin:$PATH
CC=${CC:-gcc}
probe() { # probe NAME SOURCE LIBS: can we compile and link against it?
  printf '%s\n' "$2" >"/tmp/inc-probe-$1.c"
  # shellcheck disable=SC2086 # LIBS is a list of flags
  "$CC" "/tmp/inc-probe-$1.c" -o "/tmp/inc-probe-$1" $3 >/dev/null 2>&1
}
have() { probe "$@" && echo yes || echo no; }
HAVE_BLAS=$(have blas '#include <cblas.h>
int main(void) { return (int)cblas_sdot(0, 0, 1, 0, 1); }' -lopenblas)
HAVE_CHECK=$(have check '#include <check.h>
int main(void) { return srunner_ntests_run(0); }' "-lcheck -lsubunit -lrt -lm -lpthread")
HAVE_ZLIB=$(have zlib '#include <zlib.h>
int main(void) { return zlibVersion()[0] == 0; }' -lz)
if [ "${GPU_DEPS_FORCE:-0}" = 1 ]; then # test the carried path on a machine that has it all
  HAVE_BLAS=no HAVE_CHECK=no HAVE_ZLIB=no
fi
DATA=/usr/share/datasets/fashion-mnist
DEPS_NOTE="system: openblas=$HAVE_BLAS check=$HAVE_CHECK zlib=$HAVE_ZLIB"
if ls "$DEPS_DIR"/*.deb >/dev/null 2>&1; then
  mkdir -p "$PREFIX"
  for deb in "$DEPS_DIR"/*.deb; do
    if command -v dpkg >/dev/null 2>&1; then
      dpkg -x "$deb" "$PREFIX"
    else # ar + tar, where dpkg is missing
      t=$(mktemp -d) && (cd "$t" && ar x "$deb" && tar -xf data.tar.* -C "$PREFIX") && rm -rf "$t"
    fi
  done
  # Links into the build machine's system (zlib's libz.so) dangle here; with
  # them gone the linker takes the static archive beside them.
  find "$PREFIX" -xtype l -delete
  L=$PREFIX/usr/lib/x86_64-linux-gnu
  I=$PREFIX/usr/include
  add() { local var=$1 dir=$2; export "$var=$dir${!var:+:${!var}}"; }
  if [ "$HAVE_CHECK" = no ] || [ "$HAVE_ZLIB" = no ]; then
    add CPATH "$I"; add LIBRARY_PATH "$L"; add LD_LIBRARY_PATH "$L"
  fi
  if [ "$HAVE_BLAS" = no ]; then
    add CPATH "$I/x86_64-linux-gnu/openblas-pthread"
    add LIBRARY_PATH "$L/openblas-pthread"
    add LD_LIBRARY_PATH "$L/openblas-pthread"
    add LD_LIBRARY_PATH "$L" # libgfortran5, libquadmath0
  fi
  [ -d "$DATA" ] || DATA=$PREFIX/usr/share/datasets/fashion-mnist
  DEPS_NOTE="$DEPS_NOTE; carried .debs unpacked into $PREFIX for the rest"
else
  DEPS_NOTE="$DEPS_NOTE; no $DEPS_DIR (run scripts/fetch-gpu-deps.sh before carrying)"
fi
# cuBLAS: the toolkit's, else the one PyTorch's wheels bring (versioned
# names only, so link names are made in a scratch folder).
CUDA_LIB=${CUDA_HOME:-/usr/local/cuda}/lib64
if ! ls "$CUDA_LIB"/libcublas.so >/dev/null 2>&1; then
  wheel=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)
  if [ -n "$wheel" ] && ls "$wheel"/libcublas.so.* >/dev/null 2>&1; then
    mkdir -p /tmp/inc-cublas
    for f in "$wheel"/libcublas.so.* "$wheel"/libcublasLt.so.*; do
      b=$(basename "$f")
      ln -sf "$f" "/tmp/inc-cublas/$b"
      ln -sf "$f" "/tmp/inc-cublas/${b%%.so.*}.so"
    done
    export LIBRARY_PATH=/tmp/inc-cublas${LIBRARY_PATH:+:$LIBRARY_PATH}
    export LD_LIBRARY_PATH=/tmp/inc-cublas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    DEPS_NOTE="$DEPS_NOTE; cuBLAS from $wheel"
  else
    DEPS_NOTE="$DEPS_NOTE; no libcublas.so in $CUDA_LIB"
  fi
fi
say "dependencies: $DEPS_NOTE"
say "CPATH=${CPATH:-} LIBRARY_PATH=${LIBRARY_PATH:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
nvidia-smi >>"$LOG" 2>&1 || say "nvidia-smi failed"

# ---- 2. build -------------------------------------------------------------------
if run_step "build library" 30 240 "$LOG" "${MAKE[@]}" lib; then
  so=$(find lib -name 'libinception.so.*.*.*' -type f | head -1)
  if command -v cuobjdump >/dev/null 2>&1 && [ -n "$so" ]; then
    cuobjdump --list-elf "$so" >"$OUT/fatbin.txt" 2>&1
    cuobjdump --list-ptx "$so" >>"$OUT/fatbin.txt" 2>&1
    n80=$(grep -c 'sm_80' "$OUT/fatbin.txt")
    n90=$(grep -c 'sm_90' "$OUT/fatbin.txt")
    if [ "$n80" -gt 0 ] && [ "$n90" -gt 0 ]; then
      row "build library" pass "$STEP_SECONDS" "fat binary: $n80 sm_80 and $n90 sm_90 entries (ELF + PTX)"
    else
      row "build library" FAIL "$STEP_SECONDS" "fat binary lacks sm_80 or sm_90 code (see fatbin.txt)"
      FAILED=1
    fi
  else
    row "build library" pass "$STEP_SECONDS" "cuobjdump not found: architectures not listed"
  fi
else
  row "build library" "$STEP_RESULT" "$STEP_SECONDS" "see gpu-check.log"
  FAILED=1
  exit 1
fi
if ! run_step "build tests" 20 180 "$LOG" "${MAKE[@]}" "$TEST_BIN"; then
  row "build tests" "$STEP_RESULT" "$STEP_SECONDS" "see gpu-check.log"
  FAILED=1
  exit 1
fi
row "build tests" pass "$STEP_SECONDS" "$TEST_BIN"

# ---- 3. parity ------------------------------------------------------------------
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
PAR=$OUT/parity.log
run_step "CUDA parity suite" 20 300 "$PAR" env CK_RUN_SUITE=cuda "$TEST_BIN"
res=$STEP_RESULT
dev=$(sed -n 's/^CUDA device: //p' "$PAR" | head -1)
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$PAR" | tail -1)
if grep -q 'CUDA parity cases skipped' "$PAR"; then
  res="FAIL (no GPU seen)"
  counts="$(grep 'CUDA parity cases skipped' "$PAR" | head -1)"
fi
[ "$res" = pass ] || FAILED=1
row "CUDA parity suite" "$res" "$STEP_SECONDS" "${counts:-no result}${dev:+; $dev}"

# ---- 4. compute-sanitizer -------------------------------------------------------
if command -v compute-sanitizer >/dev/null 2>&1; then
  SAN=$OUT/sanitizer.log
  for tool in memcheck racecheck; do
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    need=60
    [ "$tool" = racecheck ] && need=200 # only when the rest still fits
    echo "---- $tool" >>"$SAN"
    run_step "compute-sanitizer $tool" "$need" 150 "$SAN" env CK_RUN_SUITE=cuda CK_RUN_CASE=ops \
      CK_FORK=no compute-sanitizer --tool "$tool" "${extra[@]}" --error-exitcode 9 "$TEST_BIN"
    rc=$?
    summ=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$SAN" | tail -1 | sed 's/^=* *//')
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || FAILED=1
    row "compute-sanitizer $tool (per-op cases)" "$STEP_RESULT" "$STEP_SECONDS" "${summ:-no summary}"
  done
else
  row "compute-sanitizer" skipped 0 "tool not found"
fi

# ---- 5. every unit suite (informative) --------------------------------------------
ALL=$OUT/unit.log
run_step "all unit suites" 240 150 "$ALL" "$TEST_BIN"
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$ALL" | tail -1)
row "all unit suites (informative)" "$STEP_RESULT" "$STEP_SECONDS" "${counts:-no result}"

# ---- 6. the trainer ---------------------------------------------------------------
TR=$OUT/train.log
if [ "$(left)" -lt 90 ]; then
  row "trainer" skipped 0 "only $(left) s of the budget left"
elif "${MAKE[@]}" examples/train >>"$LOG" 2>&1 && [ -x examples/train ]; then
  rm -rf /tmp/inc-train-run
  run_step "trainer" 60 200 "$TR" examples/train --device cuda --preset d2l --epochs 1 \
    --limit 25600 --test-limit 2560 --data "$DATA" --out /tmp/inc-train-run --progress-every 25
  rc=$?
  ips=$(grep -oE '[0-9.]+ img/s' "$TR" | tail -1)
  epoch=$(grep -E '^epoch [0-9]+/[0-9]+ ' "$TR" | tail -1)
  cp /tmp/inc-train-run/metrics.csv "$OUT/" 2>/dev/null
  [ "$rc" = 0 ] || FAILED=1
  row "trainer: 200 steps, batch 128, 96x96, CUDA" "$STEP_RESULT" "$STEP_SECONDS" \
    "${ips:-no throughput line}${epoch:+; $epoch}"
else
  row "trainer" skipped 0 "examples/train could not be built (see gpu-check.log)"
fi

# ---- 7. benchmark against PyTorch on the GPU ----------------------------------------
# docs/performance.md: the same model, batch and size in examples/bench and
# examples/bench_torch.py, one after the other. Informative: a slow result
# is recorded, never a failure.
BE=$OUT/bench.log
if [ "$(left)" -lt 60 ]; then
  row "benchmark vs PyTorch" skipped 0 "only $(left) s of the budget left"
elif "${MAKE[@]}" examples/bench >>"$LOG" 2>&1 && [ -x examples/bench ]; then
  run_step "bench (libinception)" 30 90 "$BE" examples/bench --device cuda --steps 20 --warmup 3
  ours="$(grep -E '^(train|infer):' "$BE" | sed 's/  (.*//' | tr '\n' ' ')"
  row "bench: libinception, CUDA, 96x96, batch 128" "$STEP_RESULT" "$STEP_SECONDS" "$ours"
  if python3 -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    BT=$OUT/bench_torch.log
    run_step "bench (PyTorch)" 30 90 "$BT" python3 examples/bench_torch.py --device cuda \
      --steps 20 --warmup 3
    theirs=$(grep -E '^(PyTorch|train|infer):?' "$BT" | sed 's/  (.*//' | tr '\n' ' ')
    row "bench: PyTorch, CUDA, same settings" "$STEP_RESULT" "$STEP_SECONDS" "$theirs"
  else
    row "bench: PyTorch" skipped 0 "no PyTorch with CUDA on this machine"
  fi
else
  row "benchmark vs PyTorch" skipped 0 "examples/bench could not be built (see gpu-check.log)"
fi

exit "$FAILED"
