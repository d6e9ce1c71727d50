// NumPy's .npy arrays of uint8 and .npz archives of them (a zip of NAME.npy members, as written
// by numpy.savez and numpy.savez_compressed), read within the limits below: the npy header is
// parsed as the Python dict literal it is, and every size is checked before it is allocated.
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// A C-order uint8 array: its shape and its bytes (product of the shape).
struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

/// What an npy header says: dtype, order, shape, and where the data starts.
struct NpyHeader {
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  /// Bytes before the data: magic, version, header length and the header itself.
  uint64_t dataOffset = 0;
  /// Bytes of data the shape promises (uint8: one per element).
  uint64_t dataBytes = 0;
};

/// Largest npy header (the dict text) nnc reads.
constexpr uint32_t kMaxNpyHeaderBytes = 64 << 10;
/// Largest npy array nnc reads, in bytes.
constexpr uint64_t kMaxNpyBytes = 4ull << 30;
/// Largest npz file nnc reads.
constexpr uint64_t kMaxNpzBytes = 4ull << 30;

/// Parses the header at the start of `prefix` (at least the whole header: magic, version 1, 2
/// or 3, length, dict with descr '|u1', fortran_order False and a shape tuple).
Result<NpyHeader> parseNpyHeader(std::string_view prefix, const std::string &name);
/// Parses a whole .npy file of uint8 whose data is exactly what the shape promises.
Result<NpyArray> parseNpy(std::string_view bytes, const std::string &name);

/// An npy file (format 1.0) of little-endian float32 (`'<f4'`, C order) with shape `shape`
/// holding `data`; the header is padded so the data starts at a multiple of 64 bytes. Errors
/// when the shape's product is not data.size() or the header would exceed format 1.0's 65535.
Result<std::string> encodeNpyF32(const std::vector<int64_t> &shape, const std::vector<float> &data);

/// Reads the members `members` (e.g. "x_train.npy") of the npz archive in `bytes`.
Result<std::map<std::string, NpyArray>> readNpz(std::string_view bytes, const std::string &name,
                                                const std::vector<std::string> &members);
/// Reads the members `members` of the npz file at `path` (a regular file of at most
/// kMaxNpzBytes).
Result<std::map<std::string, NpyArray>> readNpzFile(const std::string &path,
                                                    const std::vector<std::string> &members);

} // namespace nnc
