/*
 * protobuf.h — a protobuf (proto2) writer for the subset the ONNX exporter
 * needs (src/onnx.c): varint and fixed32 fields, length-delimited strings
 * and nested messages. The whole message is built in one host buffer: a
 * nested message is written in place and its length, once known, moved in
 * front of it. After an allocation failure every call is a no-op and oom
 * stays set, so a writer checks once at the end.
 */
#ifndef INC_PROTOBUF_H
#define INC_PROTOBUF_H

#include "internal.h"

/* Wire types. */
enum { INC__PB_VARINT = 0, INC__PB_LEN = 2, INC__PB_FIXED32 = 5 };

typedef struct inc__pbuf {
  unsigned char *p;
  size_t n, cap;
  int oom; /* an allocation failed: every later call is a no-op */
} inc__pbuf;

/* Room for `more` bytes at the end: 1, or 0 after setting oom. */
int inc__pb_reserve(inc__pbuf *b, size_t more);
/* A bare varint; a field's tag (number, wire type). */
void inc__pb_varint(inc__pbuf *b, uint64_t v);
void inc__pb_tag(inc__pbuf *b, int field, int wire);
/* Fields: int32/int64/enum (negative values as 10-byte two's complement),
 * float (fixed32, little-endian), string (length-delimited). */
void inc__pb_int(inc__pbuf *b, int field, int64_t v);
void inc__pb_float(inc__pbuf *b, int field, float v);
void inc__pb_string(inc__pbuf *b, int field, const char *s);
/* A nested message: inc__pb_begin writes its tag and returns where its
 * bytes start; inc__pb_end moves them up to put their length in front. */
size_t inc__pb_begin(inc__pbuf *b, int field);
void inc__pb_end(inc__pbuf *b, size_t start);

#endif /* INC_PROTOBUF_H */
