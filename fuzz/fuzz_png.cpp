// libFuzzer target for the PNG reader (libpng's simplified API behind decodePng): one input is
// one file. An image that decodes must have width x height x channels bytes and (if encodePng
// can write its size) survive an encode and decode unchanged.
#include "FuzzUtil.h"
#include "runtime/Png.h"

using namespace nnc;
using nnc::fuzz::mustHold;

/// libFuzzer entry point: one input is one PNG file.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Result<PngImage> img = decodePng(fuzz::bytesOf(data, size), "fuzz.png");
  if (!img) return 0;
  mustHold(img->channels == 1 || img->channels == 3, "a decoded image is neither gray nor RGB");
  mustHold(img->pixels.size() == uint64_t(img->width) * img->height * uint64_t(img->channels),
           "a decoded image has the wrong number of bytes");
  if (img->width > 65536 || img->height > 65536) return 0; // more than encodePng writes
  Result<std::string> png = encodePng(img->width, img->height, img->channels, img->pixels);
  mustHold(png.ok(), "a decoded image cannot be encoded");
  Result<PngImage> back = decodePng(*png, "again.png");
  mustHold(back.ok() && back->pixels == img->pixels, "an encoded image decodes different");
  return 0;
}
