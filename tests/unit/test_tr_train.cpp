// End-to-end tests of `nnc train` and `nnc predict` on small models: resuming (after a finished
// epoch or a Ctrl-C anywhere) ends bit-identical to an uninterrupted run; SIGKILL at random
// moments always leaves a loadable latest checkpoint; a diverging run stops with a non-zero
// exit and keeps the last good checkpoint; another model's checkpoint is refused; the PNGs
// decode to the expected sizes; training the bundled digits beats an untrained model; resuming
// without a `latest` pointer takes the newest complete checkpoint; bad metadata, NaN weights
// and renamed tensors are refused by train --resume, predict and eval; no temporaries remain.
#include "TestCheckpoint.h"
#include "TestUtil.h"
#include "runtime/Checkpoint.h"
#include "runtime/Idx.h"
#include "runtime/Png.h"
#include "runtime/Safetensors.h"
#include "runtime/Trainer.h"
#include "support/FileUtil.h"

#include <doctest/doctest.h>

#include <algorithm>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace nnc;
using nnc::test::slurp;
using nnc::test::temporaries;
namespace fs = std::filesystem;

namespace {

struct Outcome {
  int code = -1;
  std::string err, out; // standard error (warnings, errors) and output (progress, results)
};

void spit(const fs::path &p, const std::string &text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

/// A scratch directory for one test.
struct Scratch {
  test::TempDir tmp;
  fs::path dir = tmp.path;
  explicit Scratch(const std::string &name) : tmp("test_tr_" + name + "_") {}
  std::string operator/(const std::string &f) const { return (dir / f).string(); }
};

/// Runs `nnc ARGS` with stdout and stderr captured; returns the exit code and stderr.
Outcome runNnc(const Scratch &s, const std::string &args) {
  std::string cmd = std::string(NNC_BINARY) + " " + args + " >" + (s / "stdout") + " 2>" +
                    (s / "stderr") + " </dev/null";
  int rc = std::system(cmd.c_str());
  Outcome o;
  o.code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  o.err = slurp(s / "stderr");
  o.out = slurp(s / "stdout");
  return o;
}

/// Starts `nnc ARGS` (space-separated) with stdout and stderr to `errPath`; returns its PID.
pid_t spawnNnc(const std::string &args, const std::string &errPath) {
  std::vector<std::string> words = {NNC_BINARY};
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  std::vector<char *> argv;
  for (std::string &w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int null = ::open("/dev/null", O_RDWR);
  if (err < 0 || null < 0) ::_exit(127);
  ::dup2(null, 0);
  ::dup2(err, 1);
  ::dup2(err, 2);
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

/// Writes the first `train` and `test` digits of the bundled data as raw IDX files.
void writeSmallData(const std::string &dir, int64_t train, int64_t test) {
  std::string err = test::writeSmallMnist(dir, train, test);
  REQUIRE_MESSAGE(err.empty(), err);
}

const char *kTiny = "model tiny\n"
                    "input x: [28, 28, 1]\n"
                    "h = flatten(x)\n"
                    "h = dense(h, 8, activation=relu)\n"
                    "h = dense(h, 784, activation=sigmoid)\n"
                    "y = reshape(h, shape=[28, 28, 1])\n"
                    "output y\n"
                    "loss binary_crossentropy(y, x)\n"
                    "train optimizer=adam, lr=0.01, epochs=2, batch=32, seed=7\n";

} // namespace

TEST_CASE("test_tr resumed training ends bit-identical to an uninterrupted run") {
  Scratch s("resume");
  writeSmallData(s / "data", 200, 40);
  spit(s / "tiny.nn", kTiny);
  for (const char *backend : {"interp", "jit"}) {
    CAPTURE(backend);
    std::string common =
        s / "tiny.nn" + " --data " + s / "data" + " --threads 1 --backend " + backend;
    fs::remove_all(s / "full");
    fs::remove_all(s / "part");

    Outcome full =
        runNnc(s, "train " + common + " --checkpoint " + s / "full" + " --csv " + s / "full.csv");
    REQUIRE_MESSAGE(full.code == 0, full.err);
    CHECK(full.out.find("Epoch 2/2") != std::string::npos);
    CHECK(full.out.find("7/7 - ") != std::string::npos); // 200 = 6 x 32 + 8: the partial batch too
    CHECK(full.out.find("val_loss: ") != std::string::npos);
    std::string csv = slurp(s / "full.csv");
    CHECK(csv.rfind("epoch,loss,val_loss,seconds\n1,", 0) == 0);
    CHECK(csv.find("\n2,") != std::string::npos);

    Outcome first = runNnc(s, "train " + common + " --epochs 1 --checkpoint " + s / "part");
    REQUIRE_MESSAGE(first.code == 0, first.err);
    CHECK(fs::exists(s / "part/ckpt-epoch-0001.safetensors"));
    Outcome rest = runNnc(s, "train " + common + " --epochs 2 --resume --checkpoint " + s / "part");
    REQUIRE_MESSAGE(rest.code == 0, rest.err);
    CHECK(rest.out.find("Resuming from") != std::string::npos);
    CHECK(rest.out.find("Epoch 1/2") == std::string::npos);
    test::checkSameCheckpoint(s / "full/ckpt-epoch-0002.safetensors",
                              s / "part/ckpt-epoch-0002.safetensors");
    // The resumed run's curve includes the epoch trained before the restart.
    Result<std::vector<EpochRecord>> h = parseHistoryCsv(slurp(s / "part/history.csv"), "csv");
    REQUIRE(h.ok());
    CHECK(h->size() == 2);
  }
}

TEST_CASE("test_tr Ctrl-C checkpoints the current step and a resumed run ends bit-identical") {
  Scratch s("sigint");
  writeSmallData(s / "data", 1000, 40);
  spit(s / "tiny.nn", kTiny);
  std::string common = s / "tiny.nn" + " --data " + s / "data" +
                       " --threads 1 --backend interp --epochs 3 --batch 4";
  Outcome full = runNnc(s, "train " + common + " --checkpoint " + s / "full");
  REQUIRE_MESSAGE(full.code == 0, full.err);

  int interrupted = 0, midEpoch = 0;
  std::mt19937 gen(99);
  for (int trial = 0; trial < 3; ++trial) {
    std::string dir = s / ("run" + std::to_string(trial));
    std::string errFile = dir + ".err";
    pid_t pid = spawnNnc("train " + common + " --checkpoint " + dir, errFile);
    REQUIRE(pid > 0);
    // Interrupt during the second epoch, a random moment after it starts.
    for (int i = 0; i < 20000 && slurp(errFile).find("Epoch 2/") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 40)(gen)));
    ::kill(pid, SIGINT);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::string err = slurp(errFile);
    INFO("status " << status << ": " << err);
    REQUIRE(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    INFO(err);
    REQUIRE((code == 0 || code == 130));
    if (code == 130) {
      ++interrupted;
      CHECK(err.find("Interrupted: saved ") != std::string::npos);
      if (err.find("-step-") != std::string::npos) ++midEpoch;
      Outcome rest = runNnc(s, "train " + common + " --resume --checkpoint " + dir);
      REQUIRE_MESSAGE(rest.code == 0, rest.err);
    }
    test::checkSameCheckpoint(s / "full/ckpt-epoch-0003.safetensors",
                              dir + "/ckpt-epoch-0003.safetensors");
  }
  CHECK(interrupted > 0);
  CHECK(midEpoch > 0);
}

TEST_CASE("test_tr SIGKILL of nnc train at random moments leaves a loadable latest checkpoint") {
  Scratch s("kill");
  writeSmallData(s / "data", 64, 16);
  spit(s / "tiny.nn", kTiny);
  std::string dir = s / "ckpt";
  std::string args = s / "tiny.nn" + " --data " + s / "data" +
                     " --threads 1 --backend interp --epochs 100000 --batch 64 --checkpoint " + dir;
  Outcome first =
      runNnc(s, "train " + s / "tiny.nn" + " --data " + s / "data" +
                    " --threads 1 --backend interp --epochs 1 --batch 64 --checkpoint " + dir);
  REQUIRE_MESSAGE(first.code == 0, first.err);
  std::mt19937 gen(5);
  int64_t last = 1, advanced = 0;
  const int trials = 50;
  // The kill delay adapts to this machine's speed (slower under sanitizers): it grows after a
  // trial that wrote no checkpoint and shrinks after one that did.
  int maxDelayUs = 250000;
  for (int trial = 0; trial < trials; ++trial) {
    pid_t pid = spawnNnc("train " + args + " --resume", s / "child.err");
    REQUIRE(pid > 0);
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(20000, maxDelayUs)(gen)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    Result<Checkpoint> c = loadLatestCheckpoint(dir);
    REQUIRE_MESSAGE(c.ok(), c.error());
    CHECK(c->info.epoch >= last);
    if (c->info.epoch > last) {
      ++advanced;
      maxDelayUs = std::max(40000, maxDelayUs * 3 / 4);
    } else {
      maxDelayUs = std::min(5000000, maxDelayUs * 2);
    }
    last = c->info.epoch;
    // Three kept, and one more when the kill fell between a checkpoint's rename and `latest`
    // naming it, or between `latest` and the prune (old files go only after both are durable);
    // a resumed run prunes what such a kill left, so files never pile up.
    CHECK(listCheckpoints(dir).size() <= 4);
  }
  CHECK(advanced > 0);
}

TEST_CASE("test_tr a diverging run stops with an error and keeps the last good checkpoint") {
  Scratch s("nonfinite");
  writeSmallData(s / "data", 1024, 32); // 64 steps an epoch: lr 1e6 overflows within one
  spit(s / "lin.nn", "model lin\n"
                     "input x: [28, 28, 1]\n"
                     "h = flatten(x)\n"
                     "h = dense(h, 784)\n"
                     "y = reshape(h, shape=[28, 28, 1])\n"
                     "loss mse(y, x)\n"
                     "train optimizer=sgd, lr=0.01, batch=16, seed=1\n");
  std::string common = s / "lin.nn" + " --data " + s / "data" +
                       " --threads 1 --backend interp --checkpoint " + s / "ckpt";
  Outcome good = runNnc(s, "train " + common + " --epochs 1");
  REQUIRE_MESSAGE(good.code == 0, good.err);
  std::string before = slurp(s / "ckpt/ckpt-epoch-0001.safetensors");

  // --lr may change on resume (and --epochs); the run's other settings are its stored ones.
  Outcome bad = runNnc(s, "train " + common + " --epochs 3 --resume --lr 1e6");
  CHECK(bad.code != 0);
  CHECK(bad.err.find("training stopped at epoch 2/3, step ") != std::string::npos);
  CHECK(bad.err.find("not finite") != std::string::npos);
  CHECK(bad.err.find("ckpt-epoch-0001.safetensors' is kept") != std::string::npos);
  CHECK(slurp(s / "ckpt/latest") == "ckpt-epoch-0001.safetensors\n");
  CHECK(slurp(s / "ckpt/ckpt-epoch-0001.safetensors") == before);
  CHECK(listCheckpoints(s / "ckpt") == std::vector<std::string>{"ckpt-epoch-0001.safetensors"});

  Outcome checked = runNnc(s, "train " + common + " --epochs 3 --resume --lr 1e6 --check-numerics");
  CHECK(checked.code != 0);
  CHECK(checked.err.find("training stopped at epoch 2/3") != std::string::npos);
  CHECK(checked.err.find("non-finite") != std::string::npos);
  CHECK(slurp(s / "ckpt/ckpt-epoch-0001.safetensors") == before);
}

TEST_CASE("test_tr a checkpoint of another model is refused") {
  Scratch s("othermodel");
  writeSmallData(s / "data", 64, 16);
  spit(s / "tiny.nn", kTiny);
  std::string other = kTiny;
  other.replace(other.find("model tiny"), 10, "model wide");
  other.replace(other.find("dense(h, 8,"), 11, "dense(h, 9,");
  spit(s / "wide.nn", other);
  std::string common = " --data " + s / "data" + " --threads 1 --backend interp --epochs 1";
  Outcome first = runNnc(s, "train " + s / "tiny.nn" + common + " --checkpoint " + s / "ckpt");
  REQUIRE_MESSAGE(first.code == 0, first.err);
  Outcome refused =
      runNnc(s, "train " + s / "wide.nn" + common + " --resume --checkpoint " + s / "ckpt");
  CHECK(refused.code == 1);
  CHECK(refused.err.find("model 'tiny'") != std::string::npos);
  CHECK(refused.err.find("model 'wide'") != std::string::npos);
  CHECK(refused.out.find("Epoch 1/") == std::string::npos);

  Outcome none =
      runNnc(s, "train " + s / "tiny.nn" + common + " --resume --checkpoint " + s / "empty");
  CHECK(none.code == 1);
  CHECK(none.err == "nnc: error: --resume: there is no run to continue in '" + s / "empty" +
                        "' (no such directory)\n");
  fs::create_directories(s / "empty");
  none = runNnc(s, "train " + s / "tiny.nn" + common + " --resume --checkpoint " + s / "empty");
  CHECK(none.code == 1);
  CHECK(none.err.find("no checkpoint to load") != std::string::npos);
}

TEST_CASE("test_tr --validation-split holds out the tail of the training split") {
  Scratch s("split");
  writeSmallData(s / "data", 64, 16);
  spit(s / "tiny.nn", kTiny);
  Outcome t = runNnc(s, "train " + s / "tiny.nn" + " --data " + s / "data" +
                            " --epochs 1 --batch 16 --validation-split 0.25 --checkpoint " +
                            s / "ckpt" + " --csv " + s / "curve.csv");
  REQUIRE_MESSAGE(t.code == 0, t.err);
  CHECK(t.out.find("48 train / 16 validation (held out of train)") != std::string::npos);
  CHECK(t.out.find("3/3 - ") != std::string::npos);
  CHECK(fs::exists(s / "curve.csv"));
  CHECK_FALSE(fs::exists(s / "ckpt/history.csv"));
  Outcome bad = runNnc(s, "train " + s / "tiny.nn" + " --data " + s / "data" +
                              " --validation-split 1.5 --checkpoint " + s / "ckpt");
  CHECK(bad.code == 1);
  CHECK(bad.err == "nnc: error: --validation-split: expected a fraction of at least 0 and below "
                   "1, found '1.5'\n");
}

TEST_CASE("test_tr loss plot and reconstruction grid decode to the expected sizes") {
  Scratch s("png");
  writeSmallData(s / "data", 64, 16);
  spit(s / "tiny.nn", kTiny);
  Outcome t = runNnc(s, "train " + s / "tiny.nn" + " --data " + s / "data" +
                            " --threads 1 --backend interp --checkpoint " + s / "ckpt" +
                            " --plot " + s / "loss.png");
  REQUIRE_MESSAGE(t.code == 0, t.err);
  Result<PngImage> plot = readPng(s / "loss.png");
  REQUIRE_MESSAGE(plot.ok(), plot.error());
  CHECK(plot->width == 800);
  CHECK(plot->height == 500);

  Outcome p = runNnc(s, "predict " + s / "tiny.nn" + " --weights " + s / "ckpt" + " --data " +
                            s / "data" + " --backend interp --count 5 --out " + s / "recon.png");
  REQUIRE_MESSAGE(p.code == 0, p.err);
  Result<PngImage> grid = readPng(s / "recon.png");
  REQUIRE_MESSAGE(grid.ok(), grid.error());
  // 5 images of 28x28 scaled 4x with 4-pixel gaps: 5*112 + 6*4 wide, 2*112 + 3*4 high.
  CHECK(grid->width == 584);
  CHECK(grid->height == 236);
  CHECK(grid->channels == 1);

  Outcome missing = runNnc(s, "predict " + s / "tiny.nn" + " --weights " + s / "nope.safetensors" +
                                  " --data " + s / "data");
  CHECK(missing.code == 1);
  CHECK(missing.err.find("nope.safetensors") != std::string::npos);
}

TEST_CASE("test_tr a few hundred Adam steps on the bundled digits beat any untrained model") {
  // Thresholds on this data: predicting every pixel's mean scores 0.264 binary crossentropy;
  // an untrained sigmoid output near 0.5 scores about 0.69. One epoch is 251 steps of 32.
  Scratch s("learn");
  spit(s / "dense.nn", "model dense\n"
                       "input x: [28, 28, 1]\n"
                       "h = flatten(x)\n"
                       "h = dense(h, 32, activation=relu)\n"
                       "h = dense(h, 784, activation=sigmoid)\n"
                       "y = reshape(h, shape=[28, 28, 1])\n"
                       "loss binary_crossentropy(y, x)\n"
                       "train optimizer=adam, lr=0.005, epochs=1, batch=32, seed=1\n");
  Outcome t = runNnc(s, "train " + s / "dense.nn" + " --data mnist-10k --checkpoint " + s / "ckpt" +
                            " --time-passes");
  REQUIRE_MESSAGE(t.code == 0, t.err);
  CHECK(t.out.find("251/251 - ") != std::string::npos);
  // --time-passes ends with where the process's time went: each part measured, little left
  // unaccounted ("other" is the whole minus the parts).
  std::map<std::string, double> spent;
  std::regex row(R"(\n  ([a-z ]+?) +(-?[0-9.]+) s)");
  size_t report = t.out.find("run time:\n");
  REQUIRE(report != std::string::npos);
  std::string tail = t.out.substr(report);
  for (std::sregex_iterator it(tail.begin(), tail.end(), row), end; it != end; ++it)
    spent[(*it)[1]] = std::stod((*it)[2]);
  for (const char *part : {"compile", "load data", "training steps", "validation", "checkpoints",
                           "other", "whole process"}) {
    CAPTURE(part);
    REQUIRE(spent.count(part));
    CHECK(spent[part] >= -0.002);
  }
  CHECK(spent["training steps"] > 0.01);
  CHECK(spent["validation"] > 0);
  CHECK(spent["whole process"] > spent["compile"] + spent["training steps"]);
  CHECK(spent["other"] < 0.25 * spent["whole process"]);
  Result<std::vector<EpochRecord>> h = parseHistoryCsv(slurp(s / "ckpt/history.csv"), "csv");
  REQUIRE(h.ok());
  REQUIRE(h->size() == 1);
  REQUIRE((*h)[0].valLoss);
  CHECK(*(*h)[0].valLoss < 0.20);
}

namespace {

/// Rewrites checkpoint `path` with metadata field `key` set to `value`, or with tensors changed.
void mutateCheckpoint(const std::string &path, const std::string &key, const std::string &value,
                      void (*tensors)(TensorMapD &) = nullptr) {
  Result<SafetensorsD> f = readSafetensorsD(path);
  REQUIRE_MESSAGE(f.ok(), f.error());
  f->metadata[key] = value;
  if (tensors) {
    // The tensors change on purpose: their hashes are updated so a later check is reached.
    tensors(f->tensors);
    for (auto it = f->metadata.begin(); it != f->metadata.end();)
      it = it->first.rfind("xxh3.", 0) == 0 ? f->metadata.erase(it) : std::next(it);
    addTensorHashes(f->metadata, f->tensors, true);
  }
  REQUIRE(writeSafetensorsD(path, f->tensors, f->metadata).ok());
}

} // namespace

TEST_CASE("test_tr --resume without latest (or with a dangling one) takes the newest complete "
          "checkpoint") {
  Scratch s("nolatest");
  writeSmallData(s / "data", 64, 16);
  spit(s / "tiny.nn", kTiny);
  std::string common = s / "tiny.nn" + " --data " + s / "data" +
                       " --threads 1 --backend interp --batch 32 --checkpoint " + s / "ckpt";
  Outcome first = runNnc(s, "train " + common + " --epochs 1");
  REQUIRE_MESSAGE(first.code == 0, first.err);
  // SIGKILL after the first checkpoint's rename but before `latest` was written.
  fs::remove(s / "ckpt/latest");
  Outcome rest = runNnc(s, "train " + common + " --epochs 2 --resume");
  REQUIRE_MESSAGE(rest.code == 0, rest.err);
  CHECK(rest.err.find("note: '" + s / "ckpt/latest" +
                      "' is missing; using the newest complete checkpoint '" +
                      s / "ckpt/ckpt-epoch-0001.safetensors'\n") != std::string::npos);
  CHECK(rest.out.find("Resuming from " + s / "ckpt/ckpt-epoch-0001.safetensors") !=
        std::string::npos);
  CHECK(rest.out.find("Epoch 1/2") == std::string::npos);
  CHECK(slurp(s / "ckpt/latest") == "ckpt-epoch-0002.safetensors\n");

  spit(s / "ckpt/latest", "ckpt-epoch-0005.safetensors\n");
  Outcome dangling = runNnc(s, "train " + common + " --epochs 3 --resume");
  REQUIRE_MESSAGE(dangling.code == 0, dangling.err);
  CHECK(dangling.err.find("which does not exist; using the newest complete checkpoint '" +
                          s / "ckpt/ckpt-epoch-0002.safetensors'") != std::string::npos);
  CHECK(dangling.out.find("Epoch 3/3") != std::string::npos);
  // Every atomic write (checkpoints, latest, history.csv) cleaned up after itself.
  CHECK(temporaries(s / "ckpt").empty());
}

TEST_CASE("test_tr --resume refuses bad metadata by field and keeps the checkpoint") {
  Scratch s("badmeta");
  writeSmallData(s / "data", 64, 16);
  spit(s / "tiny.nn", kTiny);
  std::string common = s / "tiny.nn" + " --data " + s / "data" +
                       " --threads 1 --backend interp --batch 32 --checkpoint " + s / "ckpt";
  Outcome first = runNnc(s, "train " + common + " --epochs 1");
  REQUIRE_MESSAGE(first.code == 0, first.err);
  std::string ckpt = s / "ckpt/ckpt-epoch-0001.safetensors";
  std::string good = slurp(ckpt);
  struct Mutant {
    std::string key, value, message;
  };
  const std::vector<Mutant> mutants = {
      {"epoch", "", "metadata \"epoch\" is \"\", expected a whole number"},
      {"epoch", "18446744073709551615", "metadata \"epoch\" is \"18446744073709551615\""},
      {"partial_loss_sum", "nan", "metadata \"partial_loss_sum\" is \"nan\""},
      {"history", "nan,0.5,0.4,1.000\n", "metadata \"history\": line 1: epoch \"nan\""},
      // Valid on its own, but past the 2 steps of an epoch of 64 examples in batches of 32.
      {"step", "9",
       "metadata \"step\" is 9, but an epoch of 64 examples in batches of 32 has "
       "only 2 steps"},
  };
  for (const Mutant &m : mutants) {
    CAPTURE(m.key);
    spit(ckpt, good);
    mutateCheckpoint(ckpt, m.key, m.value);
    if (m.key == "step") {
      mutateCheckpoint(ckpt, "partial_count", "288");
      mutateCheckpoint(ckpt, "partial_loss_sum", "0x1p+0");
      mutateCheckpoint(ckpt, "global_step", "11");
    }
    std::string before = slurp(ckpt);
    Outcome r = runNnc(s, "train " + common + " --epochs 2 --resume");
    CHECK(r.code == 1);
    CHECK_MESSAGE(r.err.find(m.message) != std::string::npos, r.err);
    CHECK(r.out.find("Epoch ") == std::string::npos);
    // Nothing was trained or pruned: the checkpoint is still there, unchanged.
    CHECK(slurp(ckpt) == before);
    CHECK(listCheckpoints(s / "ckpt") == std::vector<std::string>{"ckpt-epoch-0001.safetensors"});
  }
}

TEST_CASE("test_tr predict and eval refuse NaN weights and tensors that are not the model's") {
  Scratch s("badweights");
  writeSmallData(s / "data", 64, 16);
  spit(s / "tiny.nn", kTiny);
  Outcome t = runNnc(s, "train " + s / "tiny.nn" + " --data " + s / "data" +
                            " --threads 1 --backend interp --epochs 1 --optimizer sgd "
                            "--checkpoint " +
                            s / "ckpt");
  REQUIRE_MESSAGE(t.code == 0, t.err);
  std::string ckpt = s / "ckpt/ckpt-epoch-0001.safetensors";
  std::string good = slurp(ckpt);
  std::string predict = "predict " + s / "tiny.nn" + " --data " + s / "data" +
                        " --backend interp --count 2 --out " + s / "recon.png --weights ";
  // The checkpoint's optimizer (sgd, not the file's adam) decides the state tensors expected.
  Outcome ok = runNnc(s, predict + s / "ckpt");
  REQUIRE_MESSAGE(ok.code == 0, ok.err);

  // Before: exit 0, a PNG, and "loss on them -nan".
  mutateCheckpoint(ckpt, "format", "nnc-checkpoint-2",
                   [](TensorMapD &m) { m.begin()->second.data[3] = std::nan(""); });
  std::string first = readSafetensorsD(ckpt)->tensors.begin()->first;
  Outcome nan = runNnc(s, predict + s / "ckpt");
  CHECK(nan.code == 1);
  CHECK(nan.err.find(ckpt + ": tensor '" + first + "' holds NaN at index 3") != std::string::npos);
  Result<SafetensorsD> plain = readSafetensorsD(ckpt);
  REQUIRE(plain.ok());
  REQUIRE(writeSafetensorsD(s / "plain.safetensors", plain->tensors, {}).ok());
  Outcome nanPlain = runNnc(s, predict + s / "plain.safetensors");
  CHECK(nanPlain.code == 1);
  CHECK(nanPlain.err.find("tensor '" + first + "' holds NaN") != std::string::npos);
  Outcome nanEval = runNnc(s, "eval " + s / "tiny.nn" + " --weights " + s / "plain.safetensors" +
                                  " --inputs " + s / "plain.safetensors");
  CHECK(nanEval.code == 1);
  CHECK(nanEval.err.find("tensor '" + first + "' holds NaN") != std::string::npos);

  // A checkpoint whose tensor was renamed is refused by predict and eval alike.
  spit(ckpt, good);
  mutateCheckpoint(ckpt, "format", "nnc-checkpoint-2", [](TensorMapD &m) {
    auto node = m.extract(m.begin());
    node.key() += ".renamed";
    m.insert(std::move(node));
  });
  Outcome renamed = runNnc(s, predict + ckpt);
  CHECK(renamed.code == 1);
  CHECK(renamed.err.find(ckpt + ": missing tensor '" + first + "'") != std::string::npos);
  CHECK(renamed.err.find("unexpected tensor '" + first + ".renamed'") != std::string::npos);
  Outcome renamedEval =
      runNnc(s, "eval " + s / "tiny.nn" + " --weights " + ckpt + " --inputs " + ckpt);
  CHECK(renamedEval.code == 1);
  CHECK(renamedEval.err.find("unexpected tensor '" + first + ".renamed'") != std::string::npos);

  // predict and eval parse the metadata strictly too.
  spit(ckpt, good);
  mutateCheckpoint(ckpt, "epoch", "");
  Outcome meta = runNnc(s, predict + ckpt);
  CHECK(meta.code == 1);
  CHECK(meta.err.find(ckpt + ": metadata \"epoch\" is \"\"") != std::string::npos);
  Outcome metaEval =
      runNnc(s, "eval " + s / "tiny.nn" + " --weights " + ckpt + " --inputs " + ckpt);
  CHECK(metaEval.code == 1);
  CHECK(metaEval.err.find(ckpt + ": metadata \"epoch\" is \"\"") != std::string::npos);
}
