// libFuzzer target for the loss-history CSV reader (nnc plot, checkpoints): one input is one
// CSV text. A history that is accepted must write out (historyCsv) as CSV that reads back
// with the same epochs.
#include "FuzzUtil.h"
#include "runtime/Checkpoint.h"

using namespace nnc;
using nnc::fuzz::mustHold;

/// libFuzzer entry point: one input is one history CSV file.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(fuzz::bytesOf(data, size));
  Result<std::vector<EpochRecord>> h = parseHistoryCsv(text, "fuzz.csv");
  if (!h) return 0;
  for (size_t i = 1; i < h->size(); ++i)
    mustHold((*h)[i - 1].epoch < (*h)[i].epoch, "epochs do not increase");
  Result<std::vector<EpochRecord>> back = parseHistoryCsv(historyCsv(*h), "again.csv");
  mustHold(back.ok(), "a written history is refused");
  mustHold(back->size() == h->size(), "a written history has another number of rows");
  for (size_t i = 0; i < h->size(); ++i)
    mustHold((*back)[i].epoch == (*h)[i].epoch &&
                 (*back)[i].valLoss.has_value() == (*h)[i].valLoss.has_value(),
             "a written history reads back different");
  return 0;
}
