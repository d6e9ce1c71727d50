// Optimizer steps against hand-computed values on one scalar weight: y = w x with x = 2,
// target 0 and mse, so dL/dw = 8 w. Starting from w = 0.5 (g = 4), the first steps are:
//   sgd lr 0.1:  w = 0.5 - 0.1 * 4 = 0.1
//   adam lr 0.1: m = 0.4, v = 0.016, alpha = 0.1 sqrt(0.001) / 0.1, w = 0.5 - 0.1 = 0.4
//   rmsprop:     v = 0.1 * 16 = 1.6, w = 0.5 - 0.1 * 4 / sqrt(1.6 + 1e-7)
//   adadelta:    A = 0.05 * 16 = 0.8, d = -sqrt(1e-7) * 4 / sqrt(0.8 + 1e-7), w = 0.5 + 0.1 d
// and the later steps repeat the same arithmetic (values computed independently in Python).
#include "test_ad_util.h"

#include "runtime/Interpreter.h"

#include <cmath>

using namespace nnc;
using nnc::adtest::compile;
using nnc::adtest::training;

namespace {

Graph scalarModel(const std::string &train) {
  return training(compile("model opt\ninput x: [1]\ninput t: [1]\n"
                          "y = dense(x, units=1, use_bias=false)\nloss mse(y, t)\n" +
                          train + "\n"));
}

// Runs three training steps from w = 0.5 and returns w after each.
std::vector<double> steps(const Graph &g) {
  Interpreter interp(g);
  REQUIRE(interp.setTensorsD({{"dense.kernel", TensorD{{1, 1}, {0.5}}}}).ok());
  TensorMapD in = {{"x", TensorD{{1, 1}, {2.0}}}, {"t", TensorD{{1, 1}, {0.0}}}};
  std::vector<double> w;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(interp.trainStepD(in, 1).ok());
    w.push_back(interp.tensorsD().at("dense.kernel").data[0]);
  }
  return w;
}

void expectSteps(const std::vector<double> &got, const std::vector<double> &want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-12));
  }
}

} // namespace

TEST_CASE("sgd steps, default and given learning rate") {
  expectSteps(steps(scalarModel("train optimizer=sgd")), {0.46, 0.4232, 0.389344});
  expectSteps(steps(scalarModel("train optimizer=sgd, lr=0.1")), {0.1, 0.02, 0.004});
}

TEST_CASE("sgd with momentum and nesterov") {
  for (bool nesterov : {false, true}) {
    Graph g = scalarModel("train optimizer=sgd, lr=0.1");
    REQUIRE(g.updates.size() == 1);
    Node state;
    state.op = OpKind::State;
    state.name = "dense.kernel.momentum";
    state.type = g[g.params[0]].type;
    state.role = Role::Update;
    ValueId m = g.add(state);
    g.states.push_back(m);
    Node &u = g[g.updates[0]];
    u.inputs.push_back(m);
    u.attrs.momentum = 0.9;
    u.attrs.nesterov = nesterov;
    // m = 0.9 m - 0.1 g; plain: w += m; nesterov: w += 0.9 m - 0.1 g.
    if (nesterov)
      expectSteps(steps(g), {-0.26, -0.1888, -0.024944});
    else
      expectSteps(steps(g), {0.1, -0.34, -0.464});
  }
}

TEST_CASE("adam steps and the iterations counter") {
  Graph g = scalarModel("train optimizer=adam, lr=0.1");
  expectSteps(steps(g), {0.400000079056879, 0.30118755809876885, 0.20487143691153467});
  expectSteps(steps(scalarModel("train optimizer=adam")),
              {0.4990000007905688, 0.49800005403472725, 0.4970001949927557});
  Interpreter interp(g);
  REQUIRE(interp.setTensorsD({{"dense.kernel", TensorD{{1, 1}, {0.5}}}}).ok());
  TensorMapD in = {{"x", TensorD{{1, 1}, {2.0}}}, {"t", TensorD{{1, 1}, {0.0}}}};
  REQUIRE(interp.trainStepD(in, 1).ok());
  REQUIRE(interp.trainStepD(in, 1).ok());
  TensorMapD s = interp.tensorsD();
  CHECK(s.at("iterations").data[0] == 2.0);
  CHECK(s.at("dense.kernel.momentum").data[0] != 0.0);
  CHECK(s.at("dense.kernel.velocity").data[0] != 0.0);
}

TEST_CASE("adadelta steps") {
  expectSteps(steps(scalarModel("train optimizer=adadelta, lr=0.1")),
              {0.4998585786526015, 0.499715375426587, 0.4995709804533083});
}

TEST_CASE("rmsprop steps") {
  expectSteps(steps(scalarModel("train optimizer=rmsprop, lr=0.1")),
              {0.18377224386527924, 0.06953148892522115, 0.024435299396114073});
}

TEST_CASE("the loss returned by a step is the loss before the update") {
  Graph g = scalarModel("train optimizer=sgd, lr=0.1");
  Interpreter interp(g);
  REQUIRE(interp.setTensorsD({{"dense.kernel", TensorD{{1, 1}, {0.5}}}}).ok());
  TensorMapD in = {{"x", TensorD{{1, 1}, {2.0}}}, {"t", TensorD{{1, 1}, {0.0}}}};
  Result<double> l = interp.trainStepD(in, 1);
  REQUIRE(l.ok());
  CHECK(*l == doctest::Approx(1.0)); // (0.5 * 2)^2
  Result<double> after = interp.evaluateD(in, 1);
  REQUIRE(after.ok());
  CHECK(*after == doctest::Approx(0.04)); // (0.1 * 2)^2
}
