/*
 * fixture.c — the safetensors reader of the test fixtures (see fixture.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fixture.h"

#define FX_MAX_HEADER (64u << 20) /* a sane bound on the JSON header */

typedef struct jp {
  const char *s, *end;
  char *err;
  size_t errcap;
} jp;

static int fail(jp *p, const char *fmt, ...)
{
  if (p->errcap && p->err[0] == '\0') {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errcap, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static void ws(jp *p)
{
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
    p->s++;
}

static int expect(jp *p, char c)
{
  ws(p);
  if (p->s >= p->end || *p->s != c) return fail(p, "header: expected '%c'", c);
  p->s++;
  return 0;
}

static int peek(jp *p, char c)
{
  ws(p);
  return p->s < p->end && *p->s == c;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses a JSON string into a new malloc'd, NUL-terminated UTF-8 string. */
static int parse_string(jp *p, char **out)
{
  *out = NULL;
  if (expect(p, '"')) return -1;
  size_t cap = 16, n = 0;
  char *b = (char *)malloc(cap);
  if (!b) return fail(p, "out of memory");
  for (;;) {
    if (p->s >= p->end) {
      free(b);
      return fail(p, "header: unterminated string");
    }
    unsigned char c = (unsigned char)*p->s++;
    char tmp[4];
    size_t k = 1;
    if (c == '"') break;
    if (c < 0x20) {
      free(b);
      return fail(p, "header: control character in string");
    }
    tmp[0] = (char)c;
    if (c == '\\') {
      if (p->s >= p->end) {
        free(b);
        return fail(p, "header: bad escape");
      }
      char e = *p->s++;
      switch (e) {
      case '"': case '\\': case '/': tmp[0] = e; break;
      case 'b': tmp[0] = '\b'; break;
      case 'f': tmp[0] = '\f'; break;
      case 'n': tmp[0] = '\n'; break;
      case 'r': tmp[0] = '\r'; break;
      case 't': tmp[0] = '\t'; break;
      case 'u': {
        unsigned v = 0;
        for (int i = 0; i < 4; i++) {
          int h = p->s < p->end ? hexval(*p->s) : -1;
          if (h < 0) {
            free(b);
            return fail(p, "header: bad \\u escape");
          }
          v = v * 16 + (unsigned)h;
          p->s++;
        }
        if (v == 0 || (v >= 0xD800 && v <= 0xDFFF)) { /* no NULs, no surrogate pairs */
          free(b);
          return fail(p, "header: unsupported \\u escape");
        }
        if (v < 0x80) {
          tmp[0] = (char)v;
        } else if (v < 0x800) {
          tmp[0] = (char)(0xC0 | (v >> 6));
          tmp[1] = (char)(0x80 | (v & 0x3F));
          k = 2;
        } else {
          tmp[0] = (char)(0xE0 | (v >> 12));
          tmp[1] = (char)(0x80 | ((v >> 6) & 0x3F));
          tmp[2] = (char)(0x80 | (v & 0x3F));
          k = 3;
        }
        break;
      }
      default:
        free(b);
        return fail(p, "header: bad escape");
      }
    }
    if (n + k + 1 > cap) {
      cap *= 2;
      char *nb = (char *)realloc(b, cap);
      if (!nb) {
        free(b);
        return fail(p, "out of memory");
      }
      b = nb;
    }
    memcpy(b + n, tmp, k);
    n += k;
  }
  b[n] = '\0';
  *out = b;
  return 0;
}

/* A non-negative JSON integer (no fraction or exponent) below 2^53. */
static int parse_uint(jp *p, int64_t *out)
{
  ws(p);
  int64_t v = 0;
  int digits = 0;
  while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
    if (v > ((int64_t)1 << 53) / 10) return fail(p, "header: integer too large");
    v = v * 10 + (*p->s++ - '0');
    digits++;
  }
  if (!digits) return fail(p, "header: expected a non-negative integer");
  if (p->s < p->end && (*p->s == '.' || *p->s == 'e' || *p->s == 'E'))
    return fail(p, "header: expected an integer");
  *out = v;
  return 0;
}

/* [u, u, ...] into v (at most max); *n gets the count. */
static int parse_uint_array(jp *p, int64_t *v, int max, int *n)
{
  *n = 0;
  if (expect(p, '[')) return -1;
  if (peek(p, ']')) {
    p->s++;
    return 0;
  }
  for (;;) {
    if (*n >= max) return fail(p, "header: array longer than %d", max);
    if (parse_uint(p, &v[*n])) return -1;
    (*n)++;
    if (peek(p, ',')) {
      p->s++;
      continue;
    }
    return expect(p, ']');
  }
}

typedef struct entry {
  fx_tensor t;
  int64_t begin, end;
} entry;

static int parse_tensor(jp *p, entry *e)
{
  int have_dtype = 0, have_shape = 0, have_off = 0;
  if (expect(p, '{')) return -1;
  if (peek(p, '}')) return fail(p, "tensor %s: empty entry", e->t.name);
  for (;;) {
    char *key = NULL;
    if (parse_string(p, &key) || expect(p, ':')) {
      free(key);
      return -1;
    }
    int r = 0;
    if (!strcmp(key, "dtype")) {
      char *dt = NULL;
      r = parse_string(p, &dt);
      if (!r && strcmp(dt, "F32"))
        r = fail(p, "tensor %s: dtype %s (only F32 is supported)", e->t.name, dt);
      free(dt);
      have_dtype = 1;
    } else if (!strcmp(key, "shape")) {
      r = parse_uint_array(p, e->t.dims, FX_MAX_DIMS, &e->t.ndim);
      have_shape = 1;
    } else if (!strcmp(key, "data_offsets")) {
      int64_t o[2];
      int n = 0;
      r = parse_uint_array(p, o, 2, &n);
      if (!r && n != 2) r = fail(p, "tensor %s: data_offsets needs 2 values", e->t.name);
      e->begin = o[0];
      e->end = o[1];
      have_off = 1;
    } else {
      r = fail(p, "tensor %s: unknown key %s", e->t.name, key);
    }
    free(key);
    if (r) return -1;
    if (peek(p, ',')) {
      p->s++;
      continue;
    }
    if (expect(p, '}')) return -1;
    break;
  }
  if (!have_dtype || !have_shape || !have_off)
    return fail(p, "tensor %s: dtype, shape and data_offsets are required", e->t.name);
  if (e->t.ndim < 1) return fail(p, "tensor %s: scalars are not supported", e->t.name);
  int64_t numel = 1;
  for (int i = 0; i < e->t.ndim; i++) {
    if (e->t.dims[i] < 1) return fail(p, "tensor %s: dimension %d is 0", e->t.name, i);
    if (numel > (((int64_t)1 << 40) / e->t.dims[i]))
      return fail(p, "tensor %s: too many elements", e->t.name);
    numel *= e->t.dims[i];
  }
  e->t.numel = numel;
  if (e->begin > e->end || e->end - e->begin != numel * 4)
    return fail(p, "tensor %s: data_offsets [%lld, %lld] do not fit %lld floats", e->t.name,
                (long long)e->begin, (long long)e->end, (long long)numel);
  return 0;
}

static int parse_metadata(jp *p, fx_file *f)
{
  if (expect(p, '{')) return -1;
  if (peek(p, '}')) {
    p->s++;
    return 0;
  }
  for (;;) {
    char *k = NULL, *v = NULL;
    if (parse_string(p, &k) || expect(p, ':') || parse_string(p, &v)) {
      free(k);
      free(v);
      return -1;
    }
    char **nk = (char **)realloc(f->meta_keys, (size_t)(f->meta_count + 1) * sizeof *nk);
    if (nk) f->meta_keys = nk;
    char **nv = (char **)realloc(f->meta_values, (size_t)(f->meta_count + 1) * sizeof *nv);
    if (nv) f->meta_values = nv;
    if (!nk || !nv) {
      free(k);
      free(v);
      return fail(p, "out of memory");
    }
    for (int i = 0; i < f->meta_count; i++)
      if (!strcmp(f->meta_keys[i], k)) {
        fail(p, "metadata: duplicate key %s", k);
        free(k);
        free(v);
        return -1;
      }
    f->meta_keys[f->meta_count] = k;
    f->meta_values[f->meta_count] = v;
    f->meta_count++;
    if (peek(p, ',')) {
      p->s++;
      continue;
    }
    return expect(p, '}');
  }
}

static int cmp_entry(const void *a, const void *b)
{
  const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

void fx_free(fx_file *f)
{
  if (!f) return;
  for (int i = 0; i < f->count; i++) {
    free(f->tensors[i].name);
    free(f->tensors[i].data);
  }
  free(f->tensors);
  for (int i = 0; i < f->meta_count; i++) {
    free(f->meta_keys[i]);
    free(f->meta_values[i]);
  }
  free(f->meta_keys);
  free(f->meta_values);
  free(f);
}

fx_file *fx_read(const char *path, char *err, size_t errcap)
{
  jp p;
  memset(&p, 0, sizeof p);
  char dummy[1];
  p.err = errcap ? err : dummy;
  p.errcap = errcap;
  if (errcap) err[0] = '\0';

  fx_file *f = NULL;
  entry *ents = NULL;
  entry **order = NULL;
  int nent = 0;
  unsigned char *buf = NULL;
  long size = 0;

  FILE *fp = fopen(path, "rb");
  if (!fp) {
    fail(&p, "%s: %s", path, strerror(errno));
    return NULL;
  }
  if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
  if (size < 8 || fseek(fp, 0, SEEK_SET) != 0) {
    fclose(fp);
    fail(&p, "%s: too short for a safetensors file", path);
    return NULL;
  }
  buf = (unsigned char *)malloc((size_t)size);
  if (!buf || fread(buf, 1, (size_t)size, fp) != (size_t)size) {
    fclose(fp);
    free(buf);
    fail(&p, "%s: cannot read %ld bytes", path, size);
    return NULL;
  }
  fclose(fp);

  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
  if (hlen == 0 || hlen > FX_MAX_HEADER || hlen > (uint64_t)size - 8) {
    fail(&p, "%s: header length %llu does not fit the file (%ld bytes)", path,
         (unsigned long long)hlen, size);
    goto out;
  }
  const unsigned char *data = buf + 8 + hlen;
  int64_t data_size = (int64_t)((uint64_t)size - 8 - hlen);
  p.s = (const char *)buf + 8;
  p.end = p.s + hlen;

  f = (fx_file *)calloc(1, sizeof *f);
  if (!f) {
    fail(&p, "out of memory");
    goto out;
  }
  if (expect(&p, '{')) goto bad;
  if (!peek(&p, '}')) {
    int have_meta = 0;
    for (;;) {
      char *name = NULL;
      if (parse_string(&p, &name) || expect(&p, ':')) {
        free(name);
        goto bad;
      }
      if (!strcmp(name, "__metadata__")) {
        free(name);
        if (have_meta) {
          fail(&p, "header: two __metadata__ entries");
          goto bad;
        }
        have_meta = 1;
        if (parse_metadata(&p, f)) goto bad;
      } else {
        for (int i = 0; i < nent; i++)
          if (!strcmp(ents[i].t.name, name)) {
            fail(&p, "header: duplicate tensor %s", name);
            free(name);
            goto bad;
          }
        entry *ne = (entry *)realloc(ents, (size_t)(nent + 1) * sizeof *ne);
        if (!ne) {
          free(name);
          fail(&p, "out of memory");
          goto bad;
        }
        ents = ne;
        memset(&ents[nent], 0, sizeof ents[nent]);
        ents[nent].t.name = name;
        nent++;
        if (parse_tensor(&p, &ents[nent - 1])) goto bad;
        if (ents[nent - 1].end > data_size) {
          fail(&p, "tensor %s: data_offsets end %lld beyond the data section (%lld bytes)",
               name, (long long)ents[nent - 1].end, (long long)data_size);
          goto bad;
        }
      }
      if (peek(&p, ',')) {
        p.s++;
        continue;
      }
      break;
    }
  }
  if (expect(&p, '}')) goto bad;
  ws(&p);
  if (p.s != p.end) {
    fail(&p, "header: trailing bytes after the JSON object");
    goto bad;
  }
  /* No two tensors may share bytes. */
  if (nent) {
    order = (entry **)malloc((size_t)nent * sizeof *order);
    if (!order) {
      fail(&p, "out of memory");
      goto bad;
    }
    for (int i = 0; i < nent; i++) order[i] = &ents[i];
    qsort(order, (size_t)nent, sizeof *order, cmp_entry);
    for (int i = 1; i < nent; i++)
      if (order[i]->begin < order[i - 1]->end) {
        fail(&p, "tensors %s and %s overlap", order[i - 1]->t.name, order[i]->t.name);
        goto bad;
      }
  }
  f->tensors = (fx_tensor *)calloc((size_t)(nent ? nent : 1), sizeof *f->tensors);
  if (!f->tensors) {
    fail(&p, "out of memory");
    goto bad;
  }
  for (int i = 0; i < nent; i++) {
    fx_tensor *t = &f->tensors[i];
    *t = ents[i].t;
    ents[i].t.name = NULL; /* now owned by f */
    f->count = i + 1;
    t->data = (float *)malloc((size_t)t->numel * sizeof(float));
    if (!t->data) {
      fail(&p, "out of memory");
      goto bad;
    }
    const unsigned char *src = data + ents[i].begin;
    for (int64_t j = 0; j < t->numel; j++) {
      uint32_t u = (uint32_t)src[4 * j] | (uint32_t)src[4 * j + 1] << 8 |
                   (uint32_t)src[4 * j + 2] << 16 | (uint32_t)src[4 * j + 3] << 24;
      memcpy(&t->data[j], &u, sizeof u);
    }
  }
  goto out;
bad:
  if (errcap && err[0] != '\0' && strncmp(err, path, strlen(path)) != 0) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s: %s", path, err);
    snprintf(err, errcap, "%s", tmp);
  }
  fx_free(f);
  f = NULL;
out:
  for (int i = 0; i < nent; i++) free(ents[i].t.name);
  free(ents);
  free(order);
  free(buf);
  return f;
}

fx_file *fx_open(const char *name, char *err, size_t errcap)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", INC_FIXTURE_DIR, name);
  return fx_read(path, err, errcap);
}

const fx_tensor *fx_get(const fx_file *f, const char *name)
{
  if (!f) return NULL;
  for (int i = 0; i < f->count; i++)
    if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
  return NULL;
}

const char *fx_meta(const fx_file *f, const char *key)
{
  if (!f) return NULL;
  for (int i = 0; i < f->meta_count; i++)
    if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
  return NULL;
}
