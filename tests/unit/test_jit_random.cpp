// The JIT against the reference interpreter on 200 random well-typed training graphs from a
// seeded generator. The generator writes .nn source one layer at a time, keeping a line only
// if the whole program still compiles (so every graph is well typed by construction) and
// stays small; it ends with a squashing layer matched to a random loss, an extra input for the
// target, and a random optimizer. Fusion on/off and 1/2 threads alternate between graphs.
#include "test_jit_util.h"

#include <fmt/format.h>

using namespace nnc;
using namespace nnc::jittest;

namespace {

struct Value {
  std::string name;
  std::vector<int64_t> dims;
};

class Generator {
public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  /// A random training program, or "" if the generator got stuck.
  std::string program(int index) {
    header_ = fmt::format("model random{}\n", index);
    std::vector<int64_t> in;
    switch (pick(3)) {
    case 0:
      in = {range(3, 8), range(3, 8), range(1, 3)};
      break;
    case 1:
      in = {range(1, 12)};
      break;
    default:
      in = {range(1, 4), range(1, 6)};
      break;
    }
    inputs_ = fmt::format("input x: [{}]\n", fmt::join(in, ", "));
    body_.clear();
    values_ = {{"x", in}};
    int layers = int(range(1, 5));
    for (int l = 0; l < layers; ++l) addLayer(l);
    return finish();
  }

private:
  SplitMix64 rng_;
  std::string header_, inputs_, body_;
  std::vector<Value> values_;

  int64_t range(int64_t lo, int64_t hi) {
    return lo + int64_t(rng_.next() % uint64_t(hi - lo + 1));
  }
  size_t pick(size_t n) { return size_t(rng_.next() % n); }
  template <typename T> const T &choose(const std::vector<T> &v) { return v[pick(v.size())]; }

  // Compiles header + inputs + body (+ tail) and returns the graph when it type-checks.
  std::optional<Graph> tryCompile(const std::string &tail = "") {
    std::string src = header_ + inputs_ + body_ + tail;
    DiagEngine diags("random.nn", src);
    return compileSource(src, "random.nn", diags);
  }

  std::string activation() { return choose<std::string>({"linear", "relu", "sigmoid", "tanh"}); }

  std::string candidate(const Value &cur, const std::string &out) {
    const auto &d = cur.dims;
    std::string x = cur.name;
    size_t kind = pick(8);
    if (d.size() == 3 && kind < 4) {
      switch (pick(6)) {
      case 0:
      case 1: {
        int64_t s = range(1, 2);
        return fmt::format("{} = conv2d({}, filters={}, kernel={}, strides={}, padding={}, "
                           "dilation={}, use_bias={}, activation={})\n",
                           out, x, range(1, 4), range(1, 3), s,
                           choose<std::string>({"same", "valid"}), s == 1 ? range(1, 2) : 1,
                           pick(4) ? "true" : "false", activation());
      }
      case 2:
        return fmt::format("{} = conv2d_transpose({}, filters={}, kernel={}, strides={}, "
                           "padding={}, use_bias={}, activation={})\n",
                           out, x, range(1, 4), range(1, 3), range(1, 2),
                           choose<std::string>({"same", "valid"}), pick(4) ? "true" : "false",
                           activation());
      case 3: {
        int64_t p = range(2, 3);
        return fmt::format("{} = {}({}, pool={}, strides={}, padding={})\n", out,
                           choose<std::string>({"maxpool2d", "avgpool2d"}), x, p, range(1, p),
                           choose<std::string>({"same", "valid"}));
      }
      case 4:
        return fmt::format("{} = upsample2d({}, size={}, interpolation={})\n", out, x, range(1, 2),
                           choose<std::string>({"nearest", "bilinear"}));
      default:
        return fmt::format("{} = flatten({})\n", out, x);
      }
    }
    switch (kind) {
    case 4: {
      // A partner of the same shape (possibly itself) for add, or matching but the last axis
      // for concat.
      std::vector<const Value *> same, cat;
      for (const Value &v : values_) {
        if (v.dims == d) same.push_back(&v);
        if (v.dims.size() == d.size() && !d.empty() &&
            std::equal(d.begin(), d.end() - 1, v.dims.begin()))
          cat.push_back(&v);
      }
      if (pick(2) && !cat.empty())
        return fmt::format("{} = concat({}, {}, axis=-1)\n", out, x, choose(cat)->name);
      return fmt::format("{} = add({}, {})\n", out, x, choose(same)->name);
    }
    case 5:
      if (d.size() == 1 && d[0] % 2 == 0)
        return fmt::format("{} = reshape({}, shape=[2, -1])\n", out, x);
      if (!d.empty() && d.back() == 1) return fmt::format("{} = squeeze({}, axis=-1)\n", out, x);
      return fmt::format("{} = {}({})\n", out, choose<std::string>({"relu", "sigmoid", "tanh"}), x);
    case 6:
      return fmt::format("{} = {}({})\n", out,
                         choose<std::string>({"relu", "sigmoid", "tanh", "softmax"}), x);
    default:
      return fmt::format("{} = dense({}, units={}, use_bias={}, activation={})\n", out, x,
                         range(1, 6), pick(4) ? "true" : "false",
                         choose<std::string>({"linear", "relu", "sigmoid", "tanh", "softmax"}));
    }
  }

  void addLayer(int l) {
    std::string out = fmt::format("h{}", l);
    for (int attempt = 0; attempt < 30; ++attempt) {
      const Value &cur = values_.back();
      std::string line = candidate(cur, out);
      std::string saved = body_;
      body_ += line;
      std::optional<Graph> g = tryCompile();
      ValueId v = g ? g->find(out) : kNoValue;
      if (v != kNoValue && !(*g)[v].type.dims.empty() && (*g)[v].type.elements() <= 1500) {
        values_.push_back({out, (*g)[v].type.dims});
        return;
      }
      body_ = saved;
    }
  }

  std::string finish() {
    const Value &cur = values_.back();
    std::string loss;
    switch (pick(4)) {
    case 0:
      body_ += fmt::format("y = sigmoid({})\n", cur.name);
      loss = "binary_crossentropy(y, t)";
      break;
    case 1:
      body_ += fmt::format("y = softmax({})\n", cur.name);
      loss = "categorical_crossentropy(y, t)";
      break;
    case 2:
      body_ += fmt::format("y = relu({})\n", cur.name);
      loss = "mse(y, t)";
      break;
    default:
      body_ += fmt::format("y = tanh({})\n", cur.name);
      loss = "mse(y, t)";
      break;
    }
    inputs_ += fmt::format("input t: [{}]\n", fmt::join(cur.dims, ", "));
    std::string tail = fmt::format("output y\nloss {}\ntrain optimizer={}, lr=0.01\n", loss,
                                   choose<std::string>({"sgd", "adam", "adadelta", "rmsprop"}));
    if (!tryCompile(tail)) return "";
    return header_ + inputs_ + body_ + tail;
  }
};

} // namespace

TEST_CASE("JIT matches the interpreter on 200 random training graphs") {
  Generator gen(20240611);
  int tested = 0;
  for (int i = 0; tested < 200 && i < 400; ++i) {
    std::string src = gen.program(i);
    if (src.empty()) continue;
    std::string error;
    std::optional<Graph> g = trainingGraph(src, &error);
    INFO(src << error);
    REQUIRE(g.has_value());
    JitOptions opts{1 + (i / 2) % 2, i % 2 == 0};
    INFO("fuse " << opts.fuse << " threads " << opts.threads);
    compareWithInterpreter(*g, opts, 1 + i % 3, uint64_t(i));
    ++tested;
  }
  CHECK(tested == 200);
}
