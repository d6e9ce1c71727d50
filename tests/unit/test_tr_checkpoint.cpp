// Checkpoint files: metadata round trip, the `latest` pointer, pruning to the newest three,
// refusal of another model's checkpoint, and crash safety: a child process saving checkpoints
// in a loop is SIGKILLed at random moments, and every time the directory must still hold a
// loadable latest checkpoint whose contents match its metadata.
#include "TestUtil.h"
#include "runtime/Checkpoint.h"

#include <doctest/doctest.h>

#include <algorithm>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace nnc;
namespace fs = std::filesystem;

namespace {

/// Tensors whose every value encodes `epoch`, so a reader can tell a mixed-up file.
TensorMapD tensorsFor(int64_t epoch, int64_t elements) {
  TensorMapD t;
  t["dense.kernel"].shape = {elements / 4, 4};
  t["dense.kernel"].data.assign(size_t(elements / 4 * 4), double(epoch) + 0.25);
  t["dense.bias"].shape = {4};
  t["dense.bias"].data.assign(4, -double(epoch));
  return t;
}

CheckpointInfo infoFor(int64_t epoch, int64_t step = 0) {
  CheckpointInfo i;
  i.modelName = "tiny";
  i.modelHash = sourceHash("model tiny\n");
  i.optimizer = "adam";
  i.epoch = epoch;
  i.step = step;
  i.globalStep = epoch * 10 + step;
  i.seed = 42;
  i.batch = 32;
  i.rngState = "splitmix64:00000000000000ff";
  i.partialLossSum = 0.1 + double(step);
  i.partialCount = step * 32;
  i.history = "1,0.5,0.4,1.000\n";
  return i;
}

} // namespace

TEST_CASE("test_tr checkpoint file names and source hash") {
  CHECK(checkpointFileName(3, 0) == "ckpt-epoch-0003.safetensors");
  CHECK(checkpointFileName(3, 17) == "ckpt-epoch-0003-step-000017.safetensors");
  CHECK(sourceHash("") == "fnv1a64:cbf29ce484222325");
  CHECK(sourceHash("model a\n") != sourceHash("model b\n"));
}

TEST_CASE("test_tr checkpoint round trip keeps metadata and values exactly") {
  test::TempDir tmp("test_tr_roundtrip_");
  fs::path d = tmp.path;
  CheckpointInfo info = infoFor(2, 5);
  info.partialLossSum = 1.0 / 3.0;
  TensorMapD t = tensorsFor(2, 16);
  t["dense.bias"].data[0] = 0.1; // not a float: survives only in F64
  Result<std::string> path = saveCheckpoint(d.string(), t, info, true);
  REQUIRE_MESSAGE(path.ok(), path.error());
  CHECK(fs::path(*path).filename() == "ckpt-epoch-0002-step-000005.safetensors");
  Result<Checkpoint> c = loadLatestCheckpoint(d.string());
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->f64);
  CHECK(c->tensors.at("dense.bias").data == t.at("dense.bias").data);
  CHECK(c->info.partialLossSum == info.partialLossSum);
  CHECK(c->info.epoch == 2);
  CHECK(c->info.step == 5);
  CHECK(c->info.globalStep == 25);
  CHECK(c->info.seed == 42);
  CHECK(c->info.rngState == info.rngState);
  CHECK(c->info.history == info.history);
  CHECK(c->info.modelHash == info.modelHash);

  path = saveCheckpoint(d.string(), t, infoFor(3), false);
  REQUIRE(path.ok());
  c = loadLatestCheckpoint(d.string());
  REQUIRE(c.ok());
  CHECK_FALSE(c->f64);
  CHECK(c->tensors.at("dense.bias").data[0] == double(0.1f));
}

TEST_CASE("test_tr checkpoints keep the newest three and drop abandoned later ones") {
  test::TempDir tmp("test_tr_prune_");
  fs::path d = tmp.path;
  for (int64_t e = 1; e <= 5; ++e)
    REQUIRE(saveCheckpoint(d.string(), tensorsFor(e, 8), infoFor(e), false).ok());
  CHECK(listCheckpoints(d.string()) == std::vector<std::string>{"ckpt-epoch-0003.safetensors",
                                                                "ckpt-epoch-0004.safetensors",
                                                                "ckpt-epoch-0005.safetensors"});
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(5, 8), infoFor(5, 7), false).ok());
  CHECK(listCheckpoints(d.string()).back() == "ckpt-epoch-0005-step-000007.safetensors");
  CHECK(listCheckpoints(d.string()).size() == 3);
  // A fresh run writing epoch 1 again removes the previous run's later files.
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(1, 8), infoFor(1), false).ok());
  CHECK(listCheckpoints(d.string()) == std::vector<std::string>{"ckpt-epoch-0001.safetensors"});
  Result<Checkpoint> c = loadLatestCheckpoint(d.string());
  REQUIRE(c.ok());
  CHECK(c->info.epoch == 1);
}

TEST_CASE("test_tr a checkpoint of another model is refused naming both") {
  test::TempDir tmp("test_tr_othermodel_");
  fs::path d = tmp.path;
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(1, 8), infoFor(1), false).ok());
  Result<Checkpoint> c = loadLatestCheckpoint(d.string());
  REQUIRE(c.ok());
  CHECK(checkSameModel(*c, "tiny", sourceHash("model tiny\n"), "tiny.nn").ok());
  std::string other = sourceHash("model big\n");
  Status s = checkSameModel(*c, "big", other, "big.nn");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().find("'tiny'") != std::string::npos);
  CHECK(s.error().find("'big'") != std::string::npos);
  CHECK(s.error().find(other) != std::string::npos);
  CHECK(s.error().find(sourceHash("model tiny\n")) != std::string::npos);
}

TEST_CASE("test_tr missing or broken checkpoints are errors, not crashes") {
  test::TempDir tmp("test_tr_broken_");
  fs::path d = tmp.path;
  Result<Checkpoint> c = loadLatestCheckpoint(d.string());
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("no checkpoint to resume from") != std::string::npos);
  fs::create_directories(d);
  {
    FILE *f = std::fopen((d / "latest").c_str(), "w");
    std::fputs("../../etc/passwd\n", f);
    std::fclose(f);
  }
  c = loadLatestCheckpoint(d.string());
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("does not name a checkpoint") != std::string::npos);
  SafetensorsMetadata m = checkpointMetadata(infoFor(1));
  m.erase("epoch");
  m["seed"] = "x1";
  Result<CheckpointInfo> i = parseCheckpointMetadata(m, "f.safetensors");
  REQUIRE_FALSE(i.ok());
  CHECK(i.error().find("epoch") != std::string::npos);
  CHECK(i.error().find("seed") != std::string::npos);
}

TEST_CASE("test_tr SIGKILL while checkpointing always leaves a loadable latest checkpoint") {
  test::TempDir tmp("test_tr_sigkill_");
  fs::path d = tmp.path;
  const int64_t elements = 1 << 16;
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(1, elements), infoFor(1), false).ok());
  std::mt19937 gen(20240601);
  int64_t next = 2, advanced = 0;
  const int trials = 60;
  // The kill delay adapts around the time one checkpoint takes on this machine (slower under
  // sanitizers): it grows after a trial that wrote nothing and shrinks after one that did.
  int maxDelayUs = 20000;
  for (int trial = 0; trial < trials; ++trial) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (int64_t e = next;; ++e)
        if (!saveCheckpoint(d.string(), tensorsFor(e, elements), infoFor(e), (e & 1) != 0).ok())
          ::_exit(3);
    }
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, maxDelayUs)(gen)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    Result<Checkpoint> c = loadLatestCheckpoint(d.string());
    REQUIRE_MESSAGE(c.ok(), c.error());
    int64_t e = c->info.epoch;
    CHECK(e >= next - 1);
    CHECK(c->tensors.at("dense.kernel").data == tensorsFor(e, elements).at("dense.kernel").data);
    CHECK(c->tensors.at("dense.bias").data == tensorsFor(e, elements).at("dense.bias").data);
    if (e >= next) {
      ++advanced;
      maxDelayUs = std::max(1000, maxDelayUs / 2);
    } else {
      maxDelayUs = std::min(2000000, maxDelayUs * 2);
    }
    next = e + 1;
  }
  // The kills landed at different points: some runs got checkpoints out, some did not.
  CHECK(advanced > 0);
  CHECK(advanced < trials);
}
