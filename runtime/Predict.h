// Running a trained model for `nnc predict` and `nnc evaluate`: chosen test examples or a
// learner's own images through a backend in batches, gathering one output for every example,
// and writing raw outputs as .npy, .csv or .safetensors.
#pragma once

#include "runtime/Backend.h"
#include "runtime/Classifier.h"
#include "runtime/Trainer.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nnc {

/// One output of a model for several examples, and the mean loss over them.
struct Predictions {
  Tensor output; // [n, ...]: the output for example after example
  double loss = 0;
};

/// The image size (rows, cols) the model's first input takes: [H, W, 1], [H, W], or a square
/// [H*W]; other shapes (colour channels, say) are an error naming the input and its shape.
Result<std::pair<int64_t, int64_t>> imageSizeOf(const Graph &g);

/// Runs examples idx of `v` through `b` in batches of `batch`, gathering output `output`.
Result<Predictions> predictExamples(Backend &b, const InputBinding &in, const DataView &v,
                                    const std::vector<uint32_t> &idx, int64_t batch,
                                    const std::string &output);

/// Runs `n` images (rows x cols values in [0, 1] each, image after image) through `b` (running
/// training graph `g`) in batches of `batch`, gathering output `output`; the inputs that only
/// the loss reads (labels) get zeros, so the loss is meaningless.
Result<Predictions> predictImages(Backend &b, const Graph &g, const InputBinding &in,
                                  const std::vector<float> &images, int64_t n, int64_t batch,
                                  const std::string &output);

/// The confusion matrix of categorical outputs [n, classes] against `labels` (one per example).
ConfusionMatrix confusionOf(const Tensor &outputs, const std::vector<int> &labels);

/// The labels of examples idx of a dataset.
std::vector<int> labelsOf(const Dataset &d, const std::vector<uint32_t> &idx);

/// Writes `outputs` ([n, ...]) by the extension of `path`: .npy (float32), .csv (a header
/// `image,0,1,...`, then one row per example named by `names`) or .safetensors (one tensor
/// named `tensorName`). Other extensions are an error naming the three.
Status writeOutputs(const std::string &path, const Tensor &outputs,
                    const std::vector<std::string> &names, const std::string &tensorName);

/// Whether writeOutputs knows the extension of `path`; otherwise an error saying which it knows.
Status checkOutputsExtension(const std::string &path);

} // namespace nnc
