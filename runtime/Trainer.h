// The training loop behind `nnc train`: epochs of shuffled mini-batches (the last partial
// batch included) fed to a Backend, validation loss after each epoch, the loss curve as CSV,
// checkpoints after each epoch and on interruption, and resumption from the latest checkpoint
// that ends bit-identical to an uninterrupted run (same seed, one thread).
#pragma once

#include "ir/Graph.h"
#include "runtime/Backend.h"
#include "runtime/Checkpoint.h"
#include "runtime/Idx.h"
#include "support/Result.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace nnc {

/// The shuffling generator: SplitMix64, whose whole state is one 64-bit word, so a checkpoint
/// can store it exactly.
class ShuffleRng {
public:
  /// A generator for `seed` (a different stream than weight initialisation uses).
  explicit ShuffleRng(uint64_t seed);
  /// The next 64 random bits.
  uint64_t next();
  /// A uniform integer in [0, bound) without modulo bias; bound must be positive.
  uint64_t below(uint64_t bound);
  /// Fisher-Yates shuffle of `v`.
  void shuffle(std::vector<uint32_t> &v);
  /// The state as text ("splitmix64:" and 16 hex digits).
  std::string state() const;
  /// Restores a state written by state(); nothing if the text is malformed.
  static std::optional<ShuffleRng> fromState(const std::string &text);

private:
  ShuffleRng() = default;
  uint64_t s_ = 0;
};

/// A contiguous run of examples of a dataset (the training part or the validation part).
struct DataView {
  const Dataset *data = nullptr;
  int64_t begin = 0, count = 0;
};

/// How the model's inputs receive data: the first input gets images scaled to [0, 1], a
/// second input of shape [10] one-hot labels. Errors name the input and both shapes.
struct InputBinding {
  std::string images, labels; // Input node names ("" when the model has no label input)
  std::vector<int64_t> imageDims;

  /// Checks the graph's inputs against the dataset's image size.
  static Result<InputBinding> make(const Graph &g, const Dataset &d);
  /// The input tensors for examples idx[0..n) of `v`, scaling bytes to [0, 1] as floats.
  TensorMap batch(const DataView &v, const uint32_t *idx, int64_t n) const;
};

/// How `metrics=accuracy` scores a batch: the loss's prediction (a model output) against its
/// target (a model input), by argmax for categorical crossentropy and by the side of a
/// threshold (0.5, or 0 for logits) of each value for binary crossentropy.
struct Accuracy {
  std::string pred, target; // value names
  bool categorical = false;
  double threshold = 0.5;

  /// The accuracy of forward graph `g`'s loss (before decompose); errors say why there is none.
  static Result<Accuracy> of(const Graph &g);
  /// Adds the correct predictions and the predictions compared in one batch of n examples.
  void count(const TensorMap &outputs, const TensorMap &inputs, int64_t n, int64_t &correct,
             int64_t &compared) const;
};

/// Options of one training run (the command line's, after the train statement's defaults).
struct TrainOptions {
  std::string modelName, modelHash, modelFile; // identity stored in checkpoints
  std::string data;                            // the dataset's name, stored in checkpoints
  std::string optimizer = "adam";
  std::optional<double> lr; // as the run gives it (unset: the optimizer's default)
  int64_t epochs = 1, batch = 32;
  bool shuffle = true;
  uint64_t seed = 0;
  /// Fraction of the training split held out (its tail) for validation; unset: the test split.
  std::optional<double> validationSplit;
  std::optional<Accuracy> accuracy;        // metrics=accuracy; pred must be one of g's outputs
  std::string checkpointDir;               // "" writes no checkpoints
  bool resume = false;                     // continue from checkpointDir's latest checkpoint
  const Checkpoint *resumeFrom = nullptr;  // with resume: that checkpoint, already read
  int keep = 3;                            // checkpoints kept
  std::string csvPath;                     // "" writes no curve
  const std::atomic<bool> *stop = nullptr; // set (by SIGINT): checkpoint after this step, return
  std::ostream *log = nullptr;             // progress output, like Keras's stdout (nullptr: silent)
  std::ostream *warnings = nullptr;        // notes, like Keras's stderr (nullptr: none)
  bool interactive = false;                // live progress bar (log is a terminal)
};

/// What a run did.
struct TrainOutcome {
  std::vector<EpochRecord> history; // every finished epoch, earlier runs' included on resume
  std::string lastCheckpoint;       // path of the newest checkpoint written ("" if none)
  bool interrupted = false;         // stopped by `stop` after checkpointing
  int64_t resumedEpoch = 0, resumedStep = 0;
  double stepSeconds = 0;       // this run's wall time in training steps
  double validationSeconds = 0; // ... in validation passes
  double checkpointSeconds = 0; // ... writing checkpoints
};

/// Parameters and optimizer state in the backend's own precision (double for the reference
/// interpreter, float otherwise, widened); `f64` tells which.
TensorMapD backendState(const Backend &b, bool *f64 = nullptr);
/// Sets parameters and optimizer state without losing precision on a double backend.
Status setBackendState(Backend &b, const TensorMapD &t);

/// Mean loss over the examples of `v` in batches of `batch` (weighted by batch size).
Result<double> validationLoss(Backend &b, const InputBinding &in, const DataView &v, int64_t batch);

/// Loss and (with an accuracy) the accuracy over the examples of `v`.
struct Evaluation {
  double loss = 0;
  std::optional<double> accuracy;
};
/// Evaluates `v` in batches of `batch`: the mean loss, and the accuracy when `acc` is given.
Result<Evaluation> evaluateView(Backend &b, const InputBinding &in, const DataView &v,
                                int64_t batch, const Accuracy *acc);

/// Trains `b` (already holding initial weights) on `data`. A non-finite loss, a backend error
/// (e.g. from check-numerics) or a non-finite weight stops training with an error naming the
/// epoch and step; the last good checkpoint is never overwritten.
Result<TrainOutcome> trainModel(const Graph &g, Backend &b, const DataSplit &data,
                                const TrainOptions &o);

} // namespace nnc
