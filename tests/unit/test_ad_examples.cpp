// Gradient checks of the example models that have a loss (sampled coordinates per tensor).
#include "test_ad_util.h"

using nnc::adtest::expectGradCheck;
using nnc::adtest::readSource;

TEST_CASE("gradcheck the lecture autoencoder") {
  expectGradCheck(readSource("examples/autoencoder.nn"), 2, 1, 12);
}

TEST_CASE("gradcheck the lecture's transpose-convolution autoencoder") {
  expectGradCheck(readSource("examples/autoencoder_transpose.nn"), 2, 1, 12);
}

TEST_CASE("gradcheck the stride-2 transpose-convolution autoencoder") {
  expectGradCheck(readSource("examples/autoencoder_strided.nn"), 2, 1, 12);
}

TEST_CASE("gradcheck the mnist classifier") {
  expectGradCheck(readSource("examples/mnist_cnn.nn"), 2, 1, 12);
}
