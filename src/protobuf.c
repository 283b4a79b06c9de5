/*
 * protobuf.c — the small protobuf (proto2) writer behind the ONNX exporter
 * (src/onnx.c): varints, fixed32 floats, length-delimited strings and
 * nested messages, built in one growing host buffer (see protobuf.h).
 */
#include <string.h>
#include "protobuf.h"

int inc__pb_reserve(inc__pbuf *b, size_t more)
{
  if (b->oom) return 0;
  if (b->n + more <= b->cap) return 1;
  size_t cap = 2 * b->cap; /* doubling, but the first request exactly */
  if (cap < b->n + more) cap = b->n + more;
  unsigned char *q = (unsigned char *)inc__realloc(b->p, cap);
  if (!q) {
    b->oom = 1;
    return 0;
  }
  b->p = q;
  b->cap = cap;
  return 1;
}

static size_t varint_len(uint64_t v)
{
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) n++;
  return n;
}

static void put_varint(unsigned char *p, uint64_t v)
{
  for (; v >= 0x80; v >>= 7) *p++ = (unsigned char)(v | 0x80);
  *p = (unsigned char)v;
}

void inc__pb_varint(inc__pbuf *b, uint64_t v)
{
  if (!inc__pb_reserve(b, 10)) return;
  put_varint(b->p + b->n, v);
  b->n += varint_len(v);
}

void inc__pb_tag(inc__pbuf *b, int field, int wire)
{
  inc__pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

/* int32, int64 and enum fields: negative values as 10-byte two's complement */
void inc__pb_int(inc__pbuf *b, int field, int64_t v)
{
  inc__pb_tag(b, field, INC__PB_VARINT);
  inc__pb_varint(b, (uint64_t)v);
}

/* A float field: fixed32, little-endian. */
void inc__pb_float(inc__pbuf *b, int field, float v)
{
  uint32_t u;
  memcpy(&u, &v, 4);
  inc__pb_tag(b, field, INC__PB_FIXED32);
  if (!inc__pb_reserve(b, 4)) return;
  for (int i = 0; i < 4; i++) b->p[b->n++] = (unsigned char)(u >> (8 * i));
}

void inc__pb_string(inc__pbuf *b, int field, const char *s)
{
  size_t n = strlen(s);
  inc__pb_tag(b, field, INC__PB_LEN);
  inc__pb_varint(b, n);
  if (!inc__pb_reserve(b, n)) return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

/* A nested message: inc__pb_begin writes its tag and returns where its bytes
 * start; inc__pb_end moves them up to put their length in front. */
size_t inc__pb_begin(inc__pbuf *b, int field)
{
  inc__pb_tag(b, field, INC__PB_LEN);
  return b->n;
}

void inc__pb_end(inc__pbuf *b, size_t start)
{
  if (b->oom) return;
  size_t len = b->n - start, k = varint_len(len);
  if (!inc__pb_reserve(b, k)) return;
  memmove(b->p + start + k, b->p + start, len);
  put_varint(b->p + start, len);
  b->n += k;
}
