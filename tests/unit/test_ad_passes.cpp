// The decompose and autodiff passes: graph structure, names, roles, optimizer state,
// and the interpreter's determinism and zero-gradient behaviour on training graphs.
#include "test_ad_util.h"

#include "ir/OpTable.h"
#include "passes/GradRules.h"
#include "runtime/Init.h"
#include "runtime/Interpreter.h"

#include <cmath>
#include <cstring>

using namespace nnc;
using nnc::adtest::compile;
using nnc::adtest::readSource;
using nnc::adtest::training;

namespace {

void checkTopological(const Graph &g) {
  for (size_t v = 0; v < g.size(); ++v)
    for (ValueId i : g.nodes[v].inputs) {
      INFO(g.nodes[v].name);
      CHECK(i >= 0);
      CHECK(size_t(i) < v);
    }
  for (ValueId x : g.inputs) CHECK(g[x].op == OpKind::Input);
  for (ValueId p : g.params) CHECK(g[p].op == OpKind::Param);
  for (ValueId s : g.states) CHECK(g[s].op == OpKind::State);
  for (ValueId u : g.updates) CHECK(opClass(g[u].op) == OpClass::Update);
  REQUIRE(g.loss != kNoValue);
  CHECK(opClass(g[g.loss].op) == OpClass::Loss);
}

TensorMapD randomInputs(const Graph &g, int64_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  TensorMapD in;
  for (ValueId x : g.inputs) {
    TensorD &t = in[g[x].name];
    t.shape = g[x].type.dims;
    t.shape.insert(t.shape.begin(), n);
    t.data.resize(size_t(t.elements()));
    for (double &v : t.data) v = rng.uniformD();
  }
  return in;
}

} // namespace

TEST_CASE("every differentiable op has exactly one gradient rule") {
  for (const OpInfo &row : opTable()) {
    bool diff = row.cls == OpClass::Forward || row.cls == OpClass::Loss;
    CAPTURE(row.name);
    CHECK(gradRuleCount(row.op) == (diff ? 1 : 0));
    CHECK((gradRule(row.op) != nullptr) == diff);
  }
}

TEST_CASE("decompose splits activations and folds sigmoid into the logits loss") {
  Graph g = compile(readSource("examples/autoencoder.nn"));
  size_t before = g.size();
  PassContext ctx;
  REQUIRE(decompose(g, ctx).ok());
  CHECK(g.size() == before + 7); // seven convolutions with an activation
  checkTopological(g);
  for (const Node &n : g.nodes) CHECK(!n.attrs.activation);
  const Node &loss = g[g.loss];
  CHECK(loss.op == OpKind::BinaryCrossentropyLogits);
  CHECK(g[loss.inputs[0]].name == "y.pre");
  CHECK(g[loss.inputs[0]].op == OpKind::Conv2D);
  REQUIRE(g.outputs.size() == 1);
  const Node &y = g[g.outputs[0]];
  CHECK(y.name == "y");
  CHECK(y.op == OpKind::Sigmoid);
  CHECK(y.layer == g[y.inputs[0]].layer);
  CHECK(y.loc.line == g[y.inputs[0]].loc.line);
  CHECK(y.loc.valid());
  // Idempotent.
  Graph again = g;
  REQUIRE(decompose(again, ctx).ok());
  CHECK(again.size() == g.size());
}

TEST_CASE("decompose folds softmax + categorical_crossentropy") {
  Graph g = compile(readSource("examples/mnist_cnn.nn"));
  PassContext ctx;
  REQUIRE(decompose(g, ctx).ok());
  checkTopological(g);
  CHECK(g[g.loss].op == OpKind::CategoricalCrossentropyLogits);
  CHECK(g[g[g.loss].inputs[0]].op == OpKind::Dense);
  CHECK(g[g.find("y")].op == OpKind::Softmax);
}

TEST_CASE("autodiff emits named gradients, keeps forward values, and adds adadelta state") {
  Graph g = training(compile(readSource("examples/autoencoder.nn")));
  checkTopological(g);
  CHECK(g.grads.size() == g.params.size());
  for (ValueId p : g.params) {
    REQUIRE(g.grads.count(p));
    const Node &d = g[g.grads.at(p)];
    CHECK(d.name == "d." + g[p].name);
    CHECK(d.role == Role::Backward);
    CHECK(d.gradOf == p);
    CHECK(d.type == g[p].type);
  }
  CHECK(g[g.find("d.conv2d.kernel")].op == OpKind::Conv2DGradKernel);
  CHECK(g[g.find("d.conv2d.bias")].op == OpKind::BiasGrad);
  for (size_t v = 0; v < g.size(); ++v)
    if (g.nodes[v].role == Role::Backward)
      for (ValueId i : g.nodes[v].inputs)
        if (g[i].role == Role::Forward) CHECK(g[i].keep);
  CHECK_FALSE(g[g.find("y")].keep); // the sigmoid output: the loss reads the logits
  CHECK(g[g.find("y.pre")].keep);
  // Adadelta (the model's train statement): two zero-initialized slots per parameter.
  CHECK(g.states.size() == 2 * g.params.size());
  ValueId acc = g.find("conv2d.kernel.accum_grad");
  REQUIRE(acc != kNoValue);
  CHECK(g[acc].op == OpKind::State);
  CHECK(g[acc].role == Role::Update);
  CHECK(g[acc].type == g[g.find("conv2d.kernel")].type);
  CHECK(g.find("conv2d.kernel.accum_var") != kNoValue);
  REQUIRE(g.updates.size() == g.params.size());
  const Node &u = g[g.updates[0]];
  CHECK(u.op == OpKind::AdadeltaUpdate);
  CHECK(u.role == Role::Update);
  CHECK(u.attrs.lr == 0.001);
  CHECK(u.attrs.rho == 0.95);
  CHECK(u.attrs.eps == 1e-7);
}

TEST_CASE("autodiff: adam state, lr override, input gradients") {
  Graph m = compile("model t\ninput x: [3]\ninput u: [2]\nh = dense(x, units=2)\n"
                    "loss mse(h, u)\ntrain optimizer=adam, lr=0.5\n");
  Graph g = training(m);
  ValueId it = g.find("iterations");
  REQUIRE(it != kNoValue);
  CHECK(g[it].type.dims.empty());
  CHECK_FALSE(g[it].type.batched);
  CHECK(g.find("dense.kernel.momentum") != kNoValue);
  CHECK(g.find("dense.bias.velocity") != kNoValue);
  for (ValueId u : g.updates) {
    CHECK(g[u].op == OpKind::AdamUpdate);
    CHECK(g[u].attrs.lr == 0.5);
    CHECK(g[u].attrs.beta1 == 0.9);
    CHECK(g[u].attrs.beta2 == 0.999);
    CHECK(g[u].inputs.back() == it);
  }
  CHECK(g.find("d.x") == kNoValue);
  Graph gi = training(m, true);
  ValueId dx = g.find("x");
  REQUIRE(gi.grads.count(dx));
  CHECK(gi[gi.grads.at(dx)].name == "d.x");
  CHECK(gi[gi.grads.at(dx)].op == OpKind::DenseGradInput);
}

TEST_CASE("autodiff accumulates the gradient of a value used twice") {
  Graph g = training(compile("model t\ninput x: [3]\ninput u: [2]\nh = dense(x, units=2)\n"
                             "s = add(h, h)\nloss mse(s, u)\n"));
  checkTopological(g);
  ValueId d = g.find("d.h");
  REQUIRE(d != kNoValue);
  CHECK(g[d].op == OpKind::Add);
  CHECK(g[d].role == Role::Backward);
  CHECK(g[d].gradOf == g.find("h"));
}

TEST_CASE("autodiff errors") {
  Graph noLoss = compile("model t\ninput x: [3]\nh = dense(x, units=2)\n");
  PassContext ctx;
  Status s = runPasses(noLoss, ctx, trainingPasses());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().find("no loss") != std::string::npos);

  Graph target = compile("model t\ninput x: [3]\nh = dense(x, units=2)\ny = dense(h, units=2)\n"
                         "loss mse(y, h)\n");
  s = runPasses(target, ctx, trainingPasses());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().find("loss target 'h'") != std::string::npos);

  Graph opt = compile("model t\ninput x: [3]\ninput u: [2]\nh = dense(x, units=2)\n"
                      "loss mse(h, u)\n");
  opt.train.optimizer = "nadam";
  s = runPasses(opt, ctx, trainingPasses());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().find("unknown optimizer 'nadam'") != std::string::npos);
}

// Every op of the spec in one model; the target equals the prediction, so the upstream
// gradient of the loss is exactly zero and every gradient must be exactly zero.
const char *kAllOps = R"(model all
input x: [6, 6, 2]
input u: [6, 6, 3]
a = conv2d(x, filters=3, kernel=3, padding=same, activation=relu)
b = maxpool2d(a, pool=2, padding=same)
c = avgpool2d(a, pool=2)
d = add(b, c)
e = conv2d_transpose(d, filters=2, kernel=3, strides=2, padding=same, activation=tanh)
f = upsample2d(d, size=2, interpolation=bilinear)
g = concat(e, f, axis=-1)
h = upsample2d(g, size=2)
h = conv2d(h, filters=3, kernel=3, strides=2, dilation=1, padding=same, activation=softmax)
h = flatten(h)
h = reshape(h, shape=[6, 6, 3])
loss mse(h, u)
)";

TEST_CASE("zero upstream gradient gives exactly zero gradients") {
  Graph g = training(compile(kAllOps));
  Interpreter interp(g);
  REQUIRE(interp.setTensors(initialTensors(g, 3)).ok());
  TensorMapD in = randomInputs(g, 2, 5);
  REQUIRE(interp.evaluateD(in, 2).ok());
  in["u"] = interp.value(g[g.loss].inputs[0]);
  TensorMapD grads;
  Result<double> loss = interp.gradientsD(in, 2, grads);
  REQUIRE(loss.ok());
  CHECK(*loss == 0.0);
  CHECK(grads.size() == g.params.size());
  for (const auto &[name, t] : grads) {
    CAPTURE(name);
    for (double v : t.data) REQUIRE(v == 0.0);
  }
}

TEST_CASE("running the backward pass twice is bit-identical") {
  Graph g = training(compile(kAllOps));
  Interpreter interp(g);
  REQUIRE(interp.setTensors(initialTensors(g, 11)).ok());
  TensorMapD in = randomInputs(g, 3, 7);
  TensorMapD g1, g2;
  Result<double> l1 = interp.gradientsD(in, 3, g1);
  Result<double> l2 = interp.gradientsD(in, 3, g2);
  REQUIRE(l1.ok());
  REQUIRE(l2.ok());
  CHECK(std::memcmp(&*l1, &*l2, sizeof(double)) == 0);
  REQUIRE(g1.size() == g2.size());
  bool nonzero = false;
  for (const auto &[name, t] : g1) {
    CAPTURE(name);
    REQUIRE(g2.at(name).data.size() == t.data.size());
    CHECK(std::memcmp(t.data.data(), g2.at(name).data.data(), t.data.size() * sizeof(double)) == 0);
    for (double v : t.data) nonzero = nonzero || v != 0.0;
  }
  CHECK(nonzero);
}

TEST_CASE("initial values are deterministic and follow Keras defaults") {
  Graph g = compile(readSource("examples/autoencoder.nn"));
  TensorMap a = initialTensors(g, 42), b = initialTensors(g, 42), c = initialTensors(g, 43);
  REQUIRE(a.size() == g.params.size());
  for (const auto &[name, t] : a) {
    CAPTURE(name);
    REQUIRE(b.at(name).data.size() == t.data.size());
    CHECK(std::memcmp(t.data.data(), b.at(name).data.data(), t.data.size() * sizeof(float)) == 0);
    const Node &n = g[g.find(name)];
    if (n.attrs.init == Init::Zeros) {
      for (float v : t.data) CHECK(v == 0.0f);
      continue;
    }
    double limit = std::sqrt(6.0 / double(n.attrs.fanIn + n.attrs.fanOut));
    float lo = 0, hi = 0;
    for (float v : t.data) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo >= -limit);
    CHECK(hi <= limit);
    CHECK(hi - lo > limit); // spread over the range
    CHECK(t.data != c.at(name).data);
  }
}

TEST_CASE("check-numerics names the first op that produced a non-finite value") {
  Graph g = training(compile(readSource("examples/autoencoder.nn"), "autoencoder.nn"));
  Interpreter interp(g);
  REQUIRE(interp.setTensors(initialTensors(g, 1)).ok());
  TensorMapD in = randomInputs(g, 1, 2);
  in["x"].data[100] = std::nan("");
  REQUIRE(interp.evaluateD(in, 1).ok()); // unchecked: NaN flows through
  interp.setCheckNumerics(true);
  Result<double> r = interp.evaluateD(in, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().find("conv2d 'h.pre'") != std::string::npos);
  CHECK(r.error().find("(line 11)") != std::string::npos);
}

TEST_CASE("the analysis, training and backend pass lists cover Passes.def once, in its order") {
  std::vector<std::string> lists = analysisPasses();
  for (const auto *list : {&trainingPasses(), &backendPasses()})
    lists.insert(lists.end(), list->begin(), list->end());
  std::vector<std::string> registered;
  for (const PassInfo &p : allPasses()) registered.push_back(p.name);
  CHECK(lists == registered);
  CHECK(backendPasses() == std::vector<std::string>{"fuse", "plan-memory"});
}
