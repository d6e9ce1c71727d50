// PNG output for training reports (libpng's simplified API, written atomically): plain
// gray/RGB images, a grid of original vs reconstructed digits, and a loss-per-epoch line
// plot drawn with a built-in 5x7 bitmap font. A reader (within the limits below) is included
// for checking output.
#pragma once

#include "runtime/Classifier.h"
#include "support/Result.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// A decoded PNG: 1 channel (gray) or 3 (RGB), rows top to bottom, alpha dropped.
struct PngImage {
  uint32_t width = 0, height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

/// Encodes 8-bit pixels (`channels` 1 = gray or 3 = RGB, row-major) as PNG bytes.
Result<std::string> encodePng(uint32_t width, uint32_t height, int channels,
                              const std::vector<uint8_t> &pixels);
/// Writes an 8-bit grayscale PNG atomically.
Status writePngGray(const std::string &path, uint32_t width, uint32_t height,
                    const std::vector<uint8_t> &pixels);
/// Writes an 8-bit RGB PNG (r, g, b per pixel) atomically.
Status writePngRgb(const std::string &path, uint32_t width, uint32_t height,
                   const std::vector<uint8_t> &rgb);
/// Largest PNG file nnc reads.
constexpr uint64_t kMaxPngBytes = 256ull << 20;
/// Most pixels (width x height) of a PNG nnc decodes, e.g. 8192 x 8192.
constexpr uint64_t kMaxPngPixels = 1ull << 26;

/// Decodes PNG bytes as gray (if the image has no colour) or RGB; `name` is used in messages.
Result<PngImage> decodePng(std::string_view bytes, const std::string &name);
/// Reads a PNG file (a regular file of at most kMaxPngBytes) and decodes it.
Result<PngImage> readPng(const std::string &path);

/// Writes `count` original images above their reconstructions, in bands of at most `columns`
/// pairs that wrap downwards; the inputs hold at least count*rows*cols floats in [0, 1]
/// (clamped), image after image, and each image is scaled up `scale` times, separated by gray
/// gaps.
Status writeReconstructionGrid(const std::string &path, const std::vector<float> &originals,
                               const std::vector<float> &reconstructions, int64_t count,
                               int64_t rows = 28, int64_t cols = 28, int scale = 4,
                               int64_t columns = 10);

/// Two caption lines under an image of a labelled grid; `correct` colours the first line green
/// or red (and frames a wrong image in red), unset leaves it black.
struct GridCaption {
  std::string top, bottom;
  std::optional<bool> correct;
};

/// Writes `count` gray images (rows x cols values in [0, 1] each, image after image) scaled
/// `scale` times with their captions (drawn in capitals) below, in rows of at most `columns`
/// images that wrap downwards.
Status writeLabeledGrid(const std::string &path, const std::vector<float> &images, int64_t count,
                        int64_t rows, int64_t cols, const std::vector<GridCaption> &captions,
                        int64_t columns = 10, int scale = 3);

/// Draws a confusion matrix: a cell per (true, predicted) pair shaded by its share of the true
/// class with its count in it, class numbers across the top and numbers with `names` down the
/// left.
Status writeConfusionPng(const std::string &path, const ConfusionMatrix &m,
                         const std::vector<std::string> &names);

/// One curve of a plot: a name for the legend and (epoch, value) points.
struct CurveSeries {
  std::string name;
  std::vector<double> epochs, values;
};

/// Writes an 800x500 line plot of several loss curves over epochs (points may be sparse),
/// with axes, numeric ticks, axis labels and a legend; non-finite points are skipped.
Status writeCurvePlot(const std::string &path, const std::vector<CurveSeries> &series);

/// Writes an 800x500 line plot of the loss per epoch (epochs start at 1) with axes, numeric
/// ticks, axis labels and a legend; `validation` may be empty. Non-finite values are skipped.
Status writeLossPlot(const std::string &path, const std::vector<double> &train,
                     const std::vector<double> &validation);

/// writeLossPlot, with a second 800x500 panel below of the accuracy per epoch when
/// `trainAccuracy` is not empty (`validationAccuracy` may be empty).
Status writeTrainingPlot(const std::string &path, const std::vector<double> &train,
                         const std::vector<double> &validation,
                         const std::vector<double> &trainAccuracy,
                         const std::vector<double> &validationAccuracy);

} // namespace nnc
