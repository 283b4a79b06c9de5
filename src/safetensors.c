/*
 * safetensors.c — the safetensors reader (strict, for untrusted files) and
 * the atomic writer. See safetensors.h for the format and the guarantees.
 *
 * The parser is a recursive descent over exactly the safetensors schema:
 * top object { name: entry, "__metadata__": {string: string} }, entry
 * { "dtype": "F32", "shape": [ints], "data_offsets": [begin, end] }
 * (or "I64": counts).
 * Anything else is INC_ERR_FORMAT with a message saying where.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "safetensors.h"

typedef struct parser {
  const char *s, *begin, *end;
  char *msg;
  size_t msg_cap;
  inc_status oom;
} parser;

/* Records a syntax error at the current position (or the pending OOM). */
static inc_status fail(parser *p, const char *what)
{
  if (p->oom != INC_OK) {
    snprintf(p->msg, p->msg_cap, "safetensors: out of host memory");
    return p->oom;
  }
  snprintf(p->msg, p->msg_cap, "safetensors header: %s at byte %ld", what,
           (long)(p->s - p->begin));
  return INC_ERR_FORMAT;
}

static void ws(parser *p)
{
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
    p->s++;
}

static int eat(parser *p, char c)
{
  ws(p);
  if (p->s < p->end && *p->s == c) {
    p->s++;
    return 1;
  }
  return 0;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Appends code point cp as UTF-8. */
static size_t put_utf8(char *o, unsigned cp)
{
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

static int read_hex4(parser *p, unsigned *out)
{
  if (p->end - p->s < 4) return 0;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p->s[i]);
    if (h < 0) return 0;
    v = v * 16 + (unsigned)h;
  }
  p->s += 4;
  *out = v;
  return 1;
}

/* Parses a JSON string into a new NUL-terminated buffer (no embedded NUL). */
static inc_status parse_string(parser *p, char **out)
{
  ws(p);
  if (p->s >= p->end || *p->s != '"') return fail(p, "expected a string");
  p->s++;
  const char *start = p->s;
  size_t cap = 1;
  while (p->s < p->end && *p->s != '"') { /* upper bound of the decoded size */
    if (*p->s == '\\') p->s++;
    p->s++;
    cap++;
  }
  if (p->s >= p->end) return fail(p, "unterminated string");
  char *o = (char *)inc__malloc(cap * 4 + 1);
  if (!o) {
    p->oom = INC_ERR_OUT_OF_MEMORY;
    return fail(p, "out of memory");
  }
  size_t n = 0;
  p->s = start;
  while (*p->s != '"') {
    unsigned char c = (unsigned char)*p->s++;
    if (c < 0x20) { inc__free(o); return fail(p, "control character in a string"); }
    if (c != '\\') { o[n++] = (char)c; continue; }
    char e = *p->s++;
    unsigned cp;
    switch (e) {
    case '"': o[n++] = '"'; break;
    case '\\': o[n++] = '\\'; break;
    case '/': o[n++] = '/'; break;
    case 'b': o[n++] = '\b'; break;
    case 'f': o[n++] = '\f'; break;
    case 'n': o[n++] = '\n'; break;
    case 'r': o[n++] = '\r'; break;
    case 't': o[n++] = '\t'; break;
    case 'u':
      if (!read_hex4(p, &cp)) { inc__free(o); return fail(p, "bad \\u escape"); }
      if (cp >= 0xd800 && cp < 0xdc00) {
        unsigned lo;
        if (p->end - p->s < 2 || p->s[0] != '\\' || p->s[1] != 'u') {
          inc__free(o);
          return fail(p, "lone surrogate in \\u escape");
        }
        p->s += 2;
        if (!read_hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff) {
          inc__free(o);
          return fail(p, "bad surrogate pair");
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      } else if (cp >= 0xdc00 && cp < 0xe000) {
        inc__free(o);
        return fail(p, "lone surrogate in \\u escape");
      }
      if (cp == 0) { inc__free(o); return fail(p, "NUL in a string"); }
      n += put_utf8(o + n, cp);
      break;
    default: inc__free(o); return fail(p, "bad escape in a string");
    }
  }
  p->s++; /* closing quote */
  o[n] = '\0';
  *out = o;
  return INC_OK;
}

/* A non-negative JSON integer that fits in int64 (no sign, fraction or
 * exponent: the schema has none). */
static inc_status parse_uint(parser *p, uint64_t *out)
{
  ws(p);
  if (p->s >= p->end || *p->s < '0' || *p->s > '9') return fail(p, "expected an integer");
  if (*p->s == '0' && p->s + 1 < p->end && p->s[1] >= '0' && p->s[1] <= '9')
    return fail(p, "leading zero in an integer");
  uint64_t v = 0;
  while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
    uint64_t d = (uint64_t)(*p->s - '0');
    if (v > ((uint64_t)INT64_MAX - d) / 10) return fail(p, "integer too large");
    v = v * 10 + d;
    p->s++;
  }
  if (p->s < p->end && (*p->s == '.' || *p->s == 'e' || *p->s == 'E'))
    return fail(p, "expected an integer, got a fraction");
  *out = v;
  return INC_OK;
}

/* [int, int, ...] with at most max values */
static inc_status parse_uint_array(parser *p, uint64_t *vals, int max, int *count)
{
  if (!eat(p, '[')) return fail(p, "expected '['");
  *count = 0;
  if (eat(p, ']')) return INC_OK;
  do {
    if (*count == max) return fail(p, "array too long");
    inc_status s = parse_uint(p, &vals[(*count)++]);
    if (s != INC_OK) return s;
  } while (eat(p, ','));
  if (!eat(p, ']')) return fail(p, "expected ']'");
  return INC_OK;
}

static inc_status parse_entry(parser *p, inc__st_entry *e)
{
  int have_dtype = 0, have_shape = 0, have_off = 0;
  if (!eat(p, '{')) return fail(p, "expected '{' for a tensor entry");
  if (!eat(p, '}')) {
    do {
      char *key;
      inc_status s = parse_string(p, &key);
      if (s != INC_OK) return s;
      if (!eat(p, ':')) { inc__free(key); return fail(p, "expected ':'"); }
      if (!strcmp(key, "dtype") && !have_dtype) {
        char *dt = NULL;
        s = parse_string(p, &dt);
        if (s == INC_OK && !strcmp(dt, "I64"))
          e->dtype = INC__ST_I64;
        else if (s == INC_OK && strcmp(dt, "F32")) {
          snprintf(p->msg, p->msg_cap,
                   "safetensors: tensor \"%s\" has dtype %.16s; only F32 and I64 are supported",
                   e->name, dt);
          s = INC_ERR_FORMAT;
        }
        inc__free(dt);
        have_dtype = 1;
      } else if (!strcmp(key, "shape") && !have_shape) {
        uint64_t v[INC_MAX_DIMS];
        s = parse_uint_array(p, v, INC_MAX_DIMS, &e->ndim);
        for (int i = 0; s == INC_OK && i < e->ndim; i++) e->shape[i] = (int64_t)v[i];
        have_shape = 1;
      } else if (!strcmp(key, "data_offsets") && !have_off) {
        uint64_t v[2];
        int n = 0;
        s = parse_uint_array(p, v, 2, &n);
        if (s == INC_OK && n != 2) s = fail(p, "data_offsets needs two values");
        e->begin = v[0];
        e->end = v[1];
        have_off = 1;
      } else {
        s = fail(p, "unknown or repeated field in a tensor entry");
      }
      inc__free(key);
      if (s != INC_OK) return s;
    } while (eat(p, ','));
    if (!eat(p, '}')) return fail(p, "expected '}' after a tensor entry");
  }
  if (!have_dtype || !have_shape || !have_off)
    return fail(p, "a tensor entry lacks dtype, shape or data_offsets");
  return INC_OK;
}

static inc_status parse_metadata(parser *p, inc__st_file *f)
{
  if (f->meta_keys) return fail(p, "duplicate __metadata__");
  if (!eat(p, '{')) return fail(p, "__metadata__ must be an object of strings");
  int cap = 8;
  f->meta_keys = (char **)inc__calloc((size_t)cap, sizeof(char *));
  f->meta_values = (char **)inc__calloc((size_t)cap, sizeof(char *));
  if (!f->meta_keys || !f->meta_values) {
    p->oom = INC_ERR_OUT_OF_MEMORY;
    return fail(p, "out of memory");
  }
  if (eat(p, '}')) return INC_OK;
  do {
    if (f->n_meta == cap) {
      cap *= 2;
      char **k = (char **)inc__realloc(f->meta_keys, (size_t)cap * sizeof(char *));
      if (k) f->meta_keys = k;
      char **v = k ? (char **)inc__realloc(f->meta_values, (size_t)cap * sizeof(char *)) : NULL;
      if (v) f->meta_values = v;
      if (!k || !v) {
        p->oom = INC_ERR_OUT_OF_MEMORY;
        return fail(p, "out of memory");
      }
    }
    char *k = NULL, *v = NULL;
    inc_status s = parse_string(p, &k);
    if (s != INC_OK) return s;
    if (!eat(p, ':')) { inc__free(k); return fail(p, "expected ':'"); }
    ws(p);
    if (p->s < p->end && *p->s != '"') { inc__free(k); return fail(p, "__metadata__ values must be strings"); }
    if ((s = parse_string(p, &v)) != INC_OK) { inc__free(k); return s; }
    f->meta_keys[f->n_meta] = k;
    f->meta_values[f->n_meta] = v;
    f->n_meta++;
  } while (eat(p, ','));
  if (!eat(p, '}')) return fail(p, "expected '}' after __metadata__");
  return INC_OK;
}

static int cmp_begin(const void *a, const void *b)
{
  const inc__st_entry *x = *(const inc__st_entry *const *)a, *y = *(const inc__st_entry *const *)b;
  return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Shapes, byte sizes and offsets: every tensor's range matches its shape
 * and the ranges tile [0, data_bytes) exactly. */
static inc_status check_layout(inc__st_file *f, char *msg, size_t cap)
{
  for (int i = 0; i < f->n; i++) {
    inc__st_entry *e = &f->entries[i];
    int64_t numel = 1;
    for (int d = 0; d < e->ndim; d++)
      if (inc__mul_overflow(numel, e->shape[d], &numel) || numel > INT64_MAX / 8) {
        snprintf(msg, cap, "safetensors: tensor \"%s\" is too large", e->name);
        return INC_ERR_FORMAT;
      }
    if (e->end < e->begin || e->end - e->begin != (uint64_t)numel * inc__st_dsize(e->dtype)) {
      snprintf(msg, cap,
               "safetensors: tensor \"%s\" spans bytes [%llu, %llu) but its shape needs %lld",
               e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
               (long long)numel * inc__st_dsize(e->dtype));
      return INC_ERR_FORMAT;
    }
  }
  inc__st_entry **order = (inc__st_entry **)inc__calloc((size_t)f->n + 1, sizeof *order);
  if (!order) {
    snprintf(msg, cap, "safetensors: out of host memory");
    return INC_ERR_OUT_OF_MEMORY;
  }
  for (int i = 0; i < f->n; i++) order[i] = &f->entries[i];
  qsort(order, (size_t)f->n, sizeof *order, cmp_begin);
  uint64_t at = 0;
  inc_status s = INC_OK;
  for (int i = 0; i < f->n && s == INC_OK; i++) {
    if (order[i]->begin != at) {
      snprintf(msg, cap,
               "safetensors: tensor \"%s\" starts at byte %llu; the data must be tiled "
               "without gaps or overlaps (expected %llu)",
               order[i]->name, (unsigned long long)order[i]->begin, (unsigned long long)at);
      s = INC_ERR_FORMAT;
    }
    at = order[i]->end;
  }
  if (s == INC_OK && at != f->data_bytes) {
    snprintf(msg, cap, "safetensors: tensors cover %llu bytes but the data section has %llu",
             (unsigned long long)at, (unsigned long long)f->data_bytes);
    s = INC_ERR_FORMAT;
  }
  inc__free(order);
  return s;
}

static inc_status parse_top(parser *p, inc__st_file *f)
{
  if (!eat(p, '{')) return fail(p, "the header must be a JSON object");
  int cap = 0;
  if (eat(p, '}')) goto done;
  do {
    char *key;
    inc_status s = parse_string(p, &key);
    if (s != INC_OK) return s;
    if (!eat(p, ':')) { inc__free(key); return fail(p, "expected ':'"); }
    if (!strcmp(key, "__metadata__")) {
      inc__free(key);
      if ((s = parse_metadata(p, f)) != INC_OK) return s;
      continue;
    }
    if (f->n == cap) {
      cap = cap ? cap * 2 : 64;
      inc__st_entry *e = (inc__st_entry *)inc__realloc(f->entries, (size_t)cap * sizeof *e);
      if (!e) { inc__free(key); p->oom = INC_ERR_OUT_OF_MEMORY; return fail(p, "out of memory"); }
      f->entries = e;
    }
    inc__st_entry *e = &f->entries[f->n++];
    memset(e, 0, sizeof *e);
    e->name = key;
    if ((s = parse_entry(p, e)) != INC_OK) return s;
  } while (eat(p, ','));
  if (!eat(p, '}')) return fail(p, "expected '}' at the end of the header");
done:
  ws(p);
  if (p->s != p->end) return fail(p, "trailing bytes after the header object");
  return INC_OK;
}

static int cmp_entry_name(const void *a, const void *b)
{
  return strcmp((*(const inc__st_entry *const *)a)->name, (*(const inc__st_entry *const *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts the names (O(n log n), so that a header of a million entries is no
 * denial of service) to find duplicates and to index inc__st_find. */
static inc_status index_names(inc__st_file *f, char *msg, size_t cap)
{
  f->by_name = (inc__st_entry **)inc__calloc((size_t)f->n + 1, sizeof *f->by_name);
  const char **keys = (const char **)inc__calloc((size_t)f->n_meta + 1, sizeof *keys);
  inc_status s = INC_OK;
  if (!f->by_name || !keys) {
    snprintf(msg, cap, "safetensors: out of host memory");
    s = INC_ERR_OUT_OF_MEMORY;
  }
  for (int i = 0; s == INC_OK && i < f->n; i++) f->by_name[i] = &f->entries[i];
  if (s == INC_OK) qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_entry_name);
  for (int i = 1; s == INC_OK && i < f->n; i++)
    if (!strcmp(f->by_name[i - 1]->name, f->by_name[i]->name)) {
      snprintf(msg, cap, "safetensors: duplicate tensor name \"%.200s\"", f->by_name[i]->name);
      s = INC_ERR_FORMAT;
    }
  for (int i = 0; s == INC_OK && i < f->n_meta; i++) keys[i] = f->meta_keys[i];
  if (s == INC_OK) qsort(keys, (size_t)f->n_meta, sizeof *keys, cmp_str);
  for (int i = 1; s == INC_OK && i < f->n_meta; i++)
    if (!strcmp(keys[i - 1], keys[i])) {
      snprintf(msg, cap, "safetensors: duplicate key \"%.200s\" in __metadata__", keys[i]);
      s = INC_ERR_FORMAT;
    }
  inc__free(keys);
  return s;
}

static uint64_t le64(const unsigned char *b)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
  return v;
}

inc_status inc__st_parse_header(const unsigned char *buf, size_t size, uint64_t data_bytes,
                                inc__st_file *out, char *msg, size_t msg_cap)
{
  memset(out, 0, sizeof *out);
  if (size < 8) {
    snprintf(msg, msg_cap, "safetensors: file of %zu bytes is too short", size);
    return INC_ERR_FORMAT;
  }
  uint64_t hlen = le64(buf);
  if (hlen < 2 || hlen > INC__ST_MAX_HEADER || hlen > size - 8) {
    snprintf(msg, msg_cap, "safetensors: header length %llu is out of bounds (file %zu bytes)",
             (unsigned long long)hlen, size);
    return INC_ERR_FORMAT;
  }
  const char *json = (const char *)buf + 8;
  parser p = {json, json, json + hlen, msg, msg_cap, INC_OK};
  inc_status s = parse_top(&p, out);
  out->data = buf + 8 + hlen;
  out->data_bytes = data_bytes;
  if (s == INC_OK) s = index_names(out, msg, msg_cap);
  if (s == INC_OK) s = check_layout(out, msg, msg_cap);
  if (s != INC_OK) inc__st_free(out);
  return s;
}

inc_status inc__st_parse(const unsigned char *buf, size_t size, inc__st_file *out, char *msg,
                         size_t msg_cap)
{
  uint64_t hlen = size >= 8 ? le64(buf) : 0;
  uint64_t data = (size >= 8 && hlen <= size - 8) ? size - 8 - hlen : 0;
  return inc__st_parse_header(buf, size, data, out, msg, msg_cap);
}

void inc__st_free(inc__st_file *f)
{
  for (int i = 0; i < f->n; i++) inc__free(f->entries[i].name);
  inc__free(f->entries);
  inc__free(f->by_name);
  for (int i = 0; i < f->n_meta; i++) {
    inc__free(f->meta_keys[i]);
    inc__free(f->meta_values[i]);
  }
  inc__free(f->meta_keys);
  inc__free(f->meta_values);
  memset(f, 0, sizeof *f);
}

const inc__st_entry *inc__st_find(const inc__st_file *f, const char *name)
{
  int lo = 0, hi = f->n; /* binary search of by_name */
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(f->by_name[mid]->name, name);
    if (!c) return f->by_name[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const char *inc__st_meta(const inc__st_file *f, const char *key)
{
  for (int i = 0; i < f->n_meta; i++)
    if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
  return NULL;
}
