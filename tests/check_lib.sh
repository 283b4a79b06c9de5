# tests/check_lib.sh — what the shell tests share (sourced by
# tests/train_test.sh and tests/classify_test.sh): counters, `check
# DESCRIPTION COMMAND...` (passes when COMMAND succeeds) and `finish`, which
# prints "$CHECK_NAME: N passed, N failed" and exits with the result.
# shellcheck shell=bash
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() {
  local d=$1
  shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}
finish() {
  echo "$CHECK_NAME: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}
