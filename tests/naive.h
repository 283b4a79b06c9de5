/*
 * naive.h — float64 reference layers, finite differences and a per-suite
 * error summary, shared by test_layers.c and test_containers.c (the pooling
 * references also by the op table, op_cases.c; the summary part by
 * test_kernels.c).
 *
 * The references are written from the definitions (PyTorch semantics), with
 * no index trick shared with src/kernels.h, so that they can judge it:
 *   conv2d      y[n,o,i,j] = b[o] + sum_{c,u,v} w[o,c,u,v] x[n,c,i*sh-ph+u,j*sw-pw+v]
 *               (a square window: sh = sw = s, ph = pw = p; b may be absent)
 *   max_pool2d  max over the real pixels of the window (padding is -inf);
 *               the first maximum in row-major window order wins
 *   avg_pool2d  window sum / PyTorch's count_include_pad divisor
 *               (hend = min(hstart + k, H + p), hstart unclipped)
 *   dense       y[n,o] = b[o] + sum_f w[o,f] x[n,f]
 *
 * Gradients are checked against central differences of L = sum(y * r) taken
 * on these float64 references (exact up to ~1e-9 away from kinks, which the
 * tests keep at a known distance), never on float32 code, so the checks
 * cannot flake.
 *
 * The summary: Check forks every test, so the maxima live in a shared
 * anonymous mapping made by the suite constructor, and an atexit handler of
 * the runner process (not of the forked children) prints one line to stderr
 * when at least one case of the suite ran.
 */
#ifndef INC_TEST_NAIVE_H
#define INC_TEST_NAIVE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <check.h>

/* ---- the per-suite summary line --------------------------------------- */

#define NV_SLOTS 6

typedef struct nv_stats {
  pid_t parent;
  long cases;
  double max[NV_SLOTS];
  char suite[32];
  char label[NV_SLOTS][48];
  int nslots;
} nv_stats;

static nv_stats *nv_st;

static inline void nv_stats_print(void)
{
  if (!nv_st || getpid() != nv_st->parent || nv_st->cases == 0) return;
  fflush(stdout); /* keep the runner's own lines first */
  char line[512];
  size_t u = (size_t)snprintf(line, sizeof line, "%s:", nv_st->suite);
  for (int i = 0; i < nv_st->nslots && u < sizeof line; i++)
    u += (size_t)snprintf(line + u, sizeof line - u, "%s %s %.1e", i ? "," : "",
                          nv_st->label[i], nv_st->max[i]);
  if (u < sizeof line)
    snprintf(line + u, sizeof line - u, " over %ld case%s", nv_st->cases,
             nv_st->cases == 1 ? "" : "s");
  fprintf(stderr, "%s\n", line);
}

/* Called once from the suite constructor (in the runner process). labels
 * is a NULL-terminated list such as {"max |fwd err|", "max |grad err|"}. */
static inline void nv_stats_init(const char *suite, const char *const *labels)
{
  if (nv_st) return;
  void *p = mmap(NULL, sizeof(nv_stats), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) return; /* no summary then; the tests still run */
  nv_st = (nv_stats *)p;
  memset(nv_st, 0, sizeof *nv_st);
  nv_st->parent = getpid();
  snprintf(nv_st->suite, sizeof nv_st->suite, "%s", suite);
  for (int i = 0; labels[i] && i < NV_SLOTS; i++) {
    snprintf(nv_st->label[i], sizeof nv_st->label[i], "%s", labels[i]);
    nv_st->nslots = i + 1;
  }
  atexit(nv_stats_print);
}

static inline void nv_note(int slot, double v)
{
  if (nv_st && slot < nv_st->nslots && v > nv_st->max[slot]) nv_st->max[slot] = v;
}

static inline void nv_case_done(void)
{
  if (nv_st) nv_st->cases++;
}

/* ---- data ---------------------------------------------------------------- */

/* n distinct values in (-scale, scale), none closer than scale/n to another
 * or to zero, in a deterministic shuffled order: inputs for which max pooling
 * has no ties and ReLU no kink within scale/(2n) of any value. */
static inline void nv_distinct(float *v, int64_t n, uint64_t seed, float scale)
{
  int64_t *perm = (int64_t *)malloc((size_t)n * sizeof *perm);
  ck_assert_ptr_nonnull(perm);
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  uint64_t z = seed * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL;
  for (int64_t i = n - 1; i > 0; i--) {
    z ^= z << 13;
    z ^= z >> 7;
    z ^= z << 17;
    int64_t j = (int64_t)((z >> 11) % (uint64_t)(i + 1));
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (int64_t i = 0; i < n; i++)
    v[i] = (float)(scale * (((double)perm[i] + 0.25) * 2.0 / (double)n - 1.0));
  free(perm);
}

static inline double *nv_to_double(const float *f, int64_t n)
{
  double *d = (double *)malloc((size_t)(n ? n : 1) * sizeof *d);
  ck_assert_ptr_nonnull(d);
  for (int64_t i = 0; i < n; i++) d[i] = f[i];
  return d;
}

static inline int64_t nv_numel(int ndim, const int64_t *d)
{
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= d[i];
  return n;
}

/* Largest |a - ref|; fails the test when some element breaks
 * |a - ref| <= atol + rtol*|ref|, naming it. */
static inline double nv_check(const float *a, const double *ref, int64_t n, double atol,
                              double rtol, const char *what, const char *which)
{
  double worst = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - ref[i]);
    if (!(d <= atol + rtol * fabs(ref[i])))
      ck_abort_msg("%s: %s[%lld] = %.9g, expected %.9g (|err| %.3g > %.3g)", what, which,
                   (long long)i, (double)a[i], ref[i], d, atol + rtol * fabs(ref[i]));
    if (d > worst) worst = d;
  }
  return worst;
}

/* ---- references ------------------------------------------------------------ */

static inline int64_t nv_out(int64_t x, int k, int s, int p)
{
  return (x + 2 * (int64_t)p - k) / s + 1;
}

/* A window per axis: kernel, stride, padding along H ([0]) and W ([1]). */
typedef struct nv_win {
  int k[2], s[2], p[2];
} nv_win;

static inline nv_win nv_square(int k, int s, int p)
{
  nv_win q = {{k, k}, {s, s}, {p, p}};
  return q;
}

/* y (N, OC, OH, OW) = conv of x (N, C, H, W) with w (OC, C, KH, KW) and b
 * (OC; NULL: no bias), window q. */
static inline void nv_conv2d_win(double *y, const double *x, const double *w, const double *b,
                                 int64_t n, int64_t c, int64_t h, int64_t wd, int64_t oc,
                                 nv_win q)
{
  const int kh = q.k[0], kw = q.k[1];
  int64_t oh = nv_out(h, kh, q.s[0], q.p[0]), ow = nv_out(wd, kw, q.s[1], q.p[1]);
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t o = 0; o < oc; o++)
      for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++) {
          double acc = b ? b[o] : 0.0;
          for (int64_t ci = 0; ci < c; ci++)
            for (int u = 0; u < kh; u++) {
              int64_t hh = i * q.s[0] - q.p[0] + u;
              if (hh < 0 || hh >= h) continue;
              for (int v = 0; v < kw; v++) {
                int64_t ww = j * q.s[1] - q.p[1] + v;
                if (ww < 0 || ww >= wd) continue;
                acc += w[((o * c + ci) * kh + u) * kw + v] * x[((ni * c + ci) * h + hh) * wd + ww];
              }
            }
          y[((ni * oc + o) * oh + i) * ow + j] = acc;
        }
}

/* The same with a square window: w (OC, C, K, K), b (OC). */
static inline void nv_conv2d(double *y, const double *x, const double *w, const double *b,
                             int64_t n, int64_t c, int64_t h, int64_t wd, int64_t oc, int k, int s,
                             int p)
{
  nv_conv2d_win(y, x, w, b, n, c, h, wd, oc, nv_square(k, s, p));
}

/* Max pooling; arg (may be NULL) gets the flat input index of each maximum.
 * *margin (may be NULL) is lowered to the smallest gap between a window's
 * maximum and its runner-up (windows whose maximum is exactly 0 are skipped
 * when zero_ok: after a ReLU those carry no gradient either way). */
static inline void nv_maxpool(double *y, int64_t *arg, const double *x, int64_t n, int64_t c,
                              int64_t h, int64_t w, int k, int s, int p, double *margin,
                              int zero_ok)
{
  int64_t oh = nv_out(h, k, s, p), ow = nv_out(w, k, s, p);
  for (int64_t pl = 0; pl < n * c; pl++)
    for (int64_t i = 0; i < oh; i++)
      for (int64_t j = 0; j < ow; j++) {
        double best = -INFINITY, second = -INFINITY;
        int64_t bi = -1;
        for (int u = 0; u < k; u++) {
          int64_t hh = i * s - p + u;
          if (hh < 0 || hh >= h) continue;
          for (int v = 0; v < k; v++) {
            int64_t ww = j * s - p + v;
            if (ww < 0 || ww >= w) continue;
            double val = x[(pl * h + hh) * w + ww];
            if (bi < 0 || val > best) {
              second = best;
              best = val;
              bi = (pl * h + hh) * w + ww;
            } else if (val > second) {
              second = val;
            }
          }
        }
        y[(pl * oh + i) * ow + j] = best;
        if (arg) arg[(pl * oh + i) * ow + j] = bi;
        if (margin && second > -INFINITY && !(zero_ok && best == 0.0) && best - second < *margin)
          *margin = best - second;
      }
}

/* Average pooling with PyTorch's count_include_pad=True divisor, window q. */
static inline void nv_avgpool_win(double *y, const double *x, int64_t n, int64_t c, int64_t h,
                                  int64_t w, nv_win q)
{
  const int kh = q.k[0], kw = q.k[1], ph = q.p[0], pw = q.p[1];
  int64_t oh = nv_out(h, kh, q.s[0], ph), ow = nv_out(w, kw, q.s[1], pw);
  for (int64_t pl = 0; pl < n * c; pl++)
    for (int64_t i = 0; i < oh; i++)
      for (int64_t j = 0; j < ow; j++) {
        int64_t hs = i * q.s[0] - ph, ws = j * q.s[1] - pw;
        int64_t he = hs + kh < h + ph ? hs + kh : h + ph, we = ws + kw < w + pw ? ws + kw : w + pw;
        double div = (double)((he - hs) * (we - ws)), acc = 0.0;
        for (int64_t hh = hs; hh < he; hh++)
          for (int64_t ww = ws; ww < we; ww++)
            if (hh >= 0 && hh < h && ww >= 0 && ww < w) acc += x[(pl * h + hh) * w + ww];
        y[(pl * oh + i) * ow + j] = acc / div;
      }
}

/* The same over square windows. */
static inline void nv_avgpool(double *y, const double *x, int64_t n, int64_t c, int64_t h,
                              int64_t w, int k, int s, int p)
{
  nv_avgpool_win(y, x, n, c, h, w, nv_square(k, s, p));
}

static inline void nv_gap(double *y, const double *x, int64_t planes, int64_t hw)
{
  for (int64_t pl = 0; pl < planes; pl++) {
    double acc = 0.0;
    for (int64_t t = 0; t < hw; t++) acc += x[pl * hw + t];
    y[pl] = acc / (double)hw;
  }
}

/* y = max(x, 0); *margin (may be NULL) is lowered to the smallest |x|. */
static inline void nv_relu(double *y, const double *x, int64_t count, double *margin)
{
  for (int64_t i = 0; i < count; i++) {
    y[i] = x[i] > 0.0 ? x[i] : 0.0;
    if (margin && fabs(x[i]) < *margin) *margin = fabs(x[i]);
  }
}

/* y (N, OUT) = x (N, F) w^T + b. */
static inline void nv_dense(double *y, const double *x, const double *w, const double *b, int64_t n,
                     int64_t f, int64_t out)
{
  for (int64_t ni = 0; ni < n; ni++)
    for (int64_t o = 0; o < out; o++) {
      double acc = b ? b[o] : 0.0;
      for (int64_t j = 0; j < f; j++) acc += w[o * f + j] * x[ni * f + j];
      y[ni * out + o] = acc;
    }
}

/* ---- Winograd F(m x m, 3x3) ------------------------------------------------
 * The matrices of src/winograd_kernels.h in float64 (Toom-Cook at 0, 1, -1,
 * inf for m = 2 and 0, 1, -1, 1/2, -1/2, inf for m = 4; T = m + 2):
 * y = A^T [(G g G^T) .* (B^T d B)] A is the correlation of a T x T input
 * tile d with the 3x3 filter g (test_winograd.c checks that). The op table
 * judges each transform of the library against these in float64. */
typedef struct nv_wino_mats {
  int m, t;
  double bt[6][6], g[6][3], at[4][6];
} nv_wino_mats;

static inline const nv_wino_mats *nv_wino(int m)
{
  static const nv_wino_mats f2 = {
      2, 4,
      {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, -1, 0, 1}},
      {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
      {{1, 1, 1, 0}, {0, 1, -1, 1}}};
  static const nv_wino_mats f4 = {
      4, 6,
      {{1, 0, -5, 0, 4, 0}, {0, -1, -1, 4, 4, 0}, {0, 1, -1, -4, 4, 0},
       {0, -1, -2, 1, 2, 0}, {0, 1, -2, -1, 2, 0}, {0, 1, 0, -5, 0, 4}},
      {{1, 0, 0}, {1.0 / 6, 1.0 / 6, 1.0 / 6}, {1.0 / 6, -1.0 / 6, 1.0 / 6},
       {-4.0 / 3, -2.0 / 3, -1.0 / 3}, {-4.0 / 3, 2.0 / 3, -1.0 / 3}, {0, 0, 0.25}},
      {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 0.5, -0.5, 0}, {0, 1, 1, 0.25, 0.25, 0},
       {0, 1, -1, 0.125, -0.125, 1}}};
  return m == 2 ? &f2 : &f4;
}

/* out (r, r) = M in M^T for in (k, k), with M the (rows, cols) matrix mat
 * (row stride ld) when !trans (r = rows, k = cols), else its transpose. */
static inline void nv_wino_sandwich(double *out, const double *mat, int ld, int rows, int cols,
                                    int trans, const double *in)
{
  const int r = trans ? cols : rows, k = trans ? rows : cols;
#define NV_M(i, j) (trans ? mat[(j) * ld + (i)] : mat[(i) * ld + (j)])
  for (int i = 0; i < r; i++)
    for (int j = 0; j < r; j++) {
      double s = 0.0;
      for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) s += NV_M(i, a) * in[a * k + b] * NV_M(j, b);
      out[i * r + j] = s;
    }
#undef NV_M
}

/* The offset of plane (n, c) of an image (N, C, H, W), stored (C, N, H, W)
 * when cnhw. */
static inline int64_t nv_plane(int64_t n, int64_t c, int64_t nn, int64_t cc, int64_t hw, int cnhw)
{
  return (cnhw ? c * nn + n : n * cc + c) * hw;
}

/* ---- finite differences ------------------------------------------------------ */

/* L = sum(y * r) of the current buffers, as computed by the test. */
typedef double (*nv_loss_fn)(void *state);

/* g[i] = (L(v + eps e_i) - L(v - eps e_i)) / (2 eps), for i < n. */
static inline void nv_fd(double *g, double *v, int64_t n, double eps, nv_loss_fn loss, void *state)
{
  for (int64_t i = 0; i < n; i++) {
    double save = v[i];
    v[i] = save + eps;
    double lp = loss(state);
    v[i] = save - eps;
    double lm = loss(state);
    v[i] = save;
    g[i] = (lp - lm) / (2.0 * eps);
  }
}

static inline double nv_dot(const double *a, const double *b, int64_t n)
{
  double s = 0.0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

#endif
