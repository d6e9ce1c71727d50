// Training checkpoints: one safetensors file per save (weights and optimizer state as tensors;
// training position, the run's configuration, model identity and an XXH3-64 hash of every tensor's
// bytes in "__metadata__", so the files stay plain safetensors), named
// ckpt-epoch-EEEE.safetensors (or ckpt-epoch-EEEE-step-SSSSSS.safetensors when saved inside an
// epoch), plus a `latest` pointer file holding the newest file's name. Both are written
// atomically and in that order, and older files are pruned only after both are durable, so a
// crash at any point leaves either `latest` naming a complete checkpoint or (killed before the
// first pointer) a complete checkpoint that loading finds without it. Files at or after the
// one `latest` names are never removed. Loading is strict: every metadata field is
// range-checked, every tensor's hash must match, weights must be finite, and the tensors
// must be exactly the model's parameters and optimizer state. The loss history the
// checkpoints carry is also what `nnc train --csv` writes.
#pragma once

#include "ir/Graph.h"
#include "runtime/Safetensors.h"
#include "support/Result.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// Largest epoch (and step within an epoch) a checkpoint may record.
constexpr int64_t kMaxCheckpointEpoch = 1'000'000'000;
/// Largest batch size a checkpoint may record.
constexpr int64_t kMaxCheckpointBatch = 1'000'000'000;

/// One finished epoch of the loss curve.
struct EpochRecord {
  int64_t epoch = 0;
  double loss = 0;
  std::optional<double> valLoss;
  double seconds = 0;
  std::optional<double> accuracy, valAccuracy; // with metrics=accuracy
};

/// The curve as CSV with the header "epoch,loss,val_loss,seconds", and ",accuracy,val_accuracy"
/// when an epoch has an accuracy.
std::string historyCsv(const std::vector<EpochRecord> &history);
/// Parses historyCsv() text (the header line is optional; rows of 4 or 6 fields): epochs whole
/// numbers from 1 and increasing, losses finite, seconds finite and not negative, accuracies
/// empty or in [0, 1]; `what` names it in errors.
Result<std::vector<EpochRecord>> parseHistoryCsv(const std::string &text, const std::string &what);

/// Where training stands when a checkpoint is written, which model wrote it, and the run's
/// configuration (what `nnc train --resume` continues with).
struct CheckpointInfo {
  std::string modelName;
  std::string modelHash;    // graphHash() of the model's typed graph
  std::string optimizer;    // "adam", "sgd", ...
  std::string data;         // the dataset as --data names it
  int64_t epochs = 1;       // epochs the run trains in total
  std::optional<double> lr; // unset: the optimizer's Keras default
  bool shuffle = true;
  std::optional<double> validationSplit; // unset: validate on the test split
  std::vector<std::string> metrics;      // "accuracy", ...
  int64_t epoch = 0;                     // completed epochs
  int64_t step = 0;       // completed steps of epoch `epoch + 1` (0 at an epoch boundary)
  int64_t globalStep = 0; // completed steps since training started
  uint64_t seed = 0;
  int64_t batch = 0;
  std::string rngState;      // shuffle generator state at the start of epoch `epoch + 1`
  double partialLossSum = 0; // sum of loss * examples over the `step` steps already done
  int64_t partialCount = 0;  // examples in those steps
  double partialSeconds = 0; // time those steps took
  int64_t partialCorrect = 0, partialCompared = 0; // their accuracy counts (metrics=accuracy)
  std::string history; // the finished epochs' curve, "epoch,loss,val_loss,seconds" lines
};

/// A checkpoint read back from disk.
struct Checkpoint {
  std::string path;
  TensorMapD tensors; // F32 files are widened exactly
  bool f64 = false;   // the file stored F64 tensors
  CheckpointInfo info;
  /// Set when `latest` was missing or dangling and this newest complete file was taken instead.
  std::string note;
};

/// A stable hash of `text` ("fnv1a64:" and 16 hex digits).
std::string textHash(std::string_view text);
/// The model's identity: textHash of its typed graph as printed without file names and source
/// positions (names, ops, shapes, attributes, parameter names, outputs, loss), so comments and
/// formatting of the .nn file do not change it, and the train statement does not either.
std::string graphHash(const Graph &g);

/// "ckpt-epoch-0003.safetensors", or "ckpt-epoch-0003-step-000017.safetensors" when step > 0.
std::string checkpointFileName(int64_t epoch, int64_t step);

/// Encodes `info` as safetensors metadata (doubles as exact hex floats).
SafetensorsMetadata checkpointMetadata(const CheckpointInfo &info);
/// True when safetensors metadata says the file is an nnc training checkpoint.
bool isCheckpointMetadata(const SafetensorsMetadata &m);
/// Decodes checkpoint metadata, checking every field's format and range and their agreement
/// (history rows 1..epoch, partial_count = step * batch, ...); errors name the file (`what`)
/// and the field.
Result<CheckpointInfo> parseCheckpointMetadata(const SafetensorsMetadata &m,
                                               const std::string &what);

/// Records in `metadata` the XXH3-64 hash of each tensor's bytes as a checkpoint stores them
/// (F64 when `f64`, else F32), under "xxh3.NAME".
void addTensorHashes(SafetensorsMetadata &metadata, const TensorMapD &tensors, bool f64);

/// Writes a checkpoint into `dir` (created if missing) with the hash of every tensor, points
/// `latest` at it, and only then prunes (pruneCheckpoints). Tensors are stored as F64 when
/// `f64` (a double-precision backend), else as F32. Returns the path written.
Result<std::string> saveCheckpoint(const std::string &dir, const TensorMapD &tensors,
                                   const CheckpointInfo &info, bool f64, int keep = 3);

/// Removes the checkpoints before the one `dir/latest` names except the newest `keep - 1` of
/// them; nothing when there is no `latest`. Never removes that file or later ones.
void pruneCheckpoints(const std::string &dir, int keep);

/// True when `dir` holds a checkpoint file or a `latest` pointer (an earlier run's work).
bool holdsCheckpoints(const std::string &dir);

/// The path `dir/latest` points to; errors when there is none.
Result<std::string> latestCheckpointPath(const std::string &dir);

/// Validates an already read safetensors file as a checkpoint (metadata, each tensor's hash,
/// finite values).
Result<Checkpoint> checkpointFrom(SafetensorsD file, const std::string &path);
/// Reads and validates one checkpoint file.
Result<Checkpoint> readCheckpoint(const std::string &path);

/// Reads the checkpoint `dir/latest` points to; when `latest` is missing or names a file that
/// does not exist, the newest checkpoint file that loads completely, with a note saying so.
Result<Checkpoint> loadLatestCheckpoint(const std::string &dir);

/// The tensors a checkpoint of training graph `g` holds: every parameter and optimizer state.
std::map<std::string, std::vector<int64_t>> checkpointShapes(const Graph &g);
/// Checks that `tensors` are exactly the parameters and optimizer state of training graph `g`
/// (names and shapes), listing every mismatch; `what` (the file) starts each line.
Status checkCheckpointTensors(const TensorMapD &tensors, const Graph &g, const std::string &what);

/// Refuses a checkpoint written by another model, naming both models and their hashes.
Status checkSameModel(const Checkpoint &c, const std::string &modelName,
                      const std::string &modelHash, const std::string &modelFile);

/// The checkpoint files in `dir`, oldest first by (epoch, step).
std::vector<std::string> listCheckpoints(const std::string &dir);

} // namespace nnc
