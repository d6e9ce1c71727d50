// Invalid models: each case asserts the diagnostic's line:column and message text, including
// every kind of "did you mean". Keras spellings (aliases, quotes, True/False, positional
// settings) must give the very graph nnc's own spellings give.
#include "ir/Verifier.h"
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

/// The IR dump of `src` (compiled as ok.nn), or its diagnostics when it does not compile.
std::string irOf(const std::string &src) {
  DiagEngine d("ok.nn", src);
  std::optional<Graph> g = compileSource(src, "ok.nn", d);
  return g && !d.hasErrors() ? printGraph(*g) : d.render();
}

/// Checks that `src` fails with exactly `rendered` as its whole diagnostic output.
void expectRendered(const std::string &src, const std::string &rendered) {
  CAPTURE(src);
  CHECK(errorsOf(src) == rendered);
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
       "positional argument follows keyword argument 'filters'"},
      {"misspelled alias", kHead + "y = conv2d(x, 4, kernal_size=3)\n", "3:18",
       "conv2d has no argument 'kernal_size'; did you mean 'kernel_size'?"},
      {"misspelled canonical", kHead + "y = conv2d(x, 4, kernal=3)\n", "3:18",
       "conv2d has no argument 'kernal'; did you mean 'kernel'?"},
      {"misspelled pool_size", kHead + "y = maxpool2d(x, pool_szie=2)\n", "3:18",
       "maxpool2d has no argument 'pool_szie'; did you mean 'pool_size'?"},
      {"misspelled dilation_rate", kHead + "y = conv2d(x, 4, 3, dilation_rat=2)\n", "3:21",
       "conv2d has no argument 'dilation_rat'; did you mean 'dilation_rate'?"},
      {"misspelled name", kHead + "y = relu(x, nmae=a)\n", "3:13",
       "relu has no argument 'nmae'; did you mean 'name'?"},
      {"misspelled activation", kHead + "y = conv2d(x, 4, 3, activation=rellu)\n", "3:32",
       "unknown activation 'rellu'; did you mean 'relu'? (expected one of: linear, relu, sigmoid, "
       "tanh, leaky_relu, elu, softmax)"},
      {"cropping more than the image", kHead + "y = cropping2d(x, cropping=(20, 1))\n", "3:5",
       "cropping2d: cropping rows (20, 20) and columns (1, 1) leaves"},
      {"margins of three", kHead + "y = zero_padding2d(x, padding=(1, 2, 3))\n", "3:31",
       "expected an integer, (rows, cols) or ((top, bottom), (left, right)) for 'padding'"},
      {"misspelled padding", kHead + "y = conv2d(x, 4, 3, padding=sme)\n", "3:29",
       "unknown padding 'sme'; did you mean 'same'? (expected one of: valid, same)"},
      {"capitalised padding", kHead + "y = conv2d(x, 4, 3, padding='Same')\n", "3:29",
       "unknown padding 'Same'; did you mean 'same'?"},
      {"misspelled interpolation", kHead + "y = upsample2d(x, interpolation='nearst')\n", "3:33",
       "unknown interpolation 'nearst'; did you mean 'nearest'?"},
      {"misspelled boolean", kHead + "y = conv2d(x, 4, 3, use_bias=Flase)\n", "3:30",
       "expected true or false for 'use_bias', found 'Flase'; did you mean 'false'?"},
      {"Keras class name", kHead + "y = Conv2D(x, 4, 3)\n", "3:5",
       "unknown operator 'Conv2D'; did you mean 'conv2d'?"},
      {"Keras pooling class", kHead + "y = MaxPooling2D(x)\n", "3:5",
       "unknown operator 'MaxPooling2D'; did you mean 'maxpool2d'?"},
      {"Keras upsampling class", kHead + "y = UpSampling2D(x)\n", "3:5",
       "unknown operator 'UpSampling2D'; did you mean 'upsample2d'?"},
      {"Keras layer name", kHead + "y = average_pooling2d(x)\n", "3:5",
       "unknown operator 'average_pooling2d'; did you mean 'avgpool2d'?"},
      {"misspelled operator", kHead + "y = maxpool(x)\n", "3:5",
       "unknown operator 'maxpool'; did you mean 'maxpool2d'?"},
      {"misspelled name use", kHead + "code = relu(x)\ny = relu(coed)\n", "4:10",
       "use of undefined name 'coed'; did you mean 'code'?"},
      {"misspelled loss", kHead + "loss binary_crossentopy(x, x)\n", "3:6",
       "unknown loss 'binary_crossentopy'; did you mean 'binary_crossentropy'?"},
      {"misspelled train alias", kHead + "y = relu(x)\ntrain learning_rat=0.1\n", "4:7",
       "unknown train setting 'learning_rat'; did you mean 'learning_rate'?"},
      {"Keras optimizer case", kHead + "y = relu(x)\ntrain optimizer='RMSprop'\n", "4:17",
       "unknown optimizer 'RMSprop'; did you mean 'rmsprop'?"},
      {"too many positional", kHead + "f = flatten(x)\ny = dense(f, 4, 'relu', False, 5, 6)\n",
       "4:32", "dense takes at most 4 positional arguments but 6 were given"},
      {"literal for a value", kHead + "y = add(x, 3)\n", "3:12",
       "expected a value (an input or an earlier layer) for 'b', found the integer 3"},
      {"string for a value", kHead + "y = relu(x='x')\n", "3:12",
       "expected a value (an input or an earlier layer) for 'x', found the string \"x\""},
      {"value for a setting", kHead + "y = concat(x, x, x)\n", "3:18",
       "expected an integer for 'axis', found 'x'"},
      {"three-tuple kernel", kHead + "y = conv2d(x, 4, (3, 3, 3))\n", "3:18",
       "expected an integer or a pair (h, w) for 'kernel', found the tuple (3, 3, 3)"},
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
      {"negative lr", kHead + "y = relu(x)\ntrain lr=-0.1\n", "4:10",
       "lr must be positive and at most 1e6, found -0.1"},
      {"huge lr", kHead + "y = relu(x)\ntrain lr=2e6\n", "4:10",
       "lr must be positive and at most 1e6, found 2000000"},
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

TEST_CASE("an argument given twice, in any spelling, names both") {
  expectRendered(kHead + "y = conv2d(x, 4, kernel=3, kernel_size=3)\n",
                 "bad.nn:3:28: error: argument 'kernel' is given twice, as 'kernel' and as "
                 "'kernel_size'\n"
                 "y = conv2d(x, 4, kernel=3, kernel_size=3)\n"
                 "                           ^\n"
                 "note: it is first given at line 3, column 18\n");
  expectRendered(kHead + "y = conv2d(x, 4, 3, kernel_size=3)\n",
                 "bad.nn:3:21: error: argument 'kernel' is given twice, by position and as "
                 "'kernel_size'\n"
                 "y = conv2d(x, 4, 3, kernel_size=3)\n"
                 "                    ^\n"
                 "note: it is first given at line 3, column 18\n");
  std::string out = errorsOf(kHead + "y = conv2d_transpose(x, 4, kernel_size=3, kernel=3)\n");
  CHECK(out.find("bad.nn:3:43: error: argument 'kernel' is given twice, as 'kernel_size' and as "
                 "'kernel'\n") == 0);
  out = errorsOf(kHead + "y = conv2d(x, 4, 3, dilation_rate=2, dilation=2)\n");
  CHECK(out.find("bad.nn:3:38: error: argument 'dilation' is given twice, as 'dilation_rate' and "
                 "as 'dilation'\n") == 0);
  out = errorsOf(kHead + "y = maxpool2d(x, pool_size=2, pool=2)\n");
  CHECK(out.find("bad.nn:3:31: error: argument 'pool' is given twice, as 'pool_size' and as "
                 "'pool'\n") == 0);
  out = errorsOf(kHead + "y = avgpool2d(x, (2, 2), pool_size=2)\n");
  CHECK(out.find("bad.nn:3:26: error: argument 'pool' is given twice, by position and as "
                 "'pool_size'\n") == 0);
  out = errorsOf(kHead + "y = conv2d(x, 4, kernel=3, kernel=3)\n");
  CHECK(out.find("bad.nn:3:28: error: argument 'kernel' is given twice\n") == 0);
  out = errorsOf(kHead + "y = relu(x, name=a, name=b)\n");
  CHECK(out.find("bad.nn:3:21: error: argument 'name' is given twice\n") == 0);
  expectRendered(kHead + "y = relu(x)\ntrain batch=8, batch_size=16\n",
                 "bad.nn:4:16: error: train setting 'batch' is given twice, as 'batch' and as "
                 "'batch_size'\n"
                 "train batch=8, batch_size=16\n"
                 "               ^\n"
                 "note: it is first given at line 4, column 7\n");
  out = errorsOf(kHead + "y = relu(x)\ntrain learning_rate=0.1, lr=0.2\n");
  CHECK(out.find("bad.nn:4:26: error: train setting 'lr' is given twice, as 'learning_rate' and "
                 "as 'lr'\n") == 0);
}

TEST_CASE("positional settings: errors say what Python would, with the order to follow") {
  expectRendered(kHead + "y = conv2d(x, filters=4, (3, 3))\n",
                 "bad.nn:3:26: error: positional argument follows keyword argument 'filters'\n"
                 "y = conv2d(x, filters=4, (3, 3))\n"
                 "                         ^\n"
                 "hint: positional arguments come first, in the order: x, filters, kernel, "
                 "strides, padding, dilation, activation, use_bias\n");
  expectRendered(kHead + "y = maxpool2d(x, 2, 2, 'same', 1)\n",
                 "bad.nn:3:32: error: maxpool2d takes at most 4 positional arguments but 5 were "
                 "given\n"
                 "y = maxpool2d(x, 2, 2, 'same', 1)\n"
                 "                               ^\n"
                 "note: maxpool2d's arguments in order: x, pool, strides, padding\n");
  expectRendered(kHead + "y = conv2d(16, (3, 3), activation='relu', padding='same')\n",
                 "bad.nn:3:12: error: expected a value (an input or an earlier layer) for 'x', "
                 "found the integer 16\n"
                 "y = conv2d(16, (3, 3), activation='relu', padding='same')\n"
                 "           ^\n"
                 "hint: conv2d takes its value argument first: conv2d(x, ...)\n");
  std::string out = errorsOf(kHead + "y = add(x, 3)\n");
  CHECK(out.find("hint: add takes its value arguments first: add(a, b)\n") != std::string::npos);
  expectRendered(kHead + "h = relu(x)\ny = conv2d(x, h, 3)\n",
                 "bad.nn:4:15: error: expected an integer for 'filters', found 'h'\n"
                 "y = conv2d(x, h, 3)\n"
                 "              ^\n"
                 "hint: 'h' is a value (an input or a layer), but conv2d takes 1 value "
                 "argument: x\n");
  out = errorsOf(kHead + "y = concat(x, x, x)\n");
  CHECK(out.find("hint: 'x' is a value (an input or a layer), but concat takes 2 value "
                 "arguments: a, b\n") != std::string::npos);
  expectRendered(kHead + "y = conv2d(x, 4, kernel_size=(3,))\n",
                 "bad.nn:3:30: error: expected an integer or a pair (h, w) for 'kernel', found "
                 "the tuple (3,)\n"
                 "y = conv2d(x, 4, kernel_size=(3,))\n"
                 "                             ^\n"
                 "hint: (3,) has one element; write 3 or (3, 3)\n");
}

TEST_CASE("an unknown keyword lists the arguments, with the Keras spellings") {
  expectRendered(kHead + "y = conv2d(x, 4, 3, groups=2)\n",
                 "bad.nn:3:21: error: conv2d has no argument 'groups'\n"
                 "y = conv2d(x, 4, 3, groups=2)\n"
                 "                    ^\n"
                 "note: conv2d takes: x, filters, kernel (or kernel_size), strides, padding, "
                 "dilation (or dilation_rate), activation, use_bias, name\n");
  std::string out = errorsOf(kHead + "y = relu(x)\ntrain epoch=3\n");
  CHECK(out.find("note: train settings are: optimizer, lr (or learning_rate), epochs, batch (or "
                 "batch_size), shuffle, seed, metrics\n") != std::string::npos);
}

TEST_CASE("Keras spellings give the same graph as nnc's own") {
  const std::pair<std::string, std::string> same[] = {
      {"y = conv2d(x, 16, (3, 3), activation='relu', padding='same')",
       "y = conv2d(x, filters=16, kernel=3, activation=relu, padding=same)"},
      {"y = conv2d(x, 4, kernel_size=(5, 3), strides=(2,2), dilation_rate=2, use_bias=False)",
       "y = conv2d(x, filters=4, kernel=(5, 3), strides=2, dilation=2, use_bias=false)"},
      {"y = conv2d_transpose(x, 2, kernel_size=3, strides=2, padding=\"same\")",
       "y = conv2d_transpose(x, filters=2, kernel=3, strides=2, padding=same)"},
      {"y = maxpool2d(x, (2, 2), padding='same')", "y = maxpool2d(x, pool=2, padding=same)"},
      {"y = maxpool2d(x, pool_size=3, strides=(1, 1))", "y = maxpool2d(x, pool=3, strides=1)"},
      {"y = avgpool2d(x, pool_size=(2, 2))", "y = avgpool2d(x, pool=2)"},
      {"y = upsample2d(x, (2, 2), 'bilinear')",
       "y = upsample2d(x, size=2, interpolation=bilinear)"},
      {"y = relu(x, name='act')", "y = relu(x, name=act)"},
      {"f = flatten(x)\ny = dense(f, 10, 'softmax', False)",
       "f = flatten(x)\ny = dense(f, units=10, activation=softmax, use_bias=false)"},
      {"f = flatten(x)\ny = dense(f, 1, use_bias=False)",
       "f = flatten(x)\ny = dense(f, units=1, use_bias=false)"},
  };
  for (const auto &[keras, nnc] : same) {
    CAPTURE(keras);
    std::string a = irOf(kHead + keras + "\n"), b = irOf(kHead + nnc + "\n");
    CHECK(a.rfind("model m", 0) == 0);
    CHECK(a == b);
  }
  CHECK(irOf(kHead + "f = flatten(x)\ny = dense(f, 1, use_bias=False)\n").find("bias") ==
        std::string::npos);
  DiagEngine d("ok.nn", "");
  auto g = compileSource(kHead + "y = relu(x)\ntrain optimizer='adadelta', epochs=50, "
                                 "batch_size=256, learning_rate=0.5, shuffle=False\n",
                         "ok.nn", d);
  REQUIRE(g);
  CHECK(g->train.optimizer == "adadelta");
  CHECK(g->train.epochs == 50);
  CHECK(g->train.batch == 256);
  CHECK(*g->train.lr == 0.5);
  CHECK(!g->train.shuffle);
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

TEST_CASE("the verifier names every broken invariant and both sides of a type mismatch") {
  const std::string src = kHead + "f = flatten(x)\nh = dense(f, units=10)\n";
  DiagEngine d("ok.nn", src);
  std::optional<Graph> g = compileSource(src, "ok.nn", d);
  REQUIRE(g);
  CHECK(verify(*g).ok());
  const ValueId h = g->find("h");
  Graph bad = *g;
  bad[h].type.dims = {12};
  Status s = verify(bad);
  REQUIRE(!s.ok());
  CHECK(s.error().find("IR verification failed:\n  %h (") == 0);
  CHECK(s.error().find("): type mismatch: expected f32[N,10], got f32[N,12]") != std::string::npos);

  bad = *g;
  bad[h].inputs.push_back(h);
  bad.nodes.front().name = "h";
  s = verify(bad);
  REQUIRE(!s.ok());
  CAPTURE(s.error());
  CHECK(s.error().find("value name is used twice") != std::string::npos);
  CHECK(s.error().find("operand %" + std::to_string(h) + " is not defined before its use") !=
        std::string::npos);
}
