/*
 * fuzz_common.h — what the fuzz targets of tests/fuzz/ share: the libFuzzer
 * entry point, an oracle check that crashes (so libFuzzer and the replay
 * runner record the input), and a per-process scratch file for the targets
 * that go through the file-reading API.
 *
 * Each target is built two ways (mk/reliability.mk): with clang
 * -fsanitize=fuzzer,address,undefined for `make fuzz`, and with gcc +
 * ASan/UBSan and tests/fuzz/replay.c as main() for `make check-fuzz-corpus`,
 * which runs every file of tests/fuzz/corpus/<corpus>/ through it.
 */
#ifndef INC_FUZZ_COMMON_H
#define INC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An oracle violation: say what and crash. */
#define FUZZ_CHECK(cond, ...)                                                                \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "fuzz oracle failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);       \
      fprintf(stderr, __VA_ARGS__);                                                          \
      fputc('\n', stderr);                                                                   \
      abort();                                                                               \
    }                                                                                        \
  } while (0)

/* A scratch file for this process (in /dev/shm when there is one), holding
 * the last input written. */
static inline const char *fuzz_scratch(const char *ext)
{
  static char path[256];
  if (!path[0]) {
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/inc-fuzz-%d%s", dir ? dir : "/tmp", (int)getpid(), ext);
  }
  return path;
}

static inline const char *fuzz_write(const uint8_t *data, size_t size, const char *ext)
{
  const char *p = fuzz_scratch(ext);
  FILE *f = fopen(p, "wb");
  FUZZ_CHECK(f != NULL, "cannot write %s", p);
  if (size) FUZZ_CHECK(fwrite(data, 1, size, f) == size, "short write to %s", p);
  FUZZ_CHECK(fclose(f) == 0, "close %s", p);
  return p;
}

#endif
