// Invalid models: each case asserts the diagnostic's line:column and message text.
#include "passes/Pipeline.h"

#include <doctest/doctest.h>

using namespace nnc;

namespace {

/// Compiles `src` and returns the rendered diagnostics ("" when it compiled).
std::string errorsOf(const std::string &src) {
  DiagEngine d("bad.nn", src);
  std::optional<Graph> g = compileSource(src, "bad.nn", d);
  if (g && !d.hasErrors()) return "";
  return d.render();
}

struct Case {
  const char *what;
  std::string src;
  const char *where;   // "line:col"
  const char *message; // substring of the error line
};

const std::string kHead = "model m\ninput x: [28, 28, 1]\n";

} // namespace

TEST_CASE("semantic errors name the line, the column and the problem") {
  const Case cases[] = {
      {"unknown operator", kHead + "y = conv3d(x, 4, 3)\n", "3:5",
       "unknown operator 'conv3d'; did you mean 'conv2d'?"},
      {"undefined name", kHead + "y = relu(h)\n", "3:10", "use of undefined name 'h'"},
      {"unknown keyword", kHead + "y = conv2d(x, filter=4, kernel=3)\n", "3:15",
       "conv2d has no argument 'filter'; did you mean 'filters'?"},
      {"missing argument", kHead + "y = conv2d(x, filters=4)\n", "3:5",
       "conv2d: missing required argument 'kernel'"},
      {"argument twice", kHead + "y = conv2d(x, 4, 3, filters=8)\n", "3:21",
       "argument 'filters' is given twice"},
      {"positional after keyword", kHead + "y = conv2d(x, filters=4, 3)\n", "3:26",
       "positional argument after a keyword argument"},
      {"bad padding", kHead + "y = conv2d(x, 4, 3, padding=sam)\n", "3:29",
       "unknown padding 'sam'; did you mean 'same'?"},
      {"bad activation", kHead + "y = conv2d(x, 4, 3, activation=gelu)\n", "3:32",
       "unknown activation 'gelu'"},
      {"int expected", kHead + "y = conv2d(x, filters=same, kernel=3)\n", "3:23",
       "expected an integer for 'filters', found 'same'"},
      {"zero filters", kHead + "y = conv2d(x, filters=0, kernel=3)\n", "3:23",
       "'filters' must be between 1"},
      {"kernel too big", "model m\ninput x: [3, 3, 1]\ny = conv2d(x, filters=4, kernel=5)\n", "3:5",
       "a 5x5 kernel with padding=valid does not fit the 3x3 input"},
      {"wrong rank for conv", "model m\ninput v: [10]\ny = conv2d(v, 4, 3)\n", "3:5",
       "conv2d expects an image batch [N, height, width, channels] (rank 4), but 'v' is f32[N,10] "
       "(rank 2)"},
      {"wrong rank for pool", "model m\ninput v: [10, 3]\ny = maxpool2d(v)\n", "3:5",
       "maxpool2d expects an image batch"},
      {"loss shape mismatch", kHead + "y = conv2d(x, 1, 3)\nloss mse(y, x)\n", "4:6",
       "mse: prediction 'y' is f32[N,26,26,1] but target 'x' is f32[N,28,28,1]"},
      {"unknown loss", kHead + "loss hinge(x, x)\n", "3:6", "unknown loss 'hinge'"},
      {"loss as layer", kHead + "y = mse(x, x)\n", "3:5", "unknown operator 'mse'"},
      {"squeeze non-1 axis", kHead + "y = squeeze(x, axis=1)\n", "3:5",
       "squeeze: axis 1 of f32[N,28,28,1] has size 28, not 1"},
      {"axis out of range", kHead + "y = concat(x, x, axis=7)\n", "3:23", "axis 7 is out of range"},
      {"batch axis", kHead + "y = squeeze(x, axis=0)\n", "3:21", "axis 0 is out of range"},
      {"reshape count", kHead + "y = reshape(x, shape=[5, 5])\n", "3:5",
       "reshape: f32[N,28,28,1] has 784 elements per example but the target shape has 25"},
      {"reshape two -1", kHead + "y = reshape(x, shape=[-1, -1])\n", "3:5",
       "only one -1 is allowed"},
      {"add mismatch", kHead + "y = conv2d(x, 2, 3)\nz = add(x, y)\n", "4:5",
       "add: operands must have the same shape"},
      {"concat mismatch", kHead + "y = conv2d(x, 2, 3)\nz = concat(x, y)\n", "4:5",
       "concat: f32[N,28,28,1] and f32[N,26,26,2] differ outside axis 3"},
      {"dense on scalar",
       "model m\ninput v: [4, 1]\ns = squeeze(v)\nt = dense(s, 1)\nu = squeeze(t)\nw = dense(u, "
       "1)\n",
       "6:5", "dense acts on the last axis, but 'u' is f32[N] which has none besides N"},
      {"input dims", "model m\ninput x: [28, 0, 1]\n", "2:15",
       "input dimensions must be positive integers, found the integer 0"},
      {"huge input", "model m\ninput x: [100000, 100000, 1000]\n", "2:27",
       "input 'x' is too large"},
      {"duplicate input", "model m\ninput x: [2]\ninput x: [3]\n", "3:7",
       "input 'x' is already defined"},
      {"duplicate layer name", kHead + "a = relu(x, name=act)\nb = relu(a, name=act)\n", "4:18",
       "layer name 'act' is already used"},
      {"unknown train key", kHead + "y = relu(x)\ntrain epoch=3\n", "4:7",
       "unknown train setting 'epoch'; did you mean 'epochs'?"},
      {"bad optimizer", kHead + "y = relu(x)\ntrain optimizer=adamw\n", "4:17",
       "unknown optimizer 'adamw'; did you mean 'adam'?"},
      {"negative lr", kHead + "y = relu(x)\ntrain lr=-0.1\n", "4:10", "lr must be positive"},
      {"two outputs statements", kHead + "y = relu(x)\noutput y\noutput y\n", "5:1",
       "'output' may appear only once"},
      {"undefined output", kHead + "y = relu(x)\noutput z\n", "4:8", "use of undefined name 'z'"},
      {"dilation too big", kHead + "y = conv2d(x, 4, 3, dilation=20)\n", "3:5",
       "does not fit the 28x28 input"},
  };
  for (const Case &c : cases) {
    std::string what = c.what;
    CAPTURE(what);
    std::string out = errorsOf(c.src);
    CHECK(out.find(std::string("bad.nn:") + c.where + ": error: ") != std::string::npos);
    CHECK(out.find(c.message) != std::string::npos);
    if (out.find(c.message) == std::string::npos || out.find(c.where) == std::string::npos)
      MESSAGE(out);
  }
}

TEST_CASE("a shape error shows the arithmetic and a hint") {
  std::string out = errorsOf("model m\ninput x: [3, 3, 1]\ny = conv2d(x, filters=4, kernel=5)\n");
  CHECK(out.find("height: (3 - 5) / 1 + 1 = -1") != std::string::npos);
  CHECK(out.find("hint: padding=same") != std::string::npos);
  CHECK(out.find("y = conv2d(x, filters=4, kernel=5)\n    ^") != std::string::npos);
}

TEST_CASE("errors do not cascade from a failed layer, and several are collected") {
  std::string out =
      errorsOf(kHead + "a = conv2d(x, 4, 30)\nb = relu(a)\nc = relu(q)\nd = pool(x)\n");
  CHECK(out.find("3:5: error:") != std::string::npos);
  CHECK(out.find("4:") == std::string::npos); // 'a' is poisoned, not undefined
  CHECK(out.find("5:10: error: use of undefined name 'q'") != std::string::npos);
  CHECK(out.find("6:5: error: unknown operator 'pool'") != std::string::npos);
}

TEST_CASE("shadowing and name= work") {
  DiagEngine d("ok.nn", "");
  auto g =
      compileSource(kHead + "h = relu(x)\nh = relu(h, name=second)\nh = relu(h)\n", "ok.nn", d);
  REQUIRE(g);
  CHECK(g->find("h") != kNoValue);
  CHECK(g->find("h.1") != kNoValue);
  CHECK(g->find("h.2") != kNoValue);
  CHECK((*g)[g->find("h.1")].layer == "second");
  CHECK((*g)[g->find("h.1")].inputs[0] == g->find("h"));
  CHECK((*g)[g->find("h.2")].layer == "re_lu_1");
}
