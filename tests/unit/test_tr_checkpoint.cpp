// Checkpoint files: metadata round trip, the `latest` pointer (and the newest complete file
// when it is missing or dangling), pruning to the newest three, refusal of another model's
// checkpoint, of every bad metadata field, of non-finite values and of tensors that are not
// the model's, no leftover temporaries, and crash safety: a child process saving checkpoints
// in a loop is SIGKILLed at random moments, and every time the directory must still hold a
// loadable latest checkpoint whose contents match its metadata.
#include "TestUtil.h"
#include "runtime/Checkpoint.h"
#include "support/FileUtil.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
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
  i.modelHash = textHash("model tiny\n");
  i.optimizer = "adam";
  i.epoch = epoch;
  i.step = step;
  i.globalStep = epoch * 10 + step;
  i.seed = 42;
  i.batch = 32;
  i.rngState = "splitmix64:00000000000000ff";
  i.partialLossSum = step ? 0.1 + double(step) : 0;
  i.partialCount = step * 32;
  i.partialSeconds = step ? 0.5 + double(step) : 0;
  i.data = "mnist";
  i.epochs = 10;
  i.lr = 0.01;
  i.validationSplit = 0.25;
  for (int64_t e = 1; e <= epoch; ++e) i.history += std::to_string(e) + ",0.5,0.4,1.000\n";
  return i;
}

/// `m` with the hash of each of `t`'s tensors as F64 bytes, as saveCheckpoint writes them.
SafetensorsMetadata withHashes(SafetensorsMetadata m, const TensorMapD &t) {
  addTensorHashes(m, t, true);
  return m;
}

/// The byte offset in the file of tensor `name`'s data.
uint64_t dataOffset(const std::string &bytes, const std::string &name) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | uint8_t(bytes[size_t(i)]);
  std::string header = bytes.substr(8, size_t(n));
  size_t at = header.find("\"" + name + "\":");
  size_t offsets = header.find("\"data_offsets\":[", at);
  return 8 + n + std::stoull(header.substr(offsets + 16));
}

} // namespace

TEST_CASE("test_tr the tensor hash is XXH3-64, as xxHash publishes it") {
  CHECK(contentHash("") == 0x2d06800538d394c2ull);
  CHECK(contentHash("a") != contentHash("b"));
  SafetensorsMetadata m;
  addTensorHashes(m, {{"w", TensorD{{1}, {1.0}}}}, true);
  CHECK(m.at("xxh3.w") ==
        fmt::format("{:016x}", contentHash(std::string("\0\0\0\0\0\0\xf0\x3f", 8))));
}

TEST_CASE("test_tr a flipped bit in any tensor's data is refused naming the tensor") {
  test::TempDir tmp("test_tr_hash_");
  for (bool f64 : {false, true}) {
    CAPTURE(f64);
    Result<std::string> path =
        saveCheckpoint(tmp.path.string(), tensorsFor(2, 64), infoFor(2), f64);
    REQUIRE_MESSAGE(path.ok(), path.error());
    std::string good;
    {
      std::ifstream in(*path, std::ios::binary);
      good.assign(std::istreambuf_iterator<char>(in), {});
    }
    // Still plain safetensors: the hashes are metadata strings.
    Result<SafetensorsD> plain = readSafetensorsD(*path);
    REQUIRE(plain.ok());
    CHECK(plain->metadata.at("xxh3.dense.bias").size() == 16);
    for (const char *tensor : {"dense.bias", "dense.kernel"})
      for (int bit : {0, 13, 62}) {
        CAPTURE(tensor);
        CAPTURE(bit);
        std::string bad = good;
        uint64_t at = dataOffset(bad, tensor) + uint64_t(bit / 8);
        bad[size_t(at)] = char(bad[size_t(at)] ^ (1 << (bit % 8)));
        std::ofstream(*path, std::ios::binary) << bad;
        Result<Checkpoint> c = readCheckpoint(*path);
        REQUIRE_FALSE(c.ok());
        CHECK(c.error().rfind(*path + ": tensor '" + tensor + "' is corrupt: its bytes hash to ",
                              0) == 0);
      }
    std::ofstream(*path, std::ios::binary) << good;
    CHECK(readCheckpoint(*path).ok());
  }
  // A missing hash, or one for a tensor the file lacks, is refused too.
  TensorMapD t = tensorsFor(1, 8);
  std::string path = (tmp.path / "hand.safetensors").string();
  SafetensorsMetadata m = withHashes(checkpointMetadata(infoFor(1)), t);
  m.erase("xxh3.dense.kernel");
  REQUIRE(writeSafetensorsD(path, t, m).ok());
  CHECK(readCheckpoint(path).error() == path + ": tensor 'dense.kernel' has no hash (metadata "
                                               "\"xxh3.dense.kernel\" is missing)");
  m = withHashes(checkpointMetadata(infoFor(1)), t);
  m["xxh3.gone"] = "0000000000000000";
  REQUIRE(writeSafetensorsD(path, t, m).ok());
  CHECK(readCheckpoint(path).error() ==
        path + ": metadata \"xxh3.gone\" names a tensor the file does not hold");
}

TEST_CASE("test_tr checkpoint file names and source hash") {
  CHECK(checkpointFileName(3, 0) == "ckpt-epoch-0003.safetensors");
  CHECK(checkpointFileName(3, 17) == "ckpt-epoch-0003-step-000017.safetensors");
  CHECK(textHash("") == "fnv1a64:cbf29ce484222325");
  CHECK(textHash("model a\n") != textHash("model b\n"));
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

TEST_CASE("test_tr checkpoints keep the newest three and never remove latest or later ones") {
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
  // A save of an earlier position (a run restarted by hand) removes nothing at or after it.
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(1, 8), infoFor(1), false).ok());
  CHECK(listCheckpoints(d.string()) == std::vector<std::string>{"ckpt-epoch-0001.safetensors",
                                                                "ckpt-epoch-0004.safetensors",
                                                                "ckpt-epoch-0005.safetensors",
                                                                "ckpt-epoch-0005-step-000007."
                                                                "safetensors"});
  Result<Checkpoint> c = loadLatestCheckpoint(d.string());
  REQUIRE(c.ok());
  CHECK(c->info.epoch == 1);
  // Without a `latest` pointer nothing is pruned.
  fs::remove(d / "latest");
  pruneCheckpoints(d.string(), 1);
  CHECK(listCheckpoints(d.string()).size() == 4);
}

TEST_CASE("test_tr a checkpoint of another model is refused naming both") {
  test::TempDir tmp("test_tr_othermodel_");
  fs::path d = tmp.path;
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(1, 8), infoFor(1), false).ok());
  Result<Checkpoint> c = loadLatestCheckpoint(d.string());
  REQUIRE(c.ok());
  CHECK(checkSameModel(*c, "tiny", textHash("model tiny\n"), "tiny.nn").ok());
  std::string other = textHash("model big\n");
  Status s = checkSameModel(*c, "big", other, "big.nn");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().find("'tiny'") != std::string::npos);
  CHECK(s.error().find("'big'") != std::string::npos);
  CHECK(s.error().find(other) != std::string::npos);
  CHECK(s.error().find(textHash("model tiny\n")) != std::string::npos);
}

TEST_CASE("test_tr missing or broken checkpoints are errors, not crashes") {
  test::TempDir tmp("test_tr_broken_");
  fs::path d = tmp.path;
  Result<Checkpoint> c = loadLatestCheckpoint(d.string());
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().find("no checkpoint to load") != std::string::npos);
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

TEST_CASE("test_tr every bad checkpoint metadata field is refused with its name") {
  struct Mutant {
    const char *key, *value; // nullptr value: the field is removed
    std::string message;
  };
  const std::string whole = "expected a whole number from ";
  const std::vector<Mutant> mutants = {
      // Before: read as 0, so the run restarted and pruned the original checkpoint.
      {"epoch", "", "metadata \"epoch\" is \"\", " + whole + "0 to 1000000000"},
      // Before: wrapped to -1.
      {"epoch", "18446744073709551615", "metadata \"epoch\" is \"18446744073709551615\""},
      {"epoch", "-1", "metadata \"epoch\" is \"-1\""},
      {"epoch", " 2", "metadata \"epoch\" is \" 2\""},
      {"epoch", "2x", "metadata \"epoch\" is \"2x\""},
      {"epoch", nullptr, "metadata \"epoch\" is missing"},
      {"step", "1e3", "metadata \"step\" is \"1e3\""},
      {"global_step", "9223372036854775808", "metadata \"global_step\" is \"9223372036854775808\""},
      {"global_step", "3", "metadata \"global_step\" is 3, fewer than the 2 epochs and 5 steps"},
      {"seed", "x1", "metadata \"seed\" is \"x1\", " + whole + "0 to 18446744073709551615"},
      {"batch", "0", "metadata \"batch\" is \"0\", " + whole + "1 to 1000000000"},
      {"partial_count", "161",
       "metadata \"partial_count\" is 161, but 5 steps of batch 32 hold 160"},
      // Before: written into the history as NaN, and the run exited 0.
      {"partial_loss_sum", "nan", "metadata \"partial_loss_sum\" is \"nan\", expected a finite"},
      {"partial_loss_sum", "inf", "metadata \"partial_loss_sum\" is \"inf\""},
      {"partial_loss_sum", "0x1p+2000", "metadata \"partial_loss_sum\" is \"0x1p+2000\""},
      {"partial_loss_sum", "", "metadata \"partial_loss_sum\" is \"\""},
      {"rng", "splitmix64:00000000000000fg", "metadata \"rng\" is \"splitmix64:00000000000000fg\""},
      {"rng", "mt19937:0", "metadata \"rng\" is \"mt19937:0\", expected \"splitmix64:\" and 16"},
      {"model_hash", "fnv1a64:123", "metadata \"model_hash\" is \"fnv1a64:123\""},
      {"model", "", "metadata \"model\" is empty"},
      {"optimizer", "Adam!", "metadata \"optimizer\" is \"Adam!\""},
      {"history", "1,nan,0.4,1.000\n2,0.5,0.4,1.000\n",
       "metadata \"history\": line 1: loss \"nan\" is not a finite number"},
      {"history", "-1,0.5,0.4,1.000\n2,0.5,0.4,1.000\n",
       "metadata \"history\": line 1: epoch \"-1\" is not a whole number from 1"},
      {"history", "2,0.5,0.4,1.000\n2,0.5,0.4,1.000\n",
       "metadata \"history\": line 2: epoch 2 does not follow epoch 2 (epochs must increase)"},
      {"history", "1,0.5,inf,1.000\n2,0.5,0.4,1.000\n", "line 1: val_loss \"inf\" is not a finite"},
      {"history", "1,0.5,0.4,-1\n2,0.5,0.4,1.000\n", "line 1: seconds \"-1\" is not a finite"},
      {"history", "1,0.5,0.4,1.000\n",
       "metadata \"history\" has 1 rows, expected one per finished "
       "epoch (1 to 2)"},
      {"history", "1,0.5,0.4,1.000\n3,0.5,0.4,1.000\n", "metadata \"history\" has 2 rows"},
      // The run's configuration, which --resume continues with.
      {"data", "", "metadata \"data\" is empty"},
      {"data", nullptr, "metadata \"data\" is missing"},
      {"epochs", "0", "metadata \"epochs\" is \"0\", " + whole + "1 to 1000000000"},
      {"lr", "0", "metadata \"lr\" is \"0\", expected \"\" or a number above 0 and at most 1e6"},
      {"lr", "2e6", "metadata \"lr\" is \"2e6\""},
      {"lr", "nan", "metadata \"lr\" is \"nan\""},
      {"lr", nullptr, "metadata \"lr\" is missing"},
      {"shuffle", "yes", "metadata \"shuffle\" is \"yes\", expected \"true\" or \"false\""},
      {"validation_split", "1",
       "metadata \"validation_split\" is \"1\", expected \"\" or a "
       "fraction above 0 and below 1"},
      {"validation_split", "0", "metadata \"validation_split\" is \"0\""},
      {"partial_seconds", "-1", "metadata \"partial_seconds\" is \"-1\", expected a finite number"},
      {"partial_seconds", "inf", "metadata \"partial_seconds\" is \"inf\""},
      {"metrics", "f1", "metadata \"metrics\" is \"f1\", expected \"\" or \"accuracy\""},
      {"metrics", nullptr, "metadata \"metrics\" is missing"},
      {"partial_correct", "161",
       "metadata \"partial_correct\" is 161, more than the 0 predictions compared"},
      {"partial_compared", "-1", "metadata \"partial_compared\" is \"-1\""},
  };
  SafetensorsMetadata good = checkpointMetadata(infoFor(2, 5));
  REQUIRE(parseCheckpointMetadata(good, "f.safetensors").ok());
  for (const Mutant &mu : mutants) {
    CAPTURE(mu.key);
    CAPTURE(mu.value ? mu.value : "(removed)");
    SafetensorsMetadata m = good;
    if (mu.value)
      m[mu.key] = mu.value;
    else
      m.erase(mu.key);
    Result<CheckpointInfo> i = parseCheckpointMetadata(m, "f.safetensors");
    REQUIRE_FALSE(i.ok());
    CHECK(i.error().rfind("f.safetensors: metadata \"", 0) == 0);
    CHECK_MESSAGE(i.error().find(mu.message) != std::string::npos, i.error());
  }
  // At an epoch boundary nothing of the next epoch is recorded yet.
  SafetensorsMetadata boundary = checkpointMetadata(infoFor(2));
  boundary["partial_loss_sum"] = "0x1p-2";
  Result<CheckpointInfo> b = parseCheckpointMetadata(boundary, "f.safetensors");
  REQUIRE_FALSE(b.ok());
  CHECK(b.error() == "f.safetensors: metadata \"partial_loss_sum\" is not 0 at the start of an "
                     "epoch (\"step\" is 0)");
  boundary = checkpointMetadata(infoFor(2));
  boundary["partial_seconds"] = "0x1p-2";
  CHECK(parseCheckpointMetadata(boundary, "f.safetensors").error() ==
        "f.safetensors: metadata \"partial_seconds\" is not 0 at the start of an epoch (\"step\" "
        "is 0)");
  SafetensorsMetadata other = good;
  other["format"] = "nnc-checkpoint-3";
  CHECK(parseCheckpointMetadata(other, "f").error() ==
        "f: a checkpoint of another nnc version (metadata \"format\" is \"nnc-checkpoint-3\", "
        "this nnc reads \"nnc-checkpoint-2\"); predict and eval still take it as plain weights");
  other["format"] = "keras";
  CHECK(parseCheckpointMetadata(other, "f").error().find("not an nnc training checkpoint") !=
        std::string::npos);
  // Unset optional settings round trip as unset.
  CheckpointInfo unset = infoFor(2, 5);
  unset.lr.reset();
  unset.validationSplit.reset();
  unset.shuffle = false;
  Result<CheckpointInfo> u = parseCheckpointMetadata(checkpointMetadata(unset), "f");
  REQUIRE_MESSAGE(u.ok(), u.error());
  CHECK(!u->lr);
  CHECK(!u->validationSplit);
  CHECK(!u->shuffle);
  Result<CheckpointInfo> set = parseCheckpointMetadata(good, "f");
  REQUIRE(set.ok());
  CHECK(set->lr == 0.01);
  CHECK(set->validationSplit == 0.25);
  CHECK(set->data == "mnist");
  CHECK(set->epochs == 10);
  CHECK(set->partialSeconds == 5.5);
}

TEST_CASE("test_tr history CSV rows are checked: whole increasing epochs, finite values") {
  Result<std::vector<EpochRecord>> ok =
      parseHistoryCsv("epoch,loss,val_loss,seconds\r\n1,0.5,,1.5\r\n3,0.25,0.3,0\r\n", "h.csv");
  REQUIRE_MESSAGE(ok.ok(), ok.error());
  REQUIRE(ok->size() == 2);
  CHECK((*ok)[1].epoch == 3);
  CHECK((*ok)[1].valLoss == 0.3);
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {"1,nan,,1\n", "h.csv: line 1: loss \"nan\" is not a finite number"},
      {"1,0.5,,1\n0,0.5,,1\n", "h.csv: line 2: epoch \"0\" is not a whole number from 1 to"},
      {"2,0.5,,1\n1,0.5,,1\n", "h.csv: line 2: epoch 1 does not follow epoch 2"},
      {"1.5,0.5,,1\n", "h.csv: line 1: epoch \"1.5\" is not a whole number"},
      {"1,0.5,-inf,1\n", "h.csv: line 1: val_loss \"-inf\" is not a finite number"},
      {"1,0.5,,NaN\n", "h.csv: line 1: seconds \"NaN\" is not a finite number >= 0"},
      {"1,0.5, 1,1\n", "h.csv: line 1: val_loss \" 1\" is not a finite number"},
      {"1,0.5,,1\nepoch,loss,val_loss,seconds\n", "h.csv: line 2: epoch \"epoch\""},
      {"1,2\n", "h.csv: line 1 is not 'epoch,loss,val_loss,seconds'"},
  };
  // Found by fuzz_history: "%.3f" of 2.1e301 seconds overflowed a 160-byte line buffer, so a
  // history that was read could not be written and read again.
  std::vector<EpochRecord> huge = {{1, 0.5, std::nullopt, 2.1e301, {}, {}},
                                   {2, -1e300, 1e-300, 0, {}, {}}};
  Result<std::vector<EpochRecord>> back = parseHistoryCsv(historyCsv(huge), "h.csv");
  REQUIRE_MESSAGE(back.ok(), back.error());
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].seconds == doctest::Approx(2.1e301));
  CHECK((*back)[1].loss == doctest::Approx(-1e300));
  for (const Case &c : cases) {
    CAPTURE(c.text);
    Result<std::vector<EpochRecord>> r = parseHistoryCsv(c.text, "h.csv");
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.error().find(c.message) == 0, r.error());
  }
}

TEST_CASE("test_tr a checkpoint holding a NaN or infinity is refused naming the tensor") {
  test::TempDir tmp("test_tr_nan_");
  TensorMapD t = tensorsFor(1, 8);
  t["dense.bias"].data[2] = std::numeric_limits<double>::infinity();
  // saveCheckpoint is not the guard (the trainer checks before saving): write it directly.
  std::string path = (tmp.path / checkpointFileName(1, 0)).string();
  REQUIRE(writeSafetensorsD(path, t, withHashes(checkpointMetadata(infoFor(1)), t)).ok());
  Result<Checkpoint> c = readCheckpoint(path);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error() == path + ": tensor 'dense.bias' holds +infinity at index 2 of 4; weights "
                            "must be finite numbers");
}

TEST_CASE("test_tr without a usable latest pointer the newest complete checkpoint is loaded") {
  test::TempDir tmp("test_tr_nolatest_");
  fs::path d = tmp.path;
  for (int64_t e = 1; e <= 3; ++e)
    REQUIRE(saveCheckpoint(d.string(), tensorsFor(e, 8), infoFor(e), false).ok());
  // A kill after the rename of a checkpoint but before `latest` names it: here the newest
  // file is also truncated, as a foreign copy might be; it is skipped.
  std::string third = (d / checkpointFileName(3, 0)).string();
  fs::resize_file(third, fs::file_size(third) - 3);
  fs::remove(d / "latest");
  Result<Checkpoint> c = loadLatestCheckpoint(d.string());
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->info.epoch == 2);
  CHECK(c->note == "'" + (d / "latest").string() +
                       "' is missing; using the newest complete checkpoint '" +
                       (d / checkpointFileName(2, 0)).string() + "'");

  // A pointer naming a file that is gone (dangling) is treated alike.
  fs::remove(third);
  {
    std::ofstream out(d / "latest");
    out << checkpointFileName(7, 0) << "\n";
  }
  c = loadLatestCheckpoint(d.string());
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->info.epoch == 2);
  CHECK(c->note.find("names '" + (d / checkpointFileName(7, 0)).string() +
                     "', which does not exist; using the newest complete checkpoint") !=
        std::string::npos);

  // With the pointer intact there is no note.
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(3, 8), infoFor(3), false).ok());
  c = loadLatestCheckpoint(d.string());
  REQUIRE(c.ok());
  CHECK(c->info.epoch == 3);
  CHECK(c->note.empty());

  // Nothing loadable: the error says why the pointer was not used and what failed.
  test::TempDir empty("test_tr_nolatest_empty_");
  Result<Checkpoint> none = loadLatestCheckpoint(empty.path.string());
  REQUIRE_FALSE(none.ok());
  CHECK(none.error() == "no checkpoint to load in '" + empty.path.string() + "': '" +
                            (empty.path / "latest").string() +
                            "' is missing and there is no ckpt-epoch-*.safetensors file");
  std::ofstream(empty.path / checkpointFileName(1, 0)) << "junk";
  none = loadLatestCheckpoint(empty.path.string());
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().find("is missing and no checkpoint file loads:\n  ") != std::string::npos);
}

TEST_CASE("test_tr checkpoint tensors must be exactly the model's parameters and state") {
  Graph g;
  g.name = "m";
  auto leaf = [&](const std::string &name, OpKind op, std::vector<int64_t> dims) {
    Node n;
    n.op = op;
    n.name = name;
    n.type.dims = std::move(dims);
    ValueId v = g.add(n);
    (op == OpKind::Param ? g.params : g.states).push_back(v);
  };
  leaf("dense.kernel", OpKind::Param, {2, 4});
  leaf("dense.bias", OpKind::Param, {4});
  leaf("dense.kernel.m", OpKind::State, {2, 4});
  CHECK(checkpointShapes(g).size() == 3);
  TensorMapD t;
  t["dense.kernel"] = TensorD{{2, 4}, std::vector<double>(8)};
  t["dense.bias"] = TensorD{{4}, std::vector<double>(4)};
  t["dense.kernel.m"] = TensorD{{2, 4}, std::vector<double>(8)};
  CHECK(checkCheckpointTensors(t, g, "c.safetensors").ok());
  // A renamed optimizer state tensor: one missing, one unexpected.
  t["dense.kernel.mom"] = t["dense.kernel.m"];
  t.erase("dense.kernel.m");
  t["dense.bias"].shape = {5};
  Status s = checkCheckpointTensors(t, g, "c.safetensors");
  REQUIRE_FALSE(s.ok());
  CHECK(s.error() == "c.safetensors: tensor 'dense.bias' has shape [5], the model expects [4]\n"
                     "c.safetensors: missing tensor 'dense.kernel.m' (the model expects shape "
                     "[2,4])\n"
                     "c.safetensors: unexpected tensor 'dense.kernel.mom' with shape [2,4] (the "
                     "model has no parameter or optimizer state of that name)");
}

TEST_CASE("test_tr checkpoint saves leave no temporary files, even after killed writers") {
  test::TempDir tmp("test_tr_tmpfiles_");
  fs::path d = tmp.path;
  fs::create_directories(d);
  for (const char *stale : {".ckpt-epoch-0002.safetensors.tmp-Ab12Cd", ".latest.tmp-xY34zW"})
    std::ofstream(d / stale) << "left by a killed writer";
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(1, 8), infoFor(1), false).ok());
  REQUIRE(saveCheckpoint(d.string(), tensorsFor(2, 8), infoFor(2), true).ok());
  std::vector<std::string> names;
  for (const auto &e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"ckpt-epoch-0001.safetensors",
                                          "ckpt-epoch-0002.safetensors", "latest"});
}
