/*
 * version.c — the run-time version probe of make abi-check: the library
 * actually loaded must report the version of the header it was built from
 * (EXPECT_VERSION, "MAJOR.MINOR.PATCH", passed in by scripts/abi-check.sh
 * from the header's macros) through both inc_version_number() and
 * inc_version_string(), and the two must agree with each other.
 */
#include <stdio.h>
#include <string.h>
#include <inception.h>

#ifndef EXPECT_VERSION
#error "build with -DEXPECT_VERSION=\"MAJOR.MINOR.PATCH\""
#endif

#define STR2(x) #x
#define STR(x) STR2(x)

int main(void)
{
  const char *header = STR(INC_VERSION_MAJOR) "." STR(INC_VERSION_MINOR) "." STR(INC_VERSION_PATCH);
  unsigned number = inc_version_number();
  const char *string = inc_version_string();
  char from_number[32];
  snprintf(from_number, sizeof from_number, "%u.%u.%u", number / 10000, number / 100 % 100,
           number % 100);
  if (number != (unsigned)INC_VERSION_NUMBER || !string || strcmp(string, header) ||
      strcmp(string, EXPECT_VERSION) || strcmp(from_number, header)) {
    printf("version mismatch: header %s (INC_VERSION_NUMBER %u), expected %s, library "
           "inc_version_number() %u, inc_version_string() \"%s\"\n",
           header, (unsigned)INC_VERSION_NUMBER, EXPECT_VERSION, number, string ? string : "(null)");
    return 1;
  }
  printf("inc_version_number() %u and inc_version_string() \"%s\" agree with the header\n", number,
         string);
  return 0;
}
