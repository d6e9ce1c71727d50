// libFuzzer target for the npy/npz reader: one input is read both as one .npy file and as an
// npz (zip) archive whose member a.npy is asked for. What is accepted must hold exactly as many
// bytes as its shape promises.
#include "FuzzUtil.h"
#include "runtime/Npz.h"

using namespace nnc;
using nnc::fuzz::mustHold;

namespace {

void checkArray(const NpyArray &a) {
  uint64_t n = 1;
  for (int64_t d : a.shape) {
    mustHold(d >= 0, "a negative dimension was accepted");
    n *= uint64_t(d);
  }
  mustHold(a.data.size() == n, "the data does not fill the promised shape");
}

} // namespace

/// libFuzzer entry point: one input is one .npy file or one .npz archive.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes = fuzz::bytesOf(data, size);
  if (Result<NpyArray> a = parseNpy(bytes, "fuzz.npy")) checkArray(*a);
  Result<std::map<std::string, NpyArray>> npz = readNpz(bytes, "fuzz.npz", {"a.npy"});
  if (npz) {
    mustHold(npz->size() == 1, "an npz read returned other members than asked for");
    checkArray(npz->at("a.npy"));
  }
  return 0;
}
