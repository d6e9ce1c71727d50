// libFuzzer target for the checkpoint metadata parser on its own: one input is a metadata
// map written as NUL-separated pairs "key\0value\0key\0value...". Metadata that is accepted
// must encode again (checkpointMetadata) and parse back to the same training position.
#include "FuzzUtil.h"
#include "runtime/Checkpoint.h"

#include <cstring>

using namespace nnc;
using nnc::fuzz::mustHold;

namespace {

/// The pairs of the input; a key without a value gets "".
SafetensorsMetadata pairsOf(std::string_view in) {
  SafetensorsMetadata m;
  while (!in.empty()) {
    size_t k = in.find('\0');
    std::string key(in.substr(0, k));
    in = k == std::string_view::npos ? std::string_view() : in.substr(k + 1);
    size_t v = in.find('\0');
    m[key] = std::string(in.substr(0, v));
    in = v == std::string_view::npos ? std::string_view() : in.substr(v + 1);
  }
  return m;
}

bool sameInfo(const CheckpointInfo &a, const CheckpointInfo &b) {
  return a.modelName == b.modelName && a.modelHash == b.modelHash && a.optimizer == b.optimizer &&
         a.epoch == b.epoch && a.step == b.step && a.globalStep == b.globalStep &&
         a.seed == b.seed && a.batch == b.batch && a.rngState == b.rngState &&
         std::memcmp(&a.partialLossSum, &b.partialLossSum, sizeof(double)) == 0 &&
         a.partialCount == b.partialCount && a.history == b.history && a.data == b.data &&
         a.epochs == b.epochs && a.lr == b.lr && a.shuffle == b.shuffle &&
         a.validationSplit == b.validationSplit && a.metrics == b.metrics &&
         a.partialCorrect == b.partialCorrect && a.partialCompared == b.partialCompared &&
         std::memcmp(&a.partialSeconds, &b.partialSeconds, sizeof(double)) == 0;
}

} // namespace

/// libFuzzer entry point: one input is one checkpoint's metadata.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Result<CheckpointInfo> info = parseCheckpointMetadata(pairsOf(fuzz::bytesOf(data, size)), "f");
  if (!info) return 0;
  mustHold(info->epoch >= 0 && info->step >= 0 && info->batch >= 1, "a field is out of range");
  Result<std::vector<EpochRecord>> h = parseHistoryCsv(info->history, "f");
  mustHold(h.ok() && int64_t(h->size()) == info->epoch, "the history does not match the epoch");
  Result<CheckpointInfo> back = parseCheckpointMetadata(checkpointMetadata(*info), "again");
  mustHold(back.ok(), "re-encoded metadata is refused");
  mustHold(sameInfo(*info, *back), "re-encoded metadata reads back different");
  return 0;
}
