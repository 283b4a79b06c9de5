#!/usr/bin/env bash
# gpu-check.sh — everything that needs a GPU, in one command, for a lent GPU
# machine (an H200 with the CUDA 13 toolkit and PyTorch, but no package
# registry). The build, the parity suite and memcheck come first and end
# within GPU_CHECK_CORE seconds (default 240); the whole run keeps to
# GPU_CHECK_BUDGET seconds (default 450). See docs/gpu.md.
#
#   bash scripts/gpu-check.sh            (results in $OUT, default ./gpu-out)
#
# Everything it needs beyond the CUDA toolkit and PyTorch comes in one
# carried folder, .gpudeps/ (GPU_DEPS_DIR), filled by scripts/fetch-gpu-deps.sh
# on a machine with Debian's registry: the .deb files of Check and libsubunit
# (the test runner), OpenBLAS with its Fortran runtime (the CPU backend),
# zlib's headers (the example trainer) and the Fashion-MNIST data set (the
# trainer's input). Each is used only where the system lacks it: the .debs
# are unpacked with dpkg -x into a private prefix (GPU_DEPS_PREFIX, default
# /tmp/inc-gpudeps) that CPATH, LIBRARY_PATH and LD_LIBRARY_PATH point at;
# nothing is installed into the system.
#
# Steps, each with its own time limit; a step that no longer fits is skipped
# and says so:
#   1. dependencies: as above; the toolkit is nvcc's own (CUDA_HOME, else the
#      folder above the bin/ of `command -v nvcc`), and so is cuBLAS, else the
#      cuBLAS that PyTorch's wheels bring;
#   2. build (make CUDA=1 GEMM=openblas WERROR= CUDA_HOME=...: OpenBLAS is
#      what step 1 fetches; no -Werror with a foreign compiler): the library with its CUDA module lib/libinception-cuda.so.N
#      and the Check runner; the module's fat binary must hold sm_80 and sm_90
#      code (cuobjdump; lib/libinception.so.* when there is no module);
#   3. the CUDA-vs-CPU parity suites (tests/test_cuda.c, test_cuda_net.c) —
#      on a GPU machine "cases skipped" is a failure;
#   4. compute-sanitizer memcheck over the per-op parity cases, where the tool
#      exists; failed API calls are not counted (one case asks cudaMalloc for
#      1 PiB on purpose), and a tool that cannot run on this GPU or driver is
#      recorded as "unsupported on this machine", not as a failure;
#      -- steps 1-4 end within GPU_CHECK_CORE seconds --
#   5. every unit suite (informative: AUTO now resolves to CUDA);
#   6. the example trainer on the GPU for about 200 steps of the D2L recipe
#      (batch 128, 96x96), reporting images/s; skipped if examples/train
#      cannot be built;
#   7. examples/bench and examples/bench_torch.py on the GPU (informative), if
#      the budget allows;
#   8. compute-sanitizer racecheck over the per-op cases, if the budget allows.
# Tests and examples load the CUDA module named by INCEPTION_CUDA_MODULE
# ($ROOT/lib/libinception-cuda.so.N). Writes $OUT/gpu-summary.md (a table of
# the steps, rewritten after every step so that a run cut short still leaves
# one) and the logs beside it; exits non-zero when a step failed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
SUMMARY=$OUT/gpu-summary.md
BUDGET=${GPU_CHECK_BUDGET:-450}
CORE=${GPU_CHECK_CORE:-240}
[ "$CORE" -gt "$BUDGET" ] && CORE=$BUDGET
JOBS=$(nproc 2>/dev/null || echo 4)
DEPS_DIR=${GPU_DEPS_DIR:-$ROOT/.gpudeps}
PREFIX=${GPU_DEPS_PREFIX:-/tmp/inc-gpudeps}
TEST_BIN=build/cuda1/tests/run
V_MAJOR=$(sed -n 's/^#define INC_VERSION_MAJOR \([0-9]*\).*/\1/p' include/inception.h)
MODULE=lib/libinception-cuda.so.${V_MAJOR:-0}
: >"$LOG"

ROWS=()
FAILED=0
DONE=0
say() { echo "== [$SECONDS s] $*" | tee -a "$LOG"; }

# The summary's header lines, gathered once (write_summary runs after every
# step); HOST_INFO is filled in below, once the toolkit is known.
HOST_INFO=()
write_summary() {
  {
    echo "# libinception GPU check"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    printf '%s\n' "${HOST_INFO[@]}"
    echo "- dependencies: ${DEPS_NOTE:-not resolved}"
    echo "- total time: $SECONDS s (budget $BUDGET s; build, parity and memcheck within $CORE s)"
    echo
    echo "| step | result | seconds | detail |"
    echo "| --- | --- | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
    echo
    if [ "$DONE" = 0 ]; then
      echo "**Overall: unfinished** (the script stopped or was stopped after the rows above)"
    elif [ "$FAILED" = 0 ]; then
      echo "**Overall: PASS**"
    else
      echo "**Overall: FAIL** (see the logs beside this file)"
    fi
  } >"$SUMMARY"
}
row() {
  ROWS+=("| $1 | $2 | $3 | $4 |")
  write_summary
}
# shellcheck disable=SC2317 # called through the EXIT trap
finish() {
  DONE=1
  write_summary
}
trap finish EXIT

# Time: the core steps (build, parity, memcheck) run to the CORE deadline,
# the rest to the BUDGET; DEADLINE is the one that applies now.
DEADLINE=$CORE
left() { echo $((DEADLINE - SECONDS)); }

# run_step NAME MIN_SECONDS LIMIT LOGFILE CMD...: runs CMD under a timeout
# (LIMIT, cut to the time left before DEADLINE) unless fewer than
# MIN_SECONDS are left. Sets STEP_RESULT, STEP_SECONDS and STEP_SKIPPED;
# returns the command's status (2 when skipped).
run_step() {
  local name=$1 need=$2 limit=$3 log=$4
  shift 4
  STEP_SECONDS=0
  STEP_SKIPPED=0
  if [ "$(left)" -lt "$need" ]; then
    STEP_RESULT="skipped (only $(left) s of the time left)"
    STEP_SKIPPED=1
    say "$name: skipped, $(left) s left"
    return 2
  fi
  [ "$limit" -gt "$(left)" ] && limit=$(left)
  say "$name: $*"
  local t0=$SECONDS rc
  timeout --kill-after=5 "$limit" "$@" >>"$log" 2>&1
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

# ---- 1. dependencies ----------------------------------------------------------
# The CUDA toolkit: nvcc, and CUDA_HOME the folder above its bin/ (unless
# set), so that the build takes cuBLAS and the CUDA runtime from nvcc's own
# toolkit and cuobjdump and compute-sanitizer come from it too.
if [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
  NVCC=$CUDA_HOME/bin/nvcc
else
  NVCC=$(command -v nvcc 2>/dev/null)
  [ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
fi
if [ -z "${CUDA_HOME:-}" ] && [ -n "$NVCC" ]; then
  CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
fi
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
[ -d "$CUDA_HOME/bin" ] && export PATH=$CUDA_HOME/bin:$PATH
# -o deps-build: the dpkg check of deps-build does not apply here.
MAKE=(make -o deps-build CUDA=1 GEMM=openblas WERROR= "CUDA_HOME=$CUDA_HOME" -j"$JOBS")
[ -n "$NVCC" ] && MAKE+=("NVCC=$NVCC")
HOST_INFO=(
  "- source: $(git describe --always --dirty 2>/dev/null || echo 'unknown (no git metadata)')"
  "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || echo 'nvidia-smi unavailable')"
  "- nvcc: ${NVCC:-not found} $("${NVCC:-nvcc}" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -1); CUDA_HOME=$CUDA_HOME"
  "- host: $(nproc 2>/dev/null) CPUs, $(gcc -dumpfullversion 2>/dev/null | sed 's/^/gcc /')"
)
write_summary

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
CUDA_LIB=$CUDA_HOME/lib64
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
    DEPS_NOTE="$DEPS_NOTE; no libcublas.so in $CUDA_LIB nor in PyTorch's wheels"
  fi
else
  DEPS_NOTE="$DEPS_NOTE; cuBLAS from $CUDA_LIB"
fi
say "toolkit: nvcc=${NVCC:-not found} CUDA_HOME=$CUDA_HOME"
say "dependencies: $DEPS_NOTE"
say "CPATH=${CPATH:-} LIBRARY_PATH=${LIBRARY_PATH:-} LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
nvidia-smi >>"$LOG" 2>&1 || say "nvidia-smi failed"

# ---- 2. build -------------------------------------------------------------------
# One make for the library, its CUDA module and the test runner, so that the
# C files compile while nvcc works.
if run_step "build" 30 150 "$LOG" "${MAKE[@]}" lib "$TEST_BIN"; then
  fat=
  for f in lib/libinception-cuda.so.* lib/libinception.so.*.*.*; do
    [ -f "$f" ] && { fat=$f; break; }
  done
  if command -v cuobjdump >/dev/null 2>&1 && [ -n "$fat" ]; then
    cuobjdump --list-elf "$fat" >"$OUT/fatbin.txt" 2>&1
    cuobjdump --list-ptx "$fat" >>"$OUT/fatbin.txt" 2>&1
    n80=$(grep -c 'sm_80' "$OUT/fatbin.txt")
    n90=$(grep -c 'sm_90' "$OUT/fatbin.txt")
    if [ "$n80" -gt 0 ] && [ "$n90" -gt 0 ]; then
      row "build: library, CUDA module, test runner" pass "$STEP_SECONDS" \
        "$fat: $n80 sm_80 and $n90 sm_90 entries (ELF + PTX)"
    else
      row "build: library, CUDA module, test runner" FAIL "$STEP_SECONDS" \
        "$fat lacks sm_80 or sm_90 code (see fatbin.txt)"
      FAILED=1
    fi
  else
    row "build: library, CUDA module, test runner" pass "$STEP_SECONDS" \
      "cuobjdump not found or no library file: architectures not listed"
  fi
else
  row "build: library, CUDA module, test runner" "$STEP_RESULT" "$STEP_SECONDS" "see gpu-check.log"
  FAILED=1
  exit 1
fi
# The core looks for its CUDA module there first (src/module.c): the tests
# and examples load the module just built, whatever else the loader finds.
export INCEPTION_CUDA_MODULE=$ROOT/$MODULE
say "INCEPTION_CUDA_MODULE=$INCEPTION_CUDA_MODULE$([ -f "$MODULE" ] || echo ' (not built: the core holds the backend)')"

# ---- 3. parity ------------------------------------------------------------------
# Tests pin their thread counts so that results never depend on the machine.
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
PAR=$OUT/parity.log
# The per-op suite (cuda) and the network one (cuda_net: GoogLeNet step and
# a short training run against the CPU), one process each.
# shellcheck disable=SC2016 # $0 and $s belong to the inner shell
run_step "CUDA parity suites" 20 120 "$PAR" bash -c \
  'rc=0; for s in cuda cuda_net; do CK_RUN_SUITE=$s "$0" || rc=1; done; exit $rc' "$TEST_BIN"
res=$STEP_RESULT
dev=$(sed -n 's/^CUDA device: //p' "$PAR" | head -1)
counts=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$PAR" |
  awk '{p += $1; f += $3} END {if (NR) printf "%d passed, %d failed (cuda + cuda_net)", p, f}')
train=$(sed -n 's/^googlenet training: //p' "$PAR" | head -1)
if grep -qE 'CUDA (parity|network) cases skipped' "$PAR"; then
  res="FAIL (no GPU seen)"
  counts="$(grep -E 'CUDA (parity|network) cases skipped' "$PAR" | head -1)"
fi
PARITY_OK=0
if [ "$res" = pass ]; then PARITY_OK=1; else FAILED=1; fi
row "CUDA parity suites" "$res" "$STEP_SECONDS" "${counts:-no result}${dev:+; $dev}${train:+; training: $train}"

# ---- 4. compute-sanitizer memcheck ----------------------------------------------
SAN=$OUT/sanitizer.log
: >"$SAN"
SAN_UNSUPPORTED=
# The tool's own line (its lines start with "=========") saying it cannot
# run here: an unsupported GPU, driver or platform; or a target that ended
# before its first CUDA call although it ran fine without the tool.
unsupported_line() {
  grep -m1 -iE '^=+ .*(not supported|unsupported)' <<<"$1" && return 0
  [ "$PARITY_OK" = 1 ] &&
    grep -m1 -iE '^=+ .*terminated before first instrumented API call' <<<"$1"
}
# sanitize TOOL MIN_SECONDS LIMIT [OPTION...]: one compute-sanitizer run
# over the per-op parity cases (one process), and its row.
sanitize() {
  local tool=$1 need=$2 limit=$3 start rc part summ why res
  shift 3
  if ! command -v compute-sanitizer >/dev/null 2>&1; then
    row "compute-sanitizer $tool" skipped 0 "tool not found"
    return
  fi
  if [ -n "$SAN_UNSUPPORTED" ]; then
    row "compute-sanitizer $tool" skipped 0 "the tool is unsupported here: $SAN_UNSUPPORTED"
    return
  fi
  echo "---- $tool" >>"$SAN"
  start=$(wc -l <"$SAN")
  run_step "compute-sanitizer $tool" "$need" "$limit" "$SAN" env CK_RUN_SUITE=cuda CK_RUN_CASE=ops \
    CK_FORK=no compute-sanitizer --tool "$tool" --report-api-errors no "$@" --error-exitcode 9 \
    "$TEST_BIN"
  rc=$?
  res=$STEP_RESULT
  part=$(tail -n +"$((start + 1))" "$SAN")
  summ=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' <<<"$part" | tail -1 | sed 's/^=* *//')
  # Unsupported: nothing found, no timeout, the tool says it cannot run here,
  # and it failed or gave no summary (so it checked nothing).
  if [ "$STEP_SKIPPED" = 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ] &&
    ! grep -qE 'SUMMARY: [1-9]' <<<"$part" && { [ "$rc" != 0 ] || [ -z "$summ" ]; } &&
    why=$(unsupported_line "$part"); then
    res="unsupported on this machine"
    summ=${why#"${why%%[!= ]*}"} # without the tool's "========= " prefix
    SAN_UNSUPPORTED=$summ
  elif [ "$STEP_SKIPPED" = 1 ]; then
    summ="needs $need s"
  elif [ "$rc" != 0 ]; then
    FAILED=1
  fi
  row "compute-sanitizer $tool (per-op cases)" "$res" "$STEP_SECONDS" "${summ:-no summary}"
}
sanitize memcheck 30 150 --leak-check full

# ---- 5. every unit suite (informative) --------------------------------------------
DEADLINE=$BUDGET
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
  [ "$rc" = 0 ] || [ "$STEP_SKIPPED" = 1 ] || FAILED=1
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

# ---- 8. compute-sanitizer racecheck (when the budget allows) ---------------------
sanitize racecheck 120 150

exit "$FAILED"
