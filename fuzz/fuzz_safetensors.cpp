// libFuzzer target for the safetensors reader: one input is one file (8-byte header length,
// JSON header, data). It is read as double and as float tensors; both must agree on whether
// it is valid, and a file accepted must encode again and read back bit for bit the same.
#include "FuzzUtil.h"
#include "runtime/Safetensors.h"

#include <cstring>

using namespace nnc;
using nnc::fuzz::mustHold;

namespace {

/// True when both maps hold the same names, shapes and bit patterns.
bool sameTensors(const TensorMapD &a, const TensorMapD &b) {
  if (a.size() != b.size()) return false;
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib)
    if (ia->first != ib->first || ia->second.shape != ib->second.shape ||
        ia->second.data.size() != ib->second.data.size() ||
        (!ia->second.data.empty() && std::memcmp(ia->second.data.data(), ib->second.data.data(),
                                                 ia->second.data.size() * sizeof(double)) != 0))
      return false;
  return true;
}

} // namespace

/// libFuzzer entry point: one input is one safetensors file.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes = fuzz::bytesOf(data, size);
  Result<SafetensorsD> d = parseSafetensorsD(bytes, "fuzz.safetensors");
  Result<Safetensors> f = parseSafetensors(bytes, "fuzz.safetensors");
  mustHold(d.ok() == f.ok(), "the F64 and F32 readers disagree on the file's validity");
  if (!d) return 0;
  (void)checkFinite(d->tensors, "fuzz.safetensors");
  Result<std::string> again = encodeSafetensorsD(d->tensors, d->metadata);
  mustHold(again.ok(), "an accepted file cannot be encoded again");
  Result<SafetensorsD> back = parseSafetensorsD(*again, "again.safetensors");
  mustHold(back.ok(), "a re-encoded file is refused");
  mustHold(sameTensors(d->tensors, back->tensors), "a re-encoded file reads back different");
  mustHold(d->metadata == back->metadata, "a re-encoded file's metadata differs");
  return 0;
}
