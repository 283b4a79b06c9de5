/*
 * alloc.c — every host allocation of the library goes through here.
 *
 * One place to allocate makes allocation-failure testing possible: a build
 * with -DINC_FAULT_INJECTION counts allocations and can be told to fail the
 * k-th one, so tests can walk every failure point of a scenario and check
 * that each returns INC_ERR_OUT_OF_MEMORY and leaks nothing. The counter is
 * thread-local so the injection build keeps the no-shared-state rule.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#ifdef INC_FAULT_INJECTION
static _Thread_local long fault_at;    /* fail when count reaches this; 0 = never */
static _Thread_local long fault_count; /* allocations since arming */
static _Thread_local long io_at, io_count;

void inc__fault_arm_io(long k)
{
  io_at = k;
  io_count = 0;
}
int inc__fault_should_fail_io(void)
{
  io_count++;
  return io_at > 0 && io_count == io_at;
}

void inc__fault_arm(long k)
{
  fault_at = k;
  fault_count = 0;
}
long inc__fault_count(void) { return fault_count; }
int inc__fault_should_fail(void)
{
  fault_count++;
  return fault_at > 0 && fault_count == fault_at;
}
#else
void inc__fault_arm_io(long k) { (void)k; }
int inc__fault_should_fail_io(void) { return 0; }
void inc__fault_arm(long k) { (void)k; }
long inc__fault_count(void) { return 0; }
int inc__fault_should_fail(void) { return 0; }
#endif

void *inc__malloc(size_t bytes)
{
  if (inc__fault_should_fail()) return NULL;
  return malloc(bytes ? bytes : 1);
}

void *inc__calloc(size_t count, size_t size)
{
  if (inc__fault_should_fail()) return NULL;
  if (!count || !size) count = size = 1;
  return calloc(count, size);
}

void *inc__aligned_alloc(size_t align, size_t bytes)
{
  void *p = NULL;
  if (inc__fault_should_fail()) return NULL;
  return posix_memalign(&p, align, bytes ? bytes : 1) ? NULL : p;
}

void *inc__realloc(void *p, size_t bytes)
{
  if (inc__fault_should_fail()) return NULL;
  return realloc(p, bytes ? bytes : 1);
}

void inc__free(void *p) { free(p); }

char *inc__strdup(const char *s)
{
  size_t n = strlen(s) + 1;
  char *d = (char *)inc__malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

int inc__mul_overflow(int64_t a, int64_t b, int64_t *out)
{
  if (a < 0 || b < 0) return 1;
  if (a != 0 && b > INT64_MAX / a) return 1;
  *out = a * b;
  return 0;
}
