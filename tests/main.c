/*
 * main.c — the Check runner for every suite in tests/test_*.c.
 *
 * The suite constructors are found by the build (tests/tests.mk greps the
 * test files for "Suite *inc_test_suite_<name>(void)") and listed in the
 * generated suites.inc, so adding a suite needs no edit here.
 * CK_RUN_SUITE / CK_RUN_CASE (Check's own variables) select a subset.
 * The exit status is non-zero when a test fails or when no test ran,
 * except for one suite selected by name that has no cases on this machine
 * (the CUDA suites without a GPU or the emulated runtime; each prints why).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INC_SUITE(name) Suite *inc_test_suite_##name(void);
#include "suites.inc"
#undef INC_SUITE

int main(void)
{
  SRunner *sr = srunner_create(NULL);
#define INC_SUITE(name) srunner_add_suite(sr, inc_test_suite_##name());
#include "suites.inc"
#undef INC_SUITE
  srunner_run_all(sr, CK_NORMAL);
  int run = srunner_ntests_run(sr), failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  printf("%d passed, %d failed\n", run - failed, failed);
  if (run == 0) {
    const char *only = getenv("CK_RUN_SUITE"), *one_case = getenv("CK_RUN_CASE");
    int known = 0;
#define INC_SUITE(name) known |= only && !strcmp(only, #name);
#include "suites.inc"
#undef INC_SUITE
    if (known && !(one_case && one_case[0])) {
      printf("suite %s has no cases here (its line above says why)\n", only);
      return 0;
    }
    fprintf(stderr, "no test ran\n");
    return 1;
  }
  return failed ? 1 : 0;
}
