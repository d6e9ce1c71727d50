// The safetensors checkpoint format: an 8-byte little-endian header length N, N bytes of
// JSON `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, "__metadata__":
// {"k": "v"}}`, then the data section, which the tensors' [b, e) ranges must cover exactly.
// Readers validate every field and byte range against the file size before reading data,
// within the limits below, and return errors naming the file and tensor; writers are atomic
// (see FileUtil.h).
#pragma once

#include "runtime/Tensor.h"
#include "support/Result.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// Largest safetensors file nnc reads (weights, checkpoints, eval inputs).
constexpr uint64_t kMaxSafetensorsBytes = 8ull << 30;
/// Largest JSON header of a safetensors file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
/// Most values in one tensor.
constexpr uint64_t kMaxTensorElements = 1ull << 30;

/// The free-form string pairs stored under "__metadata__".
using SafetensorsMetadata = std::map<std::string, std::string>;

/// A safetensors file read as float tensors (F64 data is converted to float).
struct Safetensors {
  TensorMap tensors;
  SafetensorsMetadata metadata;
  /// The dtype each tensor had in the file ("F32" or "F64").
  std::map<std::string, std::string> dtypes;
};

/// A safetensors file read as double tensors (F32 data is widened exactly).
struct SafetensorsD {
  TensorMapD tensors;
  SafetensorsMetadata metadata;
  std::map<std::string, std::string> dtypes;
};

/// Reads and validates a safetensors file as float tensors.
Result<Safetensors> readSafetensors(const std::string &path);
/// Validates in-memory safetensors bytes; `name` is the file name used in messages.
Result<Safetensors> parseSafetensors(std::string_view bytes, const std::string &name);
/// Reads and validates a safetensors file as double tensors.
Result<SafetensorsD> readSafetensorsD(const std::string &path);
/// Validates in-memory safetensors bytes as double tensors.
Result<SafetensorsD> parseSafetensorsD(std::string_view bytes, const std::string &name);

/// Encodes float tensors as F32 safetensors bytes (tensors in name order, header padded to 8).
Result<std::string> encodeSafetensors(const TensorMap &tensors,
                                      const SafetensorsMetadata &metadata = {});
/// Encodes double tensors as F64 safetensors bytes.
Result<std::string> encodeSafetensorsD(const TensorMapD &tensors,
                                       const SafetensorsMetadata &metadata = {});
/// Writes float tensors as F32 to `path` atomically.
Status writeSafetensors(const std::string &path, const TensorMap &tensors,
                        const SafetensorsMetadata &metadata = {});
/// Writes double tensors as F64 to `path` atomically.
Status writeSafetensorsD(const std::string &path, const TensorMapD &tensors,
                         const SafetensorsMetadata &metadata = {});

/// At most this many tensor problems are listed by checkShapes; the rest are counted.
constexpr size_t kMaxShapeProblemsShown = 20;

/// Checks that `tensors` has exactly the `expected` names and shapes; `what` (usually the
/// file name) starts each message, e.g. "w.safetensors: tensor 'k' has shape [3,3,1,8], the
/// model expects [3,3,1,16]". Mismatches are reported one per line, the first
/// kMaxShapeProblemsShown of them, then "N more problems not shown".
Status checkShapes(const TensorMap &tensors,
                   const std::map<std::string, std::vector<int64_t>> &expected,
                   const std::string &what);
/// checkShapes on tensor names and shapes alone.
Status checkShapes(const std::map<std::string, std::vector<int64_t>> &actual,
                   const std::map<std::string, std::vector<int64_t>> &expected,
                   const std::string &what);

/// Refuses tensors holding a NaN or infinity, naming the first such tensor and value; `what`
/// (usually the file name) starts the message.
Status checkFinite(const TensorMapD &tensors, const std::string &what);
/// checkFinite for float tensors.
Status checkFinite(const TensorMap &tensors, const std::string &what);

} // namespace nnc
