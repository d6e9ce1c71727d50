// libFuzzer target for the PGM reader of `nnc predict --input` (decodePgm) and the area resize
// behind it: an image that decodes must have width x height bytes, and resizing it to 28x28 or
// to 3x5 must give values in [0, 1] only.
#include "FuzzUtil.h"
#include "runtime/ImageInput.h"

using namespace nnc;
using nnc::fuzz::mustHold;

/// libFuzzer entry point: one input is one PGM file.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Result<GrayImage> img = decodePgm(fuzz::bytesOf(data, size), "fuzz.pgm");
  if (!img) return 0;
  mustHold(img->width > 0 && img->height > 0, "a decoded image is empty");
  mustHold(img->pixels.size() == uint64_t(img->width) * img->height,
           "a decoded image has the wrong number of bytes");
  if (uint64_t(img->width) * img->height > (1u << 20)) return 0; // keep each run fast
  for (auto [rows, cols] : {std::pair{28, 28}, std::pair{3, 5}}) {
    std::vector<float> px = resizeToUnit(*img, rows, cols);
    mustHold(px.size() == size_t(rows * cols), "a resize has the wrong number of values");
    for (float v : px) mustHold(v >= 0.f && v <= 1.f, "a resized value is outside [0, 1]");
  }
  return 0;
}
