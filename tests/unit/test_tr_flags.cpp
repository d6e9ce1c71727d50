// The flags of `nnc train` and `nnc predict`: every out-of-range or unreadable value is refused
// as "nnc: error: --FLAG: expected ..., found 'TEXT'" before the model is compiled or the data
// loaded, and nothing is written; a model without parameters is refused up front; the edge
// values that are valid still train.
#include "TestUtil.h"

#include "runtime/Safetensors.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace {

struct Outcome {
  int code = -1;
  std::string err, out;
};

/// Runs `nnc ARGS` from `cwd`, its output captured in `logs`; returns the exit code, stderr
/// and stdout.
Outcome runNnc(const fs::path &cwd, const fs::path &logs, const std::string &args) {
  std::string cmd = "cd '" + cwd.string() + "' && " + NNC_BINARY + " " + args + " >'" +
                    (logs / "stdout").string() + "' 2>'" + (logs / "stderr").string() +
                    "' </dev/null";
  int rc = std::system(cmd.c_str());
  auto read = [](const fs::path &p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, read(logs / "stderr"), read(logs / "stdout")};
}

/// Every file and directory under `dir`, as paths relative to it.
std::set<std::string> filesUnder(const fs::path &dir) {
  std::set<std::string> files;
  for (const fs::directory_entry &e : fs::recursive_directory_iterator(dir))
    files.insert(fs::relative(e.path(), dir).string());
  return files;
}

const char *kTiny = "model tiny\n"
                    "input x: [28, 28, 1]\n"
                    "h = flatten(x)\n"
                    "h = dense(h, 4, activation=relu)\n"
                    "h = dense(h, 784, activation=sigmoid)\n"
                    "y = reshape(h, shape=[28, 28, 1])\n"
                    "loss binary_crossentropy(y, x)\n"
                    "train optimizer=adam, epochs=1, batch=25\n";

/// A working directory with tiny.nn and a 50/10-image dataset in data/, and a log directory.
struct Workspace {
  nnc::test::TempDir work{"nnc_test_tr_flags_"}, logs{"nnc_test_tr_flags_logs_"};
  Workspace() {
    std::ofstream(work.path / "tiny.nn") << kTiny;
    std::string err = nnc::test::writeSmallMnist(work.path / "data", 50, 10);
    REQUIRE_MESSAGE(err.empty(), err);
  }
  Outcome run(const std::string &args) const { return runNnc(work.path, logs.path, args); }
};

struct Refusal {
  const char *flags;
  const char *message; // after "nnc: error: "
};

/// Checks that each of `cases`, added to `command`, fails with its message and writes nothing.
void expectRefused(const Workspace &w, const std::string &command,
                   std::initializer_list<Refusal> cases) {
  std::set<std::string> before = filesUnder(w.work.path);
  for (const Refusal &c : cases) {
    CAPTURE(c.flags);
    Outcome o = w.run(command + " " + c.flags);
    CHECK(o.code == 1);
    CHECK(o.err == std::string("nnc: error: ") + c.message + "\n");
    CHECK(o.out.empty());
    CHECK(filesUnder(w.work.path) == before);
  }
}

} // namespace

TEST_CASE("test_tr flags: out-of-range train flags are refused by name, nothing written") {
  Workspace w;
  expectRefused(
      w, "train tiny.nn --data data --checkpoint ck",
      {
          {"--lr inf", "--lr: expected a positive number of at most 1e6, found 'inf'"},
          {"--lr 1e309", "--lr: expected a positive number of at most 1e6, found '1e309'"},
          {"--lr nan", "--lr: expected a positive number of at most 1e6, found 'nan'"},
          {"--lr 0", "--lr: expected a positive number of at most 1e6, found '0'"},
          {"--lr -0.5", "--lr: expected a positive number of at most 1e6, found '-0.5'"},
          {"--lr 0.1x", "--lr: expected a positive number of at most 1e6, found '0.1x'"},
          {"--lr 1.5e6", "--lr: expected a positive number of at most 1e6, found '1.5e6'"},
          {"--epochs 0", "--epochs: expected an integer from 1 to 1000000, found '0'"},
          {"--epochs 1000001", "--epochs: expected an integer from 1 to 1000000, found '1000001'"},
          {"--epochs 2.5", "--epochs: expected an integer from 1 to 1000000, found '2.5'"},
          {"--batch 0", "--batch: expected an integer from 1 to 1000000, found '0'"},
          {"--batch -8", "--batch: expected an integer from 1 to 1000000, found '-8'"},
          {"--validation-split 1",
           "--validation-split: expected a fraction of at least 0 and below 1, found '1'"},
          {"--validation-split -0.1",
           "--validation-split: expected a fraction of at least 0 and below 1, found '-0.1'"},
          {"--validation-split nan",
           "--validation-split: expected a fraction of at least 0 and below 1, found 'nan'"},
          {"--threads 0", "--threads: expected an integer from 1 to 1024, found '0'"},
          {"--threads 1025", "--threads: expected an integer from 1 to 1024, found '1025'"},
          {"--seed -1", "--seed: expected an integer of 0 or more, found '-1'"},
          {"--seed 99999999999999999999",
           "--seed: expected an integer of 0 or more, found '99999999999999999999'"},
          {"--optimizer adamw", "--optimizer: unknown optimizer 'adamw'; did you mean 'adam'? "
                                "(expected one of: sgd, adam, adadelta, rmsprop)"},
      });
  CHECK(!fs::exists(w.work.path / "ck"));
}

TEST_CASE("test_tr flags: flags are checked before the model is compiled or the data loaded") {
  Workspace w;
  std::ofstream(w.work.path / "broken.nn") << "model broken\ny = conv3d(\n";
  expectRefused(w, "train broken.nn --data no-such-data --checkpoint ck",
                {{"--lr inf", "--lr: expected a positive number of at most 1e6, found 'inf'"},
                 {"--optimizer sgd --epochs 0",
                  "--epochs: expected an integer from 1 to 1000000, found '0'"}});
  expectRefused(w, "predict broken.nn --data no-such-data --weights no-such-weights --out r.png",
                {{"--count 0", "--count: expected an integer of 1 or more, found '0'"},
                 {"--count ten", "--count: expected an integer of 1 or more, found 'ten'"},
                 {"--threads 0", "--threads: expected an integer from 1 to 1024, found '0'"}});
}

TEST_CASE("test_tr flags: output paths that cannot be written are refused before any work") {
  Workspace w;
  std::ofstream(w.work.path / "afile") << "x";
  expectRefused(
      w, "train tiny.nn --data data",
      {
          {"--plot /no/such/dir/x.png",
           "--plot: cannot write '/no/such/dir/x.png': directory '/no/such/dir': No such file or "
           "directory"},
          {"--plot data", "--plot: cannot write 'data': it is a directory"},
          {"--plot afile/x.png",
           "--plot: cannot write 'afile/x.png': 'afile' is a file, not a directory"},
          {"--csv missing/h.csv",
           "--csv: cannot write 'missing/h.csv': directory 'missing': No such file or directory"},
          {"--csv data/", "--csv: cannot write 'data/': not a file name"},
          {"--checkpoint afile",
           "--checkpoint: cannot create or write 'afile': 'afile' is a file, not a directory"},
          {"--checkpoint afile/a/b",
           "--checkpoint: cannot create or write 'afile/a/b': 'afile' is a file, not a directory"},
      });
  expectRefused(w, "predict tiny.nn --data data --weights none",
                {{"--out no/such/r.png",
                  "--out: cannot write 'no/such/r.png': directory 'no/such': No such file or "
                  "directory"}});
  // The default directory runs/MODEL is checked as soon as the model's name is known.
  fs::create_directories(w.work.path / "blocked");
  std::ofstream(w.work.path / "blocked" / "runs") << "x";
  std::set<std::string> before = filesUnder(w.work.path);
  Outcome o = runNnc(w.work.path / "blocked", w.logs.path, "train ../tiny.nn --data ../data");
  CHECK(o.code == 1);
  CHECK(o.err == "nnc: error: checkpoint directory (--checkpoint to choose another): cannot "
                 "create or write 'runs/tiny': 'runs' is a file, not a directory\n");
  CHECK(filesUnder(w.work.path) == before);
}

TEST_CASE("test_tr flags: a training-graph error is one diagnostic, not prefixed twice") {
  Workspace w;
  Outcome o = w.run("train tiny.nn --data data --checkpoint ck --backend interp");
  REQUIRE(o.code == 0);
  // A checkpoint naming an optimizer nnc does not know: autodiff refuses it at the train line.
  std::string latest = (w.work.path / "ck" / "ckpt-epoch-0001.safetensors").string();
  nnc::Result<nnc::SafetensorsD> ck = nnc::readSafetensorsD(latest);
  REQUIRE(ck.ok());
  ck->metadata["optimizer"] = "adamw";
  REQUIRE(nnc::writeSafetensorsD(latest, ck->tensors, ck->metadata).ok());
  o = w.run("predict tiny.nn --data data --weights ck --backend interp --out r.png");
  CHECK(o.code == 1);
  CHECK(o.err == "tiny.nn:8:1: error: unknown optimizer 'adamw' (expected sgd, adam, adadelta or "
                 "rmsprop)\n"
                 "train optimizer=adam, epochs=1, batch=25\n"
                 "^\n");
  CHECK(!fs::exists(w.work.path / "r.png"));
}

TEST_CASE("test_tr flags: a model without parameters is refused before training") {
  Workspace w;
  std::ofstream(w.work.path / "none.nn") << "model none\ninput x: [28, 28, 1]\ny = relu(x)\n"
                                            "loss mse(y, x)\n";
  expectRefused(w, "train none.nn --data data --checkpoint ck",
                {{"", "none.nn: the model has no trainable parameters: nothing to train"}});
}

TEST_CASE("test_tr flags: the valid edge values train") {
  Workspace w;
  Outcome o = w.run("train tiny.nn --data data --checkpoint ck --backend interp --lr 1e-3 "
                    "--epochs 1 --batch 1000000 --seed 0 --threads 1 --validation-split 0 "
                    "--optimizer sgd");
  INFO(o.err);
  CHECK(o.code == 0);
  CHECK(o.out.find("50 train / 10 validation (test split), batch 1000000, sgd lr 0.001, "
                   "backend interp, seed 0\n") != std::string::npos);
  CHECK(fs::exists(w.work.path / "ck"));
  o = w.run("train tiny.nn --data data --checkpoint ck2 --backend interp --validation-split 0.2");
  CHECK(o.code == 0);
  CHECK(o.out.find("40 train / 10 validation (held out of train)") != std::string::npos);
}
