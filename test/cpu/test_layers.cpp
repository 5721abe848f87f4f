// Every CPU layer: finite-difference gradients, hand-computed values, modes, determinism and
// the errors bad input produces.
#include "gradcheck.hpp"

#include <tspipe/cpu/layers/activations.hpp>
#include <tspipe/cpu/layers/attention.hpp>
#include <tspipe/cpu/layers/batchnorm.hpp>
#include <tspipe/cpu/layers/conv2d.hpp>
#include <tspipe/cpu/layers/dropout.hpp>
#include <tspipe/cpu/layers/layernorm.hpp>
#include <tspipe/cpu/layers/linear.hpp>
#include <tspipe/cpu/layers/patch_embed.hpp>
#include <tspipe/cpu/layers/pooling.hpp>
#include <tspipe/cpu/layers/reshape.hpp>
#include <tspipe/cpu/layers/softmax.hpp>

#include <doctest/doctest.h>

using namespace tspipe;
using namespace tspipe::cpu;
using tspipe::test::bit_equal;
using tspipe::test::check_gradients;
using B = cpu::Backend;

namespace {
// Finite differences are wrong across a kink (ReLU at 0, a max-pool window whose two largest
// values swap). These inputs keep every value, and every gap between values, far above ε.
Tensor away_from_zero(Tensor x) {
  for (float& v : x.span()) v += v >= 0.0f ? 0.1f : -0.1f;
  return x;
}
Tensor distinct_values(nn::Shape shape, uint64_t seed) {
  Tensor x(std::move(shape));
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = 0.05f * static_cast<float>(i);
  nn::Rng rng(seed);
  for (int64_t i = x.numel() - 1; i > 0; --i) std::swap(x[i], x[static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(i + 1))]);
  return x;
}
}  // namespace

TEST_CASE("Linear: hand-computed output and gradients") {
  Linear fc(2, 2, true, 1, "fc");
  fc.weight = Tensor::from({2, 2}, {1, 2, 3, 4});
  fc.bias = Tensor::from({2}, {0.5f, -1});
  const Tensor x = Tensor::from({1, 2}, {1, -1});
  auto [y, ctx] = fc.forward(x);
  CHECK(y[0] == doctest::Approx(-0.5));  // 1 − 2 + 0.5
  CHECK(y[1] == doctest::Approx(-2.0));  // 3 − 4 − 1
  const Tensor dx = fc.backward(ctx, Tensor::from({1, 2}, {1, 1}));
  CHECK(dx[0] == doctest::Approx(4.0));  // column sums of W
  CHECK(dx[1] == doctest::Approx(6.0));
  CHECK(fc.weight_grad[0] == doctest::Approx(1.0));
  CHECK(fc.weight_grad[1] == doctest::Approx(-1.0));
  CHECK(fc.bias_grad[1] == doctest::Approx(1.0));
}

TEST_CASE("Linear: gradients on [N, T, D] input, accumulation, split backward") {
  Linear fc(5, 3, true, 3, "fc");
  const Tensor x = Tensor::randn({2, 4, 5}, 11);
  check_gradients(fc, x);

  fc.zero_grad();
  const Tensor dy = Tensor::randn({2, 4, 3}, 12);
  auto [y, ctx] = fc.forward(x);
  const Tensor dx_full = fc.backward(ctx, dy);
  const Tensor once = fc.weight_grad.clone();
  auto [y2, ctx2] = fc.forward(x);
  const Tensor dx_in = fc.backward_input(ctx2, dy);
  fc.backward_weight(ctx2, dy);
  CHECK(bit_equal(dx_full, dx_in));
  for (int64_t i = 0; i < once.numel(); ++i) CHECK(fc.weight_grad[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("Conv2d: gradients with stride, padding and dilation") {
  for (auto [k, s, p, d] : {std::array<int64_t, 4>{3, 1, 1, 1}, {3, 2, 1, 1}, {3, 1, 2, 2}, {1, 1, 0, 1},
                            {1, 2, 0, 1}, {5, 2, 2, 1}}) {
    CAPTURE(k);
    CAPTURE(s);
    CAPTURE(p);
    CAPTURE(d);
    Conv2d conv(nn::Conv2dOptions{3, 4, k, s, p, d, true}, 5, "conv");
    check_gradients(conv, Tensor::randn({2, 3, 7, 6}, 21));
  }
}

TEST_CASE("Conv2d: hand-computed 3x3 box filter with zero padding") {
  Conv2d conv(nn::Conv2dOptions{1, 1, 3, 1, 1, 1, false}, 1, "box");
  conv.weight.fill(1.0f);
  const Tensor x = Tensor::full({1, 1, 3, 3}, 1.0f);
  const Tensor y = conv.infer(x);
  CHECK(y.shape() == nn::Shape{1, 1, 3, 3});
  CHECK(y[0] == 4.0f);  // corner sees 4 pixels
  CHECK(y[1] == 6.0f);  // edge sees 6
  CHECK(y[4] == 9.0f);  // centre sees 9
}

// The convolution runs one GEMM per group of images (several images' columns side by side,
// scattered back to NCHW), one per image straight into the output when an image has enough
// pixels, and uses the image itself as the column matrix for a 1×1 stride-1 convolution then.
// Each case below takes a different one of those paths (and a last, partial group), on one and
// on two threads; all must equal a direct convolution summed in double.
TEST_CASE("Conv2d: grouped, per-image and pointwise lowerings equal a direct convolution") {
  struct Case {
    int64_t in, out, kernel, stride, padding, size, batch;
  };
  const int threads = B::threads();
  for (int t : {1, 2}) {
    B::set_threads(t);
    for (const Case& c : {Case{3, 4, 3, 1, 1, 8, 5}, Case{3, 4, 1, 2, 0, 8, 5}, Case{2, 3, 1, 1, 0, 50, 3},
                          Case{4, 5, 3, 2, 1, 50, 3}, Case{4, 5, 3, 1, 1, 46, 2}, Case{3, 4, 3, 1, 1, 4, 130},
                          Case{16, 8, 3, 1, 1, 2, 4}}) {
      CAPTURE(t);
      CAPTURE(c.kernel);
      CAPTURE(c.size);
      CAPTURE(c.batch);
      Conv2d conv(nn::Conv2dOptions{c.in, c.out, c.kernel, c.stride, c.padding, 1, true}, 7);
      const Tensor x = Tensor::randn({c.batch, c.in, c.size, c.size}, 3);
      auto [y, ctx] = conv.forward(x);
      const Tensor dy = Tensor::randn(y.shape(), 4);
      const Tensor dx = conv.backward(ctx, dy);
      const int64_t o_size = (c.size + 2 * c.padding - c.kernel) / c.stride + 1;
      std::vector<double> ry(static_cast<size_t>(y.numel())), rdx(static_cast<size_t>(x.numel())),
          rdw(static_cast<size_t>(conv.weight.numel())), rdb(static_cast<size_t>(c.out));
      for (int64_t n = 0; n < c.batch; ++n)
        for (int64_t o = 0; o < c.out; ++o)
          for (int64_t i = 0; i < o_size; ++i)
            for (int64_t j = 0; j < o_size; ++j) {
              const int64_t yi = ((n * c.out + o) * o_size + i) * o_size + j;
              double acc = conv.bias[o];
              for (int64_t ch = 0; ch < c.in; ++ch)
                for (int64_t a = 0; a < c.kernel; ++a)
                  for (int64_t b = 0; b < c.kernel; ++b) {
                    const int64_t ih = i * c.stride - c.padding + a, iw = j * c.stride - c.padding + b;
                    if (ih < 0 || iw < 0 || ih >= c.size || iw >= c.size) continue;
                    const int64_t xi = ((n * c.in + ch) * c.size + ih) * c.size + iw;
                    const int64_t wi = ((o * c.in + ch) * c.kernel + a) * c.kernel + b;
                    acc += static_cast<double>(x[xi]) * conv.weight[wi];
                    rdx[static_cast<size_t>(xi)] += static_cast<double>(conv.weight[wi]) * dy[yi];
                    rdw[static_cast<size_t>(wi)] += static_cast<double>(x[xi]) * dy[yi];
                  }
              ry[static_cast<size_t>(yi)] = acc;
              rdb[static_cast<size_t>(o)] += dy[yi];
            }
      auto max_error = [](const Tensor& ours, const std::vector<double>& ref) {
        double e = 0.0;
        for (int64_t i = 0; i < ours.numel(); ++i) e = std::max(e, std::abs(ours[i] - ref[static_cast<size_t>(i)]));
        return e;
      };
      CHECK(max_error(y, ry) < 1e-5);
      CHECK(max_error(dx, rdx) < 1e-5);
      CHECK(max_error(conv.weight_grad, rdw) < 1e-3);  // sums over up to 130·16 products
      CHECK(max_error(conv.bias_grad, rdb) < 1e-3);
    }
  }
  B::set_threads(threads);
}

TEST_CASE("Conv2d: split backward equals the full backward") {
  Conv2d conv(nn::Conv2dOptions{2, 3, 3, 2, 1, 1, true}, 9, "conv");
  const Tensor x = Tensor::randn({2, 2, 6, 6}, 1);
  auto [y, ctx] = conv.forward(x);
  const Tensor dy = Tensor::randn(y.shape(), 2);
  const Tensor dx = conv.backward(ctx, dy);
  const Tensor w_full = conv.weight_grad.clone(), b_full = conv.bias_grad.clone();
  conv.zero_grad();
  const Tensor dx_split = conv.backward_input(ctx, dy);
  CHECK(conv.weight_grad[0] == 0.0f);  // backward_input leaves weight gradients alone
  conv.backward_weight(ctx, dy);
  CHECK(bit_equal(dx, dx_split));
  CHECK(bit_equal(w_full, conv.weight_grad));
  CHECK(bit_equal(b_full, conv.bias_grad));
}

TEST_CASE("BatchNorm2d: training gradients, running statistics, eval mode") {
  BatchNorm bn(2, 3, "bn");
  bn.weight = Tensor::from({3}, {1.5f, 0.5f, 2});
  bn.bias = Tensor::from({3}, {0.1f, -0.2f, 0.3f});
  const Tensor x = Tensor::randn({4, 3, 3, 2}, 31, 2.0f);
  check_gradients(bn, x);

  BatchNorm fresh(2, 3, "bn");
  auto [y, ctx] = fresh.forward(x);
  // per-channel output mean ≈ β = 0 and variance ≈ 1 in training mode
  const int64_t inner = 6;
  for (int64_t c = 0; c < 3; ++c) {
    double s = 0, sq = 0, xs = 0, xsq = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t j = 0; j < inner; ++j) {
        const float v = y[(n * 3 + c) * inner + j], xv = x[(n * 3 + c) * inner + j];
        s += v;
        sq += v * v;
        xs += xv;
        xsq += xv * xv;
      }
    CHECK(s / 24 == doctest::Approx(0.0).epsilon(1e-5).scale(1));
    CHECK(sq / 24 == doctest::Approx(1.0).epsilon(1e-3));
    const double mean = xs / 24, unbiased_var = (xsq - 24 * mean * mean) / 23;
    CHECK(fresh.running_mean[c] == doctest::Approx(0.1 * mean).epsilon(1e-4));
    CHECK(fresh.running_var[c] == doctest::Approx(0.9 + 0.1 * unbiased_var).epsilon(1e-4));
  }
  // infer does not touch running statistics
  const Tensor rm = fresh.running_mean.clone();
  (void)fresh.infer(x);
  CHECK(bit_equal(rm, fresh.running_mean));
  // eval: y = (x − running_mean)/√(running_var + eps)·γ + β, and gradients still check
  fresh.set_training(false);
  const Tensor ye = fresh.infer(x);
  const float expect = (x[0] - fresh.running_mean[0]) / std::sqrt(fresh.running_var[0] + 1e-5f);
  CHECK(ye[0] == doctest::Approx(expect));
  check_gradients(fresh, x);
  CHECK(bit_equal(rm, fresh.running_mean));  // eval forward does not update either
}

TEST_CASE("BatchNorm1d: [N, C] and [N, C, L] inputs") {
  BatchNorm bn(1, 4, "bn1d");
  check_gradients(bn, Tensor::randn({5, 4}, 3));
  check_gradients(bn, Tensor::randn({3, 4, 2}, 4));
  CHECK(bn.buffers().size() == 2);
  CHECK(bn.buffers()[0].name == "running_mean");
  CHECK_THROWS_WITH_AS(bn.forward(Tensor::randn({1, 4}, 1)),
                       doctest::Contains("BatchNorm1d 'bn1d': training needs more than one value per channel"),
                       Error);
}

TEST_CASE("ReLU and GELU: values and gradients") {
  Activation relu(Activation::Function::relu), gelu(Activation::Function::gelu);
  const Tensor x = Tensor::from({4}, {-2, -0.5f, 0.5f, 2});
  const Tensor r = relu.infer(x);
  CHECK(r[0] == 0.0f);
  CHECK(r[3] == 2.0f);
  const Tensor g = gelu.infer(x);
  CHECK(g[3] == doctest::Approx(1.9544997));  // 2·Φ(2)
  CHECK(g[0] == doctest::Approx(-0.0455003));
  check_gradients(relu, away_from_zero(Tensor::randn({3, 7}, 5)));
  check_gradients(gelu, Tensor::randn({3, 7}, 6));
}

TEST_CASE("MaxPool2d, AvgPool2d and global average pooling") {
  Pool2d maxpool(Pool2d::Mode::max, {3, 2, 1}, "maxpool"), avgpool(Pool2d::Mode::average, {2, 2, 0}, "avgpool");
  const Tensor x = Tensor::from({1, 1, 2, 2}, {1, 4, 3, 2});
  CHECK(avgpool.infer(x)[0] == doctest::Approx(2.5));
  Pool2d max2(Pool2d::Mode::max, {2, 2, 0});
  CHECK(max2.infer(x)[0] == 4.0f);
  check_gradients(maxpool, distinct_values({2, 3, 7, 7}, 7));
  check_gradients(avgpool, Tensor::randn({2, 3, 6, 4}, 8));
  Pool2d avg_pad(Pool2d::Mode::average, {3, 2, 1});
  check_gradients(avg_pad, Tensor::randn({1, 2, 5, 5}, 9));
  GlobalAvgPool gap;
  const Tensor y = gap.infer(x);
  CHECK(y.shape() == nn::Shape{1, 1});
  CHECK(y[0] == doctest::Approx(2.5));
  check_gradients(gap, Tensor::randn({2, 3, 4, 5}, 10));
}

TEST_CASE("Flatten and SelectToken") {
  Flatten flatten;
  CHECK(flatten.infer(Tensor::zeros({2, 3, 4, 5})).shape() == nn::Shape{2, 60});
  check_gradients(flatten, Tensor::randn({2, 3, 2, 2}, 1));
  SelectToken cls(0);
  const Tensor x = Tensor::randn({2, 3, 4}, 2);
  const Tensor y = cls.infer(x);
  CHECK(y.shape() == nn::Shape{2, 4});
  CHECK(y[4] == x[12]);  // sample 1, token 0
  check_gradients(cls, x);
}

TEST_CASE("LayerNorm: normalises rows; gradients") {
  LayerNorm ln(6, "ln", 1e-6f);
  const Tensor x = Tensor::randn({2, 3, 6}, 12, 3.0f);
  const Tensor y = ln.infer(x);
  double s = 0, sq = 0;
  for (int j = 0; j < 6; ++j) {
    s += y[j];
    sq += y[j] * y[j];
  }
  CHECK(s / 6 == doctest::Approx(0.0).scale(1));
  CHECK(sq / 6 == doctest::Approx(1.0).epsilon(1e-4));
  ln.weight = Tensor::randn({6}, 1);
  ln.bias = Tensor::randn({6}, 2);
  check_gradients(ln, x);
}

TEST_CASE("Softmax: rows sum to one; gradients") {
  Softmax softmax;
  const Tensor x = Tensor::randn({3, 5}, 13);
  const Tensor y = softmax.infer(x);
  for (int r = 0; r < 3; ++r) {
    double s = 0;
    for (int j = 0; j < 5; ++j) s += y[r * 5 + j];
    CHECK(s == doctest::Approx(1.0));
  }
  check_gradients(softmax, x);
}

TEST_CASE("Dropout: seeded mask, gradient is the mask, identity in eval") {
  Dropout a(0.25f, 42), b(0.25f, 42);
  const Tensor x = Tensor::randn({1000}, 1);
  auto [ya, ctx] = a.forward(x);
  auto [yb, ctxb] = b.forward(x);
  CHECK(bit_equal(ya, yb));  // same seed and call count ⇒ same mask
  auto [ya2, ctx2] = a.forward(x);
  CHECK_FALSE(bit_equal(ya, ya2));  // the next call draws a new mask
  int dropped = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (ya[i] == 0.0f) ++dropped;
    else CHECK(ya[i] == doctest::Approx(x[i] / 0.75f));
  }
  CHECK(dropped > 200);
  CHECK(dropped < 300);
  const Tensor dy = Tensor::full({1000}, 1.0f);
  const Tensor dx = a.backward(ctx, dy);
  for (int64_t i = 0; i < x.numel(); ++i) CHECK(dx[i] == (ya[i] == 0.0f ? 0.0f : 1.0f / 0.75f));
  a.set_training(false);
  CHECK(bit_equal(a.infer(x), x));
}

TEST_CASE("SelfAttention: gradients, split backward, parameter names") {
  SelfAttention attn(8, 2, 3, "attn");
  check_gradients(attn, Tensor::randn({2, 5, 8}, 14));
  const auto params = attn.parameters();
  REQUIRE(params.size() == 4);
  CHECK(params[0].name == "qkv.weight");
  CHECK(params[0].value->shape() == nn::Shape{24, 8});
  CHECK(params[3].name == "proj.bias");

  const Tensor x = Tensor::randn({2, 5, 8}, 15);
  attn.zero_grad();
  auto [y, ctx] = attn.forward(x);
  const Tensor dy = Tensor::randn(y.shape(), 16);
  const Tensor dx = attn.backward(ctx, dy);
  const Tensor wq = attn.qkv.weight_grad.clone();
  attn.zero_grad();
  auto [y2, ctx2] = attn.forward(x);
  const Tensor dx2 = attn.backward_input(ctx2, dy);
  attn.backward_weight(ctx2, dy);
  CHECK(bit_equal(dx, dx2));
  CHECK(bit_equal(wq, attn.qkv.weight_grad));
}

TEST_CASE("SelfAttention: one token attends only to itself") {
  SelfAttention attn(4, 1, 1);
  const Tensor x = Tensor::randn({1, 1, 4}, 2);
  // with T = 1 the softmax is 1, so y = proj(v) = proj(W_v·x + b_v)
  const Tensor qkv = attn.qkv.infer(x);
  const Tensor v = Tensor::from({1, 1, 4}, {qkv[8], qkv[9], qkv[10], qkv[11]});
  const Tensor expect = attn.proj.infer(v);
  const Tensor y = attn.infer(x);
  for (int i = 0; i < 4; ++i) CHECK(y[i] == doctest::Approx(expect[i]));
}

TEST_CASE("PatchEmbed: equals a strided conv plus tokens; gradients") {
  PatchEmbed pe(nn::PatchEmbedOptions{2, 8, 4, 6, true}, 17, "pe");
  CHECK(pe.tokens() == 5);
  const Tensor x = Tensor::randn({2, 2, 8, 8}, 18);
  const Tensor y = pe.infer(x);
  CHECK(y.shape() == nn::Shape{2, 5, 6});
  Conv2d conv(nn::Conv2dOptions{2, 6, 4, 4, 0, 1, true}, 1);
  conv.weight = pe.weight;
  conv.bias = pe.bias;
  const Tensor c = conv.infer(x);  // [2, 6, 2, 2]
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t t = 0; t < 4; ++t)
      for (int64_t d = 0; d < 6; ++d)
        CHECK(y[(n * 5 + 1 + t) * 6 + d] == doctest::Approx(c[(n * 6 + d) * 4 + t] + pe.pos_embed[(1 + t) * 6 + d]));
  CHECK(y[0] == doctest::Approx(pe.cls_token[0] + pe.pos_embed[0]));
  check_gradients(pe, x);
}

TEST_CASE("Sequential and Residual: prefixed names, gradients, split backward") {
  nn::Sequential<B> main;
  main.add("conv1", B::conv2d({2, 2, 3, 1, 1, 1, false}, 1, "conv1"));
  main.add("bn1", B::batch_norm2d(2, "bn1"));
  auto block = nn::named<B>("layer1.0", std::make_unique<nn::Residual<B>>(
                                            std::make_unique<nn::Sequential<B>>(std::move(main)), nullptr, B::gelu()));
  const auto params = block->parameters();
  REQUIRE(params.size() == 3);
  CHECK(params[0].name == "layer1.0.conv1.weight");
  CHECK(params[2].name == "layer1.0.bn1.bias");
  CHECK(block->buffers()[1].name == "layer1.0.bn1.running_var");
  const Tensor x = Tensor::randn({2, 2, 4, 4}, 3);
  check_gradients(*block, x);

  block->zero_grad();
  auto [y, ctx] = block->forward(x);
  const Tensor dy = Tensor::randn(y.shape(), 4);
  const Tensor dx = block->backward(ctx, dy);
  const Tensor w = params[0].grad->clone();
  block->zero_grad();
  auto [y2, ctx2] = block->forward(x);
  const Tensor dx2 = block->backward_input(ctx2, dy);
  block->backward_weight(ctx2, dy);
  CHECK(bit_equal(dx, dx2));
  CHECK(bit_equal(w, *params[0].grad));
}

TEST_CASE("bad input: clear errors naming the layer and shapes") {
  Linear fc(12, 3, true, 1, "fc");
  CHECK_THROWS_WITH_AS(fc.infer(Tensor::zeros({2, 10})),
                       doctest::Contains("Linear 'fc': input has 10 features, expected 12"), Error);
  Conv2d conv(nn::Conv2dOptions{3, 4, 3, 1, 1, 1, false}, 1, "layer1.0.conv1");
  CHECK_THROWS_WITH_AS(conv.infer(Tensor::zeros({2, 4, 8, 8})),
                       doctest::Contains("Conv2d 'layer1.0.conv1': input has 4 channels, expected 3"), Error);
  CHECK_THROWS_WITH_AS(conv.infer(Tensor::zeros({0, 3, 8, 8})), doctest::Contains("zero-sized dimension"), Error);
  CHECK_THROWS_WITH_AS(conv.infer(Tensor::zeros({3, 8, 8})), doctest::Contains("expected 4 axes"), Error);
  CHECK_THROWS_AS(Conv2d(nn::Conv2dOptions{3, 4, 5, 1, 0, 1, false}, 1).infer(Tensor::zeros({1, 3, 2, 2})), Error);
  auto [y, ctx] = fc.forward(Tensor::zeros({2, 12}));
  CHECK_THROWS_WITH_AS(fc.backward(ctx, Tensor::zeros({2, 4})),
                       doctest::Contains("output gradient has shape [2, 4], expected [2, 3]"), Error);
  nn::Context<B> empty;
  CHECK_THROWS_AS(fc.backward(empty, Tensor::zeros({2, 3})), Error);
  CHECK_THROWS_AS(SelfAttention(10, 3, 1), Error);
  CHECK_THROWS_AS(PatchEmbed(nn::PatchEmbedOptions{3, 30, 4, 8, true}, 1), Error);
  LayerNorm ln(4, "norm");
  CHECK_THROWS_WITH_AS(ln.infer(Tensor::zeros({2, 5})), doctest::Contains("LayerNorm 'norm': input has 5 features"),
                       Error);
  CHECK_THROWS_AS(Tensor::zeros({2, 3}).reshape({4, 2}), Error);
  CHECK_THROWS_AS(B::add(Tensor::zeros({2}), Tensor::zeros({3})), Error);
}

TEST_CASE("Status and Result carry messages") {
  const Status ok;
  CHECK(ok.ok());
  const auto bad = try_call([] { Linear(0, 1, false, 0, "fc"); });
  CHECK_FALSE(bad.ok());
  CHECK(bad.message().find("Linear 'fc'") != std::string::npos);
  const auto value = try_call([] { return 3; });
  REQUIRE(value.ok());
  CHECK(value.value() == 3);
  const Result<int> failed = Result<int>::failure("no value");
  CHECK_THROWS_WITH_AS(failed.value(), "no value", Error);
}
