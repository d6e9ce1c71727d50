// MNIST-format datasets: IDX image files (magic 0x00000803, count x rows x cols bytes) and
// label files (magic 0x00000801, count bytes, each 0..9), raw or gzip-compressed, read within
// the limits below, and the lookup of a dataset by name ("mnist", "mnist-10k", "fashion-mnist")
// or by directory (of IDX files, or of PNG images in class folders: runtime/ImageFolder.h).
#pragma once

#include "support/FileUtil.h"
#include "support/Result.h"

#include <cstdint>
#include <cstdio>
#include <optional>
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

/// The four IDX files of a split directory.
struct IdxSplitFiles {
  std::string trainImages, trainLabels, testImages, testLabels;
};

/// Finds train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz]
/// and t10k-labels-idx1-ubyte[.gz] in `dir`; on a miss `why` says what is absent.
std::optional<IdxSplitFiles> findIdxSplit(const std::string &dir, std::string &why);

/// Reads the four files of a split found in `dir`; `description` heads DataSplit::description.
Result<DataSplit> readIdxSplit(const IdxSplitFiles &files, const std::string &dir,
                               const std::string &description);

/// Makes a split of `train` and `test` (which must have one image size) read from `dir`, its
/// description `description` followed by the counts and the size.
Result<DataSplit> makeSplit(Dataset train, Dataset test, const std::string &dir,
                            const std::string &description);

/// Loads train and test splits by name or directory:
/// - "mnist": full MNIST as Keras gets it (runtime/Mnist.h: $NNC_DATA/mnist, Keras's cache,
///   nnc's cache, a verified download), else the bundled subset, saying so in one line on `log`;
/// - "mnist-10k": the bundled 10k subset (data/mnist-10k), never anything else;
/// - "fashion-mnist": $NNC_DATA/fashion-mnist, then /usr/share/datasets/fashion-mnist;
/// - a directory holding the four IDX files, or PNG images in class folders 0..9.
/// When nothing is found, the error lists every place searched and how to get the data.
Result<DataSplit> loadDataset(const std::string &nameOrDir, std::FILE *log = stderr);

} // namespace nnc
