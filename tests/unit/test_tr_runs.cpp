// Runs never lose work: a new `nnc train` into a directory holding an earlier run is refused
// (every old file byte-identical) or, with --new, goes to DIR-2; a second trainer on a locked
// directory is refused at once with the first one's PID while the first finishes untouched;
// `--resume` alone (or the command printed at Ctrl-C, run verbatim) continues with the stored
// configuration and ends bit-identical to an uninterrupted run, also after SIGKILL; comments
// and formatting of the .nn file do not change the model's identity, its graph does. And the
// streams as Keras uses them: progress on standard output (a live bar only on a terminal, one
// line per epoch otherwise; --verbose: lines even on a terminal; --quiet: nothing), warnings
// and errors on standard error.
#include "TestCheckpoint.h"
#include "TestUtil.h"
#include "passes/Pipeline.h"
#include "runtime/Checkpoint.h"
#include "runtime/Png.h"

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
#include <poll.h>
#include <pty.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace nnc;
using nnc::test::slurp;

namespace {

/// In a forked child: replaces it with `nnc ARGS` (words split on spaces); exits 127 on failure.
[[noreturn]] void execNnc(const std::string &args) {
  std::vector<std::string> words = {NNC_BINARY};
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  std::vector<char *> argv;
  for (std::string &w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

} // namespace
namespace fs = std::filesystem;

namespace {

struct Outcome {
  int code = -1;
  std::string out, err;
};

/// A scratch directory with tiny.nn and a dataset in data/ (`train` and 20 test images).
struct Run {
  test::TempDir tmp{"test_tr_runs_"};
  fs::path dir = tmp.path;
  explicit Run(int64_t train) {
    std::string err = test::writeSmallMnist(dir / "data", train, 20);
    REQUIRE_MESSAGE(err.empty(), err);
    std::ofstream(dir / "tiny.nn") << "model tiny\n"
                                      "input x: [28, 28, 1]\n"
                                      "h = flatten(x)\n"
                                      "h = dense(h, 8, activation=relu)\n"
                                      "h = dense(h, 784, activation=sigmoid)\n"
                                      "y = reshape(h, shape=[28, 28, 1])\n"
                                      "loss binary_crossentropy(y, x)\n"
                                      "train optimizer=adam, epochs=2, batch=32\n";
  }
  /// Runs the shell command `cmd` in the scratch directory, `nnc` standing for the binary.
  Outcome shell(const std::string &cmd) const {
    std::string line = "cd '" + dir.string() + "' && " + NNC_BINARY + cmd.substr(3) + " >'" +
                       (dir / ".out").string() + "' 2>'" + (dir / ".err").string() + "' </dev/null";
    int rc = std::system(line.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(dir / ".out"), slurp(dir / ".err")};
  }
  Outcome nnc(const std::string &args) const { return shell("nnc " + args); }
  /// Starts `nnc ARGS` in the scratch directory with its output to `log`; returns its PID.
  pid_t spawn(const std::string &args, const std::string &log) const {
    pid_t pid = ::fork();
    if (pid != 0) return pid;
    if (::chdir(dir.c_str()) != 0) ::_exit(127);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    execNnc(args);
  }
  /// Every regular file under the scratch directory's `sub` and its bytes.
  std::map<std::string, std::string> files(const std::string &sub) const {
    std::map<std::string, std::string> out;
    for (const auto &e : fs::recursive_directory_iterator(dir / sub))
      if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = slurp(e.path());
    return out;
  }
};

/// Waits up to 20 s for `done` to hold, polling every millisecond.
template <typename F> bool waitFor(F done) {
  for (int i = 0; i < 20000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

int waitExit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

const std::string kConfig = "--data data --epochs 6 --batch 4 --optimizer sgd --lr 0.05 "
                            "--seed 3 --validation-split 0.25 --metrics accuracy";

} // namespace

TEST_CASE("test_tr a new run never touches an earlier run's files; --new trains beside it") {
  Run r(64);
  Outcome first = r.nnc("train tiny.nn --data data --backend interp --epochs 1");
  REQUIRE_MESSAGE(first.code == 0, first.err);
  std::map<std::string, std::string> before = r.files("runs");
  CHECK(before.count("runs/tiny/ckpt-epoch-0001.safetensors"));
  CHECK(before.count("runs/tiny/history.csv"));

  Outcome again = r.nnc("train tiny.nn --data data --backend interp --epochs 3");
  CHECK(again.code == 1);
  CHECK(again.err == "nnc: error: 'runs/tiny' holds the checkpoints of an earlier run (latest: "
                     "runs/tiny/ckpt-epoch-0001.safetensors, epoch 1 of 1); nothing was changed.\n"
                     "  continue it with: nnc train tiny.nn --resume --checkpoint runs/tiny\n"
                     "  or start a new run in 'runs/tiny-2' with: --new\n");
  CHECK(r.files("runs") == before);

  Outcome beside = r.nnc("train tiny.nn --data data --backend interp --epochs 1 --new");
  REQUIRE_MESSAGE(beside.code == 0, beside.err);
  CHECK((beside.out + beside.err)
            .find("'runs/tiny' holds an earlier run; this one trains in "
                  "'runs/tiny-2'") != std::string::npos);
  CHECK(fs::exists(r.dir / "runs/tiny-2/ckpt-epoch-0001.safetensors"));
  std::map<std::string, std::string> after = r.files("runs");
  for (const auto &[name, bytes] : before) CHECK(after.at(name) == bytes);
  // The next --new takes the next free name.
  Outcome third = r.nnc("train tiny.nn --data data --backend interp --epochs 1 --new");
  REQUIRE_MESSAGE(third.code == 0, third.err);
  CHECK(fs::exists(r.dir / "runs/tiny-3/latest"));

  CHECK(r.nnc("train tiny.nn --resume --new").err ==
        "nnc: error: --new starts a new run; it cannot be combined with --resume\n");
}

TEST_CASE("test_tr a second trainer on a run directory is refused at once with the first's PID") {
  Run r(64);
  std::string args = "train tiny.nn --data data --backend interp --epochs 3 --checkpoint ck";
  pid_t pid = r.spawn(args, (r.dir / "first.log").string());
  REQUIRE(pid > 0);
  std::string pidText = std::to_string(pid) + "\n";
  bool locked = waitFor([&] { return slurp(r.dir / "ck/.lock") == pidText; });
  if (!locked) {
    ::kill(pid, SIGKILL);
    waitExit(pid);
  }
  REQUIRE(locked);
  ::kill(pid, SIGSTOP); // hold the first trainer inside its run while the others try
  std::map<std::string, std::string> before = r.files("ck");
  for (const char *extra : {"", " --resume", " --epochs 5 --resume"}) {
    CAPTURE(extra);
    auto t0 = std::chrono::steady_clock::now();
    Outcome second = r.nnc(args + extra);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
    CHECK(second.code == 1);
    CHECK(second.err == "nnc: error: 'ck' is in use by another process (PID " +
                            std::to_string(pid) +
                            "), which trains there; wait for it to finish, or train elsewhere "
                            "(--new or --checkpoint)\n");
    CHECK(r.files("ck") == before);
  }
  ::kill(pid, SIGCONT);
  CHECK(waitExit(pid) == 0);
  Result<Checkpoint> c = loadLatestCheckpoint((r.dir / "ck").string());
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->info.epoch == 3);
  // Once the first has finished, the lock is free: resuming it is allowed.
  Outcome resumed = r.nnc(args + " --epochs 4 --resume");
  CHECK_MESSAGE(resumed.code == 0, resumed.err);
}

TEST_CASE("test_tr --resume alone continues the stored configuration bit-identically") {
  Run r(400); // 300 train / 100 validation, 75 steps an epoch
  Outcome full =
      r.nnc("train tiny.nn " + kConfig + " --threads 1 --backend interp --checkpoint full");
  REQUIRE_MESSAGE(full.code == 0, full.err);

  SUBCASE("after SIGKILL") {
    pid_t pid =
        r.spawn("train tiny.nn " + kConfig + " --threads 1 --backend interp --checkpoint part",
                (r.dir / "part.log").string());
    REQUIRE(pid > 0);
    waitFor([&] { return fs::exists(r.dir / "part/ckpt-epoch-0002.safetensors"); });
    ::kill(pid, SIGKILL);
    waitExit(pid);
    Result<Checkpoint> at = loadLatestCheckpoint((r.dir / "part").string());
    REQUIRE_MESSAGE(at.ok(), at.error());
    INFO("killed after epoch " << at->info.epoch);
    CHECK(at->info.epoch < 6); // killed inside the run, not after it
    CHECK(at->info.data == "data");
    CHECK(at->info.epochs == 6);
    CHECK(at->info.batch == 4);
    CHECK(at->info.optimizer == "sgd");
    CHECK(at->info.lr == 0.05);
    CHECK(at->info.seed == 3);
    CHECK(at->info.validationSplit == 0.25);
    CHECK(at->info.metrics == std::vector<std::string>{"accuracy"});
    // No --data (the default would be mnist), no --epochs, --batch, --optimizer, ...
    Outcome rest = r.nnc("train tiny.nn --resume --checkpoint part --threads 1 --backend interp");
    REQUIRE_MESSAGE(rest.code == 0, rest.err);
    std::string log = rest.out + rest.err;
    CHECK(log.find("300 train / 100 validation (held out of train), batch 4, sgd lr 0.05") !=
          std::string::npos);
    CHECK(log.find("Epoch 6/6") != std::string::npos);
    test::checkSameCheckpoint((r.dir / "full/ckpt-epoch-0006.safetensors").string(),
                              (r.dir / "part/ckpt-epoch-0006.safetensors").string());
  }
  SUBCASE("after Ctrl-C, with the printed command run verbatim") {
    pid_t pid = r.spawn("train tiny.nn " + kConfig +
                            " --threads 1 --backend interp --checkpoint "
                            "part --csv part.csv",
                        (r.dir / "part.log").string());
    REQUIRE(pid > 0);
    waitFor([&] { return slurp(r.dir / "part.log").find("Epoch 3/6") != std::string::npos; });
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ::kill(pid, SIGINT);
    int code = waitExit(pid);
    std::string log = slurp(r.dir / "part.log");
    INFO(log);
    REQUIRE(code == 130);
    size_t at = log.find("continue with: ");
    REQUIRE(at != std::string::npos);
    std::string cmd = log.substr(at + 15, log.find('\n', at) - at - 15);
    CHECK(cmd == "nnc train tiny.nn --resume --checkpoint part --csv part.csv");
    Outcome rest = r.shell(cmd + " --threads 1 --backend interp");
    REQUIRE_MESSAGE(rest.code == 0, rest.err);
    std::string out = rest.out + rest.err;
    // The resumed epoch's line counts all its steps and the time before the interruption too.
    size_t resumed = out.find("Epoch 3/6\n");
    REQUIRE(resumed != std::string::npos);
    CHECK(out.compare(resumed + 10, 8, "75/75 - ") == 0);
    test::checkSameCheckpoint((r.dir / "full/ckpt-epoch-0006.safetensors").string(),
                              (r.dir / "part/ckpt-epoch-0006.safetensors").string());
    std::string csv = slurp(r.dir / "part.csv");
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 7); // the header and six epochs
  }
}

TEST_CASE("test_tr the model's identity is its graph: a comment does not block --resume") {
  Run r(64);
  Outcome first = r.nnc("train tiny.nn --data data --backend interp --epochs 1 --checkpoint ck");
  REQUIRE_MESSAGE(first.code == 0, first.err);
  std::string source = slurp(r.dir / "tiny.nn");
  std::ofstream(r.dir / "tiny.nn") << "# the tiny autoencoder, now commented\n\n"
                                   << source << "# trailing note\n";
  Outcome resumed = r.nnc("train tiny.nn --resume --epochs 2 --checkpoint ck --backend interp");
  CHECK_MESSAGE(resumed.code == 0, resumed.err);
  CHECK((resumed.out + resumed.err).find("Resuming from ck/ckpt-epoch-0001.safetensors") !=
        std::string::npos);

  DiagEngine d1("a.nn", source), d2("b.nn", "# x\n" + source), d3("c.nn", source);
  std::string wider = source;
  wider.replace(wider.find("dense(h, 8,"), 11, "dense(h, 9,");
  DiagEngine d4("d.nn", wider);
  std::optional<Graph> a = compileSource(source, "a.nn", d1),
                       b = compileSource("# x\n" + source, "b.nn", d2),
                       c = compileSource(wider, "d.nn", d4);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  CHECK(graphHash(*a) == graphHash(*b));
  CHECK(graphHash(*a) != graphHash(*c));
  Graph renamed = *a;
  renamed.params.empty() ? void() : void(renamed[renamed.params[0]].name = "other.kernel");
  CHECK(graphHash(*a) != graphHash(renamed));
  Graph retrained = *a;
  retrained.train.epochs = 50;
  CHECK(graphHash(*a) == graphHash(retrained));
  (void)d3;
}

namespace {

/// Runs `nnc ARGS` (space-separated) in `dir` with standard output on a pseudo-terminal and
/// standard error to `errPath`; returns what the terminal showed.
std::string onTerminal(const fs::path &dir, const std::string &args, const std::string &errPath) {
  int master = -1;
  pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(127);
    int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, 2);
    execNnc(args);
  }
  std::string shown;
  char buf[4096];
  for (;;) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 30000) <= 0) break;
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break; // EIO once the child has exited and closed the terminal
    shown.append(buf, size_t(n));
  }
  ::close(master);
  waitExit(pid);
  return shown;
}

} // namespace

TEST_CASE("test_tr streams: progress on stdout (a bar only on a terminal), warnings on stderr") {
  Run r(64);
  std::string args = "train tiny.nn --data data --backend interp --epochs 2 --batch 16";
  Outcome piped = r.nnc(args + " --checkpoint piped");
  REQUIRE_MESSAGE(piped.code == 0, piped.err);
  CHECK(piped.err.empty());
  CHECK(piped.out.rfind("Training tiny (13,336 params) on ", 0) == 0);
  CHECK(piped.out.find("Epoch 1/2\n4/4 - ") != std::string::npos);
  CHECK(piped.out.find("Epoch 2/2\n4/4 - ") != std::string::npos);
  CHECK(piped.out.find('\r') == std::string::npos);
  CHECK(piped.out.find("Saved piped/ckpt-epoch-0002.safetensors\n") != std::string::npos);

  Outcome quiet = r.nnc(args + " --checkpoint quiet --quiet");
  REQUIRE_MESSAGE(quiet.code == 0, quiet.err);
  CHECK(quiet.out.empty());
  CHECK(quiet.err.empty());
  CHECK(fs::exists(r.dir / "quiet/ckpt-epoch-0002.safetensors"));

  // A warning goes to stderr, even with --quiet; the progress of the resumed run to stdout.
  fs::remove(r.dir / "piped/latest");
  Outcome note = r.nnc("train tiny.nn --resume --epochs 3 --checkpoint piped --backend interp");
  REQUIRE_MESSAGE(note.code == 0, note.err);
  CHECK(note.err.rfind("note: 'piped/latest' is missing; using the newest complete checkpoint",
                       0) == 0);
  CHECK(note.out.find("Epoch 3/3\n") != std::string::npos);
  CHECK(note.out.find("note:") == std::string::npos);

  std::string err = (r.dir / "tty.err").string();
  std::string bar = onTerminal(r.dir, args + " --checkpoint tty", err);
  CHECK(slurp(err).empty());
  CHECK(bar.find("\r") != std::string::npos);
  CHECK(bar.find("[==============================]") != std::string::npos);
  CHECK(bar.find("Epoch 2/2") != std::string::npos);
  std::string lines = onTerminal(r.dir, args + " --checkpoint verbose --verbose", err);
  std::string plain = lines;
  for (size_t at; (at = plain.find("\r\n")) != std::string::npos;) plain.erase(at, 1);
  CHECK(plain.find('\r') == std::string::npos); // no redraws: only the terminal's line ends
  CHECK(lines.find("[=") == std::string::npos);
  CHECK(lines.find("Epoch 2/2\r\n4/4 - ") != std::string::npos);
  CHECK(onTerminal(r.dir, args + " --checkpoint q2 --quiet", err).empty());
}

TEST_CASE("test_tr metrics=accuracy: Keras's epoch line, CSV columns and a second plot panel") {
  Run r(96);
  std::ofstream(r.dir / "digits.nn")
      << "model digits\n"
         "input x: [28, 28, 1]\n"
         "input label: [10]\n"
         "h = flatten(x)\n"
         "y = dense(h, 10, activation=softmax)\n"
         "loss categorical_crossentropy(y, label)\n"
         "train optimizer=adam, lr=0.01, batch=16, metrics=accuracy\n";
  Outcome t = r.nnc("train digits.nn --data data --epochs 3 --backend interp --plot p.png");
  REQUIRE_MESSAGE(t.code == 0, t.err);
  CHECK(t.out.find("6/6 - ") != std::string::npos);
  size_t at = t.out.find(" - loss: ");
  REQUIRE(at != std::string::npos);
  // "- loss: 2.1234 - accuracy: 0.2188 - val_loss: 2.0123 - val_accuracy: 0.3000"
  std::string line = t.out.substr(at, t.out.find('\n', at) - at);
  CHECK(line.size() == std::string(" - loss: 2.1234 - accuracy: 0.2188 - val_loss: 2.0123 - "
                                   "val_accuracy: 0.3000")
                           .size());
  CHECK(line.find(" - accuracy: 0.") == 15);
  CHECK(line.find(" - val_accuracy: ") == 53);
  std::string csv = slurp(r.dir / "runs/digits/history.csv");
  CHECK(csv.rfind("epoch,loss,val_loss,seconds,accuracy,val_accuracy\n1,", 0) == 0);
  Result<std::vector<EpochRecord>> h = parseHistoryCsv(csv, "history.csv");
  REQUIRE_MESSAGE(h.ok(), h.error());
  REQUIRE(h->size() == 3);
  for (const EpochRecord &e : *h) {
    REQUIRE(e.accuracy);
    REQUIRE(e.valAccuracy);
    // 20 validation images: the accuracy is a whole number of twentieths.
    CHECK(std::fabs(*e.valAccuracy * 20 - std::round(*e.valAccuracy * 20)) < 1e-6);
  }
  CHECK(*h->back().accuracy > *h->front().accuracy); // 96 digits are learned quickly
  Result<PngImage> png = readPng((r.dir / "p.png").string());
  REQUIRE_MESSAGE(png.ok(), png.error());
  CHECK(png->width == 800);
  CHECK(png->height == 1000);

  // --metrics on the command line, for a binary output (the autoencoder's pixels).
  Outcome bin = r.nnc("train tiny.nn --data data --epochs 1 --backend interp --metrics accuracy");
  REQUIRE_MESSAGE(bin.code == 0, bin.err);
  CHECK(bin.out.find(" - accuracy: 0.") != std::string::npos);
  CHECK(bin.out.find(" - val_accuracy: 0.") != std::string::npos);
  Outcome none = r.nnc("train tiny.nn --data data --epochs 1 --backend interp --new");
  REQUIRE_MESSAGE(none.code == 0, none.err);
  CHECK(none.out.find("accuracy") == std::string::npos);
  CHECK(slurp(r.dir / "runs/tiny-2/history.csv").rfind("epoch,loss,val_loss,seconds\n", 0) == 0);

  std::ofstream(r.dir / "mse.nn") << "model m\ninput x: [28, 28, 1]\nh = flatten(x)\n"
                                     "h = dense(h, 784)\ny = reshape(h, shape=[28, 28, 1])\n"
                                     "loss mse(y, x)\n";
  Outcome mse = r.nnc("train mse.nn --data data --metrics accuracy --checkpoint m");
  CHECK(mse.code == 1);
  CHECK(mse.err == "nnc: error: metrics=accuracy needs a crossentropy loss "
                   "(categorical_crossentropy or binary_crossentropy), not mse\n");
  CHECK(r.nnc("train tiny.nn --data data --metrics f1 --checkpoint m").err ==
        "nnc: error: --metrics: unknown metric 'f1' (expected: accuracy)\n");
  CHECK(!fs::exists(r.dir / "m"));
}
