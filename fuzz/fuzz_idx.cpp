// libFuzzer target for the IDX reader: one input is one file, raw or gzip, read both as an
// image file and as a label file (and once more under a ".gz" name). What is accepted must
// hold exactly the promised number of bytes, and labels must be 0..9.
#include "FuzzUtil.h"
#include "runtime/Idx.h"

using namespace nnc;
using nnc::fuzz::mustHold;

/// libFuzzer entry point: one input is one IDX file.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes = fuzz::bytesOf(data, size);
  for (const char *name : {"fuzz-idx", "fuzz-idx.gz"}) {
    ByteSource src = ByteSource::memory(bytes, name);
    Result<IdxImages> img = readIdxImages(src);
    if (img)
      mustHold(img->count > 0 && img->rows > 0 && img->cols > 0 &&
                   img->pixels.size() == uint64_t(img->count * img->rows * img->cols),
               "the images do not fill the promised size");
    Result<std::vector<uint8_t>> labels = readIdxLabels(src);
    if (labels)
      for (uint8_t l : *labels) mustHold(l <= 9, "a label outside 0..9 was accepted");
  }
  return 0;
}
