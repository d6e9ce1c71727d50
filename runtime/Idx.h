// MNIST-format datasets: IDX image files (magic 0x00000803, count x rows x cols bytes) and
// label files (magic 0x00000801, count bytes, each 0..9), raw or gzip-compressed, and the
// lookup of a dataset by name ("mnist", "fashion-mnist") or directory.
#pragma once

#include "frontend/Diagnostics.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// Images (row-major bytes, image after image) with one label 0..9 per image.
struct Dataset {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;
  std::vector<uint8_t> labels;
};

/// The train and test splits of one dataset and where they came from.
struct DataSplit {
  Dataset train, test;
  /// The directory the four files were read from.
  std::string dir;
  /// A short description for progress output, e.g. "mnist, bundled 10k subset (8004 train /
  /// 1996 test, 28x28)".
  std::string description;
};

/// The images of an IDX image file.
struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;
};

/// Returns the file's bytes, gunzipped when they start with the gzip magic; a name ending
/// in ".gz" must be gzip. `name` is used in messages.
Result<std::vector<uint8_t>> decompressIfGzip(std::string_view bytes, const std::string &name);
/// Reads a file and gunzips it if it is gzip-compressed.
Result<std::vector<uint8_t>> readMaybeGzip(const std::string &path);

/// Validates the (decompressed) bytes of an IDX image file; the pixels keep their buffer (a
/// 47 MB training split is not copied).
Result<IdxImages> parseIdxImages(std::vector<uint8_t> bytes, const std::string &name);
/// Validates the (decompressed) bytes of an IDX label file (labels 0..9).
Result<std::vector<uint8_t>> parseIdxLabels(std::string_view bytes, const std::string &name);

/// Reads an image file and a label file (raw or .gz) and checks that their counts match.
Result<Dataset> readIdxDataset(const std::string &imagesPath, const std::string &labelsPath);

/// Loads train and test splits from a directory holding train-images-idx3-ubyte[.gz],
/// train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz],
/// or by name: "mnist" ($NNC_DATA/mnist, $NNC_DATA, then the bundled 10k subset) or
/// "fashion-mnist" ($NNC_DATA/fashion-mnist, /usr/share/datasets/fashion-mnist). When
/// nothing is found, the error lists every place searched and how to get the data.
Result<DataSplit> loadDataset(const std::string &nameOrDir);

} // namespace nnc
