// A learner's own images for `nnc predict --input`: PNG (made gray as the class-folder loader
// does: RGB by luma, transparency on white) or PGM (binary P5 or text P2, 8 or 16 bits), and
// an area-averaging resize to the model's input size with values scaled to [0, 1] like the
// training data.
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// A gray image: `width` x `height` bytes, rows top to bottom.
struct GrayImage {
  uint32_t width = 0, height = 0;
  std::vector<uint8_t> pixels;
};

/// Decodes a PGM image (P5 or P2, maxval 1..65535, scaled to 0..255); `name` is used in messages.
Result<GrayImage> decodePgm(std::string_view bytes, const std::string &name);

/// Reads a PNG or PGM file (told apart by its first bytes) as a gray image.
Result<GrayImage> readGrayImage(const std::string &path);

/// `img` resized to `cols` x `rows` by averaging the source area under each target pixel
/// (partial pixels weighted by their overlap), divided by 255.
std::vector<float> resizeToUnit(const GrayImage &img, int64_t rows, int64_t cols);

} // namespace nnc
