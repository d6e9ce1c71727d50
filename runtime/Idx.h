// MNIST-format datasets: IDX image files (magic 0x00000803, count x rows x cols bytes) and
// label files (magic 0x00000801, count bytes, each 0..9), raw or gzip-compressed, read within
// the limits below, and the lookup of a dataset by name ("mnist", "fashion-mnist") or directory.
#pragma once

#include "frontend/Diagnostics.h"
#include "runtime/FileUtil.h"

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

/// Largest IDX payload nnc reads: images x rows x cols (or labels) bytes, raw or gunzipped.
constexpr uint64_t kMaxIdxBytes = 4ull << 30;
/// Most images (or labels) in one IDX file.
constexpr uint64_t kMaxIdxCount = 100'000'000;
/// Largest image side in pixels.
constexpr uint32_t kMaxIdxSide = 4096;

/// Reads and validates an IDX image file (raw or gzip): the header first, then exactly the
/// payload it promises, checked against the file size before anything is allocated.
Result<IdxImages> readIdxImages(const ByteSource &src);
/// Reads and validates an IDX label file (raw or gzip; labels 0..9).
Result<std::vector<uint8_t>> readIdxLabels(const ByteSource &src);

/// Reads an image file and a label file (raw or .gz) and checks that their counts match.
Result<Dataset> readIdxDataset(const std::string &imagesPath, const std::string &labelsPath);

/// Loads train and test splits from a directory holding train-images-idx3-ubyte[.gz],
/// train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz],
/// or by name: "mnist" ($NNC_DATA/mnist, $NNC_DATA, then the bundled 10k subset) or
/// "fashion-mnist" ($NNC_DATA/fashion-mnist, /usr/share/datasets/fashion-mnist). When
/// nothing is found, the error lists every place searched and how to get the data.
Result<DataSplit> loadDataset(const std::string &nameOrDir);

} // namespace nnc
