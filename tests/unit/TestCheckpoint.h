// A check shared by the tests of resumed and interrupted training: two checkpoints hold the
// same training state, bit for bit.
#pragma once

#include "runtime/Checkpoint.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

namespace nnc::test {

/// Checks that checkpoints `a` and `b` hold the same tensors (shapes and bytes), position
/// (epoch, global step, shuffle state) and loss and accuracy curves (times aside).
inline void checkSameCheckpoint(const std::string &a, const std::string &b) {
  Result<Checkpoint> ca = readCheckpoint(a), cb = readCheckpoint(b);
  REQUIRE_MESSAGE(ca.ok(), ca.error());
  REQUIRE_MESSAGE(cb.ok(), cb.error());
  REQUIRE(ca->tensors.size() == cb->tensors.size());
  for (const auto &[name, t] : ca->tensors) {
    INFO("tensor " << name);
    REQUIRE(cb->tensors.count(name));
    CHECK(t.shape == cb->tensors.at(name).shape);
    CHECK(std::memcmp(t.data.data(), cb->tensors.at(name).data.data(),
                      t.data.size() * sizeof(double)) == 0);
  }
  CHECK(ca->info.epoch == cb->info.epoch);
  CHECK(ca->info.globalStep == cb->info.globalStep);
  CHECK(ca->info.rngState == cb->info.rngState);
  Result<std::vector<EpochRecord>> ha = parseHistoryCsv(ca->info.history, a),
                                   hb = parseHistoryCsv(cb->info.history, b);
  REQUIRE(ha.ok());
  REQUIRE(hb.ok());
  REQUIRE(ha->size() == hb->size());
  for (size_t i = 0; i < ha->size(); ++i) {
    CHECK((*ha)[i].loss == (*hb)[i].loss);
    CHECK((*ha)[i].valLoss == (*hb)[i].valLoss);
    CHECK((*ha)[i].accuracy == (*hb)[i].accuracy);
    CHECK((*ha)[i].valAccuracy == (*hb)[i].valAccuracy);
  }
}

} // namespace nnc::test
