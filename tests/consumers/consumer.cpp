// consumer.cpp — libinception from C++: the public header must compile
// cleanly with g++ -std=c++11 -Wall -Wextra -Werror -pedantic, link through
// `pkg-config --libs libinception`, and work with RAII owners. Run by
// tests/consumers/run.sh (make check-consumers).
//
// Builds Inception(4, (4, 8), (2, 4), 4) + global average pooling + flatten
// + dense 5 on the CPU, checks shapes, the parameter table and an error,
// trains on a tiny synthetic problem and checks that the loss falls, and
// checks the dense layer's forward and backward against a reference
// computed here. Ends with "consumer++: N passed, N failed".
#include <inception.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

int passed = 0, failed = 0;

void check(bool ok, const std::string &what)
{
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  (ok ? passed : failed)++;
}

// Owners: destroy functions accept NULL, so plain function-pointer deleters do.
using Context = std::unique_ptr<inc_context, void (*)(inc_context *)>;
using Layer = std::unique_ptr<inc_layer, void (*)(inc_layer *)>;
using Tensor = std::unique_ptr<inc_tensor, void (*)(inc_tensor *)>;
using Optimizer = std::unique_ptr<inc_optimizer, void (*)(inc_optimizer *)>;

struct Error : std::runtime_error {
  inc_status status;
  Error(inc_status s, const std::string &msg)
      : std::runtime_error(std::string(inc_status_string(s)) + ": " + msg), status(s) {}
};

void ok_or_throw(inc_context *ctx, inc_status s)
{
  if (s != INC_OK) throw Error(s, inc_context_last_error(ctx));
}

Tensor make_tensor(inc_context *ctx, std::vector<int64_t> dims, const std::vector<float> &data)
{
  inc_tensor *t = nullptr;
  ok_or_throw(ctx, inc_tensor_create(ctx, static_cast<int>(dims.size()), dims.data(), &t));
  Tensor owner(t, inc_tensor_destroy);
  if (!data.empty())
    ok_or_throw(ctx, inc_tensor_copy_from_host(t, data.data(), static_cast<int64_t>(data.size())));
  return owner;
}

std::vector<float> to_host(inc_context *ctx, const inc_tensor *t)
{
  std::vector<float> v(static_cast<size_t>(inc_tensor_numel(t)));
  ok_or_throw(ctx, inc_tensor_copy_to_host(t, v.data(), static_cast<int64_t>(v.size())));
  return v;
}

// Appends a layer made by `make` to seq; the container owns it on success.
template <typename Make> void append(inc_context *ctx, inc_layer *seq, Make make)
{
  inc_layer *l = nullptr;
  ok_or_throw(ctx, make(&l));
  Layer owner(l, inc_layer_destroy);
  ok_or_throw(ctx, inc_sequential_append(seq, l));
  owner.release();
}

void dense_reference(inc_context *ctx)
{
  // dense 3 -> 2 on a batch of 2, weights set by hand
  inc_layer *raw = nullptr;
  ok_or_throw(ctx, inc_dense_create(ctx, 2, &raw));
  Layer dense(raw, inc_layer_destroy);
  Tensor x = make_tensor(ctx, {2, 3}, {1, 2, 3, -1, 0.5f, 2});
  int64_t in[2] = {2, 3}, out[INC_MAX_DIMS];
  int out_ndim = 0;
  ok_or_throw(ctx, inc_layer_infer_shape(dense.get(), 2, in, &out_ndim, out));
  inc_tensor *w = nullptr, *b = nullptr, *gw = nullptr, *gb = nullptr;
  const char *wname = nullptr;
  ok_or_throw(ctx, inc_layer_param(dense.get(), 0, &wname, &w, &gw));
  ok_or_throw(ctx, inc_layer_param(dense.get(), 1, nullptr, &b, &gb));
  const float wv[6] = {0.1f, -0.2f, 0.3f, 0.5f, 0.4f, -0.6f}, bv[2] = {0.05f, -0.1f};
  ok_or_throw(ctx, inc_tensor_copy_from_host(w, wv, 6));
  ok_or_throw(ctx, inc_tensor_copy_from_host(b, bv, 2));
  const inc_tensor *y = nullptr, *dx = nullptr;
  ok_or_throw(ctx, inc_layer_forward(dense.get(), x.get(), 1, &y));
  std::vector<float> yv = to_host(ctx, y), xv = to_host(ctx, x.get());
  Tensor dy = make_tensor(ctx, {2, 2}, {1, -1, 0.5f, 2});
  ok_or_throw(ctx, inc_layer_backward(dense.get(), dy.get(), &dx));
  std::vector<float> dxv = to_host(ctx, dx), gwv = to_host(ctx, gw), gbv = to_host(ctx, gb);
  const float dyv[4] = {1, -1, 0.5f, 2};
  double err = 0;
  for (int n = 0; n < 2; n++)
    for (int o = 0; o < 2; o++) {
      double ref = bv[o];
      for (int i = 0; i < 3; i++) ref += static_cast<double>(wv[o * 3 + i]) * xv[n * 3 + i];
      err = std::fmax(err, std::fabs(ref - yv[n * 2 + o]));
    }
  for (int n = 0; n < 2; n++)
    for (int i = 0; i < 3; i++) {
      double ref = 0;
      for (int o = 0; o < 2; o++) ref += static_cast<double>(dyv[n * 2 + o]) * wv[o * 3 + i];
      err = std::fmax(err, std::fabs(ref - dxv[n * 3 + i]));
    }
  for (int o = 0; o < 2; o++) {
    double refb = 0;
    for (int n = 0; n < 2; n++) refb += dyv[n * 2 + o];
    err = std::fmax(err, std::fabs(refb - gbv[o]));
    for (int i = 0; i < 3; i++) {
      double ref = 0;
      for (int n = 0; n < 2; n++) ref += static_cast<double>(dyv[n * 2 + o]) * xv[n * 3 + i];
      err = std::fmax(err, std::fabs(ref - gwv[o * 3 + i]));
    }
  }
  check(std::string(wname) == "weight" && err < 1e-5,
        "dense forward/backward match the reference (max error " + std::to_string(err) + ")");
}

void run()
{
  inc_context *raw = nullptr;
  inc_status s = inc_context_create(INC_BACKEND_CPU, &raw);
  Context ctx(raw, inc_context_destroy);
  if (s != INC_OK) throw Error(s, "inc_context_create");
  inc_context *c = ctx.get();
  ok_or_throw(c, inc_context_set_seed(c, 11));

  inc_layer *seq = nullptr;
  ok_or_throw(c, inc_sequential_create(c, &seq));
  Layer net(seq, inc_layer_destroy);
  append(c, seq, [c](inc_layer **o) { return inc_inception_create(c, 4, 4, 8, 2, 4, 4, o); });
  append(c, seq, [c](inc_layer **o) { return inc_global_avg_pool2d_create(c, o); });
  append(c, seq, [c](inc_layer **o) { return inc_flatten_create(c, o); });
  append(c, seq, [c](inc_layer **o) { return inc_dense_create(c, 5, o); });
  check(inc_layer_child_count(seq) == 4 && std::string(inc_layer_kind(inc_layer_child(seq, 0))) == "concat",
        "four children, the first a concat (the Inception block)");

  const int N = 10, C = 3, H = 6, W = 6, K = 5;
  std::vector<float> xs(static_cast<size_t>(N * C * H * W));
  std::vector<int32_t> labels(N);
  for (int n = 0; n < N; n++) {
    labels[n] = n % K;
    for (int i = 0; i < C * H * W; i++)
      xs[static_cast<size_t>(n * C * H * W + i)] =
          static_cast<float>(((n % K) + i / (H * W)) % K) * 0.7f + 0.05f * std::sin(1.7f * i + n);
  }
  Tensor x = make_tensor(c, {N, C, H, W}, xs);
  Tensor dlogits = make_tensor(c, {N, K}, {});
  inc_optimizer *o = nullptr;
  ok_or_throw(c, inc_sgd_create(c, 0.1f, 0.9f, 1e-4f, &o));
  Optimizer opt(o, inc_optimizer_destroy);
  float first = 0, last = 0;
  for (int step = 0; step < 30; step++) {
    const inc_tensor *y = nullptr;
    float loss = 0;
    ok_or_throw(c, inc_layer_forward(seq, x.get(), 1, &y));
    if (step == 0)
      check(inc_tensor_ndim(y) == 2 && inc_tensor_dim(y, 0) == N && inc_tensor_dim(y, 1) == K,
            "logits are (10, 5)");
    ok_or_throw(c, inc_softmax_cross_entropy(c, y, labels.data(), &loss, dlogits.get(), nullptr));
    ok_or_throw(c, inc_layer_backward(seq, dlogits.get(), nullptr));
    ok_or_throw(c, inc_optimizer_step(opt.get(), seq));
    (step == 0 ? first : last) = loss;
  }
  check(std::isfinite(last) && last < 0.5f * first,
        "loss falls: " + std::to_string(first) + " -> " + std::to_string(last));

  // an error surfaces as status + message, and the exception carries both
  try {
    Tensor wrong = make_tensor(c, {1, 2, H, W}, {});
    const inc_tensor *y = nullptr;
    ok_or_throw(c, inc_layer_forward(seq, wrong.get(), 0, &y));
    check(false, "a 2-channel input must fail");
  } catch (const Error &e) {
    check(e.status == INC_ERR_SHAPE && std::strstr(e.what(), "bound to 3 input channels"),
          std::string("error as exception: ") + e.what());
  }
  dense_reference(c);
}

} // namespace

int main()
{
  check(inc_version_number() == INC_VERSION_NUMBER,
        std::string("library ") + inc_version_string() + " matches the header");
  try {
    run();
  } catch (const std::exception &e) {
    check(false, std::string("unexpected: ") + e.what());
  }
  std::printf("consumer++: %d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
