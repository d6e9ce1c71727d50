// Gradient checks of every primitive in isolation (finite differences vs autodiff).
#include "test_ad_util.h"

using nnc::adtest::expectGradCheck;

TEST_CASE("gradcheck dense") {
  expectGradCheck("model t\ninput x: [4]\ninput t: [3]\ny = dense(x, units=3)\nloss mse(y, t)\n");
  expectGradCheck("model t\ninput x: [2, 4]\ninput t: [2, 3]\n"
                  "y = dense(x, units=3, use_bias=false, activation=tanh)\nloss mse(y, t)\n");
}

TEST_CASE("gradcheck conv2d options") {
  const char *convs[] = {
      "kernel=3",
      "kernel=3, padding=same",
      "kernel=3, strides=2",
      "kernel=3, strides=2, padding=same",
      "kernel=(2, 3), strides=(2, 1), padding=same",
      "kernel=3, dilation=2",
      "kernel=2, dilation=2, padding=same",
      "kernel=3, use_bias=false",
  };
  for (const char *shape : {"[7, 6, 2]", "[6, 9, 1]"})
    for (const char *c : convs) {
      CAPTURE(shape);
      CAPTURE(c);
      expectGradCheck(std::string("model t\ninput x: ") + shape + "\ninput u: [2]\n" +
                      "h = conv2d(x, filters=3, " + c + ")\n" +
                      "h = flatten(h)\nz = dense(h, units=2)\nloss mse(z, u)\n");
    }
}

TEST_CASE("gradcheck conv2d_transpose strides 1 and 2") {
  const char *convs[] = {
      "kernel=3",
      "kernel=3, padding=same",
      "kernel=2, strides=2, padding=same",
      "kernel=3, strides=2, padding=same",
      "kernel=3, strides=2",
      "kernel=1, strides=2",
      "kernel=(2, 3), strides=(1, 2), use_bias=false",
  };
  for (const char *c : convs) {
    CAPTURE(c);
    expectGradCheck(std::string("model t\ninput x: [3, 4, 2]\ninput u: [2]\n") +
                    "h = conv2d_transpose(x, filters=3, " + c + ")\n" +
                    "h = flatten(h)\nz = dense(h, units=2)\nloss mse(z, u)\n");
  }
}

TEST_CASE("gradcheck pooling, valid and same") {
  const char *pools[] = {
      "maxpool2d(x, pool=2)",
      "maxpool2d(x, pool=2, padding=same)",
      "maxpool2d(x, pool=3, strides=2, padding=same)",
      "avgpool2d(x, pool=2)",
      "avgpool2d(x, pool=2, padding=same)",
      "avgpool2d(x, pool=3, strides=2, padding=same)",
  };
  for (const char *p : pools) {
    CAPTURE(p);
    expectGradCheck(std::string("model t\ninput x: [5, 7, 2]\ninput u: [3]\n") + "h = " + p +
                    "\nh = flatten(h)\nz = dense(h, units=3)\nloss mse(z, u)\n");
  }
}

TEST_CASE("gradcheck upsample nearest and bilinear") {
  const char *ups[] = {"size=2", "size=3", "size=(2, 3)", "size=2, interpolation=bilinear",
                       "size=3, interpolation=bilinear"};
  for (const char *u : ups) {
    CAPTURE(u);
    expectGradCheck(std::string("model t\ninput x: [3, 4, 2]\ninput u: [2]\n") +
                    "h = upsample2d(x, " + u +
                    ")\nh = flatten(h)\nz = dense(h, units=2)\n"
                    "loss mse(z, u)\n");
  }
}

TEST_CASE("gradcheck reshape, squeeze, flatten") {
  expectGradCheck("model t\ninput x: [2, 3, 4]\ninput u: [6, 2]\n"
                  "h = reshape(x, shape=[6, -1])\nz = dense(h, units=2)\nloss mse(z, u)\n");
  expectGradCheck("model t\ninput x: [4, 2]\ninput u: [4]\n"
                  "s = dense(x, units=1)\ns = squeeze(s, axis=-1)\nloss mse(s, u)\n");
  expectGradCheck("model t\ninput x: [3, 3, 2]\ninput u: [18]\n"
                  "h = flatten(x)\nh = sigmoid(h)\nloss mse(h, u)\n");
}

TEST_CASE("gradcheck add with a value used twice, and concat") {
  expectGradCheck("model t\ninput x: [5]\ninput u: [4]\n"
                  "h = dense(x, units=4, activation=tanh)\ns = add(h, h)\nz = add(s, h)\n"
                  "loss mse(z, u)\n");
  expectGradCheck("model t\ninput x: [4, 4, 2]\ninput u: [4, 4, 5]\n"
                  "a = conv2d(x, filters=3, kernel=3, padding=same)\n"
                  "c = concat(a, x)\nloss mse(c, u)\n");
  expectGradCheck(
      "model t\ninput x: [4, 4, 2]\ninput u: [8, 8, 2]\n"
      "a = conv2d(x, filters=2, kernel=2)\nb = conv2d_transpose(a, filters=2, kernel=2)\n"
      "c = concat(b, x, axis=1)\nc = concat(c, c, axis=2)\nloss mse(c, u)\n");
}

TEST_CASE("gradcheck activations") {
  for (const char *act : {"relu", "sigmoid", "tanh", "softmax"}) {
    CAPTURE(act);
    expectGradCheck(std::string("model t\ninput x: [3, 5]\ninput u: [3, 5]\n") +
                    "h = dense(x, units=5)\ny = " + act + "(h)\nloss mse(y, u)\n");
  }
}

TEST_CASE("gradcheck every loss") {
  // Sigmoid and softmax outputs fold into the logits forms; reshape keeps the plain forms.
  expectGradCheck("model t\ninput x: [6]\ninput u: [3]\n"
                  "y = dense(x, units=3, activation=sigmoid)\nloss binary_crossentropy(y, u)\n");
  expectGradCheck("model t\ninput x: [6]\ninput u: [3]\n"
                  "y = dense(x, units=3, activation=sigmoid)\ny = reshape(y, shape=[3])\n"
                  "loss binary_crossentropy(y, u)\n");
  expectGradCheck("model t\ninput x: [6]\ninput u: [4]\n"
                  "y = dense(x, units=4, activation=softmax)\n"
                  "loss categorical_crossentropy(y, u)\n");
  expectGradCheck("model t\ninput x: [6]\ninput u: [4]\n"
                  "y = dense(x, units=4, activation=sigmoid)\n"
                  "loss categorical_crossentropy(y, u)\n");
  expectGradCheck("model t\ninput x: [2, 6]\ninput u: [2, 4]\n"
                  "y = dense(x, units=4)\nloss mse(y, u)\n");
}
