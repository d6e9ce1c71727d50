// nnc train: train a model on MNIST-format data with checkpoints, progress and a loss curve.
// Flags override the file's train
// statement; numeric flags are read as text and range-checked (with the flag's name in the
// message) before anything is compiled, loaded or written. SIGINT only sets a flag, which the
// trainer polls after each step.
#include "tools/nnc/Driver.h"
#include "tools/nnc/ModelFlags.h"

#include "frontend/Suggest.h"
#include "passes/Pipeline.h"
#include "passes/Summary.h"
#include "runtime/BackendFactory.h"
#include "runtime/Checkpoint.h"
#include "runtime/Idx.h"
#include "runtime/Init.h"
#include "runtime/JitBackend.h"
#include "runtime/Png.h"
#include "runtime/Safetensors.h"
#include "runtime/Trainer.h"
#include "support/FileUtil.h"

#include <fmt/format.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace cl = llvm::cl;
using namespace nnc;
using namespace nnc::driver;

namespace {

cl::SubCommand TrainCmd("train", "Train a model on MNIST-format data (checkpoints, progress, "
                                 "loss curve)");

cl::opt<std::string> TrainFile(cl::Positional, cl::desc("<file.nn>"), cl::Required,
                               cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<std::string> Epochs("epochs",
                            cl::desc("Total epochs to train, 1 to 1000000 (default: the train "
                                     "statement)"),
                            cl::value_desc("integer"), cl::sub(TrainCmd),
                            cl::cat(driver::category()));
cl::opt<std::string> TrainBatch("batch",
                                cl::desc("Examples per step, 1 to 1000000 (default: the train "
                                         "statement)"),
                                cl::value_desc("integer"), cl::sub(TrainCmd),
                                cl::cat(driver::category()));
cl::opt<std::string> TrainOptimizer("optimizer",
                                    cl::desc("sgd, adam, adadelta or rmsprop (default: the train "
                                             "statement)"),
                                    cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<std::string> Lr("lr",
                        cl::desc("Learning rate, positive and finite (default: the train "
                                 "statement, else the optimizer's Keras default)"),
                        cl::value_desc("number"), cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<std::string> Metrics("metrics",
                             cl::desc("Metrics shown each epoch: accuracy (default: the train "
                                      "statement's metrics=)"),
                             cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<std::string> Seed("seed",
                          cl::desc("Seed of weight initialisation and shuffling, 0 or more "
                                   "(default: the train statement)"),
                          cl::value_desc("integer"), cl::sub(TrainCmd),
                          cl::cat(driver::category()));
cl::opt<std::string> Threads("threads", cl::desc("Worker threads, 1 to 1024 (default: all cores)"),
                             cl::value_desc("integer"), cl::sub(TrainCmd),
                             cl::cat(driver::category()));
cl::opt<std::string> Data("data",
                          cl::desc("Dataset: mnist (full MNIST, found or downloaded once; "
                                   "offline the bundled subset), mnist-10k (the bundled "
                                   "subset), fashion-mnist, or a directory of IDX files or of "
                                   "PNG class folders 0..9"),
                          cl::init("mnist"), cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<std::string> ValidationSplit("validation-split",
                                     cl::desc("Hold out this fraction (at least 0, below 1) of "
                                              "the training split for validation (default, or "
                                              "0: validate on the test split)"),
                                     cl::value_desc("fraction"), cl::sub(TrainCmd),
                                     cl::cat(driver::category()));
cl::opt<std::string> CheckpointDir("checkpoint",
                                   cl::desc("Checkpoint directory (default: runs/MODEL)"),
                                   cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<bool> Resume("resume",
                     cl::desc("Continue the run in the checkpoint directory from its latest "
                              "checkpoint, with the configuration stored in it"),
                     cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<bool> NewRun("new",
                     cl::desc("When the checkpoint directory holds an earlier run, train into "
                              "DIR-2 (or the next free DIR-N) instead of refusing"),
                     cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<std::string> BackendName("backend",
                                 cl::desc("Execution backend (default: the first of "
                                          "the known ones)"),
                                 cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<bool> NoFuse("no-fuse",
                     cl::desc("JIT backend: compile every op as its own kernel (no fusion)"),
                     cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<std::string> Plot("plot", cl::desc("Write the loss curve as a PNG"), cl::sub(TrainCmd),
                          cl::cat(driver::category()));
cl::opt<std::string> Csv("csv",
                         cl::desc("Write the loss curve as CSV (default: "
                                  "CHECKPOINT_DIR/history.csv)"),
                         cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<bool> Quiet("quiet", cl::desc("Print nothing but warnings and errors (Keras verbose=0)"),
                    cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<bool> Verbose("verbose",
                      cl::desc("One line per epoch, no progress bar, even on a terminal (Keras "
                               "verbose=2)"),
                      cl::sub(TrainCmd), cl::cat(driver::category()));
cl::opt<bool> CheckNumerics("check-numerics",
                            cl::desc("Check every op's result for NaN/infinity; name the first "
                                     "bad op and its line"),
                            cl::sub(TrainCmd), cl::cat(driver::category()));

cl::opt<bool> TimePasses("time-passes",
                         cl::desc("Print the compile time of every stage, from parsing to "
                                  "function pointers"),
                         cl::sub(TrainCmd), cl::cat(driver::category()));

std::atomic<bool> gStop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void onInterrupt(int) {
  gStop.store(true);
}

/// A stream that discards what is written to it (the log of --quiet).
std::ostream &silent() {
  static std::ostream none(nullptr);
  return none;
}

/// The optimizers `--optimizer` names (the train statement's `optimizer=` choices).
const std::vector<std::string> kOptimizers = {"sgd", "adam", "adadelta", "rmsprop"};

/// Largest learning rate a flag may give (the train statement's limit too).
constexpr double kMaxLr = 1e6;

/// The numeric flags of train, read and range-checked before any work.
struct Flags {
  std::optional<double> lr, validationSplit; // validationSplit: nullopt or above 0
  std::optional<int64_t> epochs, batch, seed;
  int threads = 0; // 0: one per core
};

/// Reads number flag `flag` into `out` if it was given; `inRange` says which values are valid,
/// `what` names them.
Status readNumber(const cl::opt<std::string> &flag, bool (*inRange)(double), const char *what,
                  std::optional<double> &out) {
  if (!flag.getNumOccurrences()) return okStatus();
  std::optional<double> v = toNumber(flag);
  if (!v || !inRange(*v)) return badFlag(flag, what);
  out = v;
  return okStatus();
}

/// The files train would write, checked to be writable (nothing is created).
Status checkOutputPaths() {
  Status checks[] = {checkPathFlag(Plot, checkWritableFile), checkPathFlag(Csv, checkWritableFile),
                     checkPathFlag(CheckpointDir, checkCreatableDirectory)};
  for (Status &s : checks)
    if (!s) return s;
  return okStatus();
}

/// Every numeric flag of train, and --optimizer, checked; the first bad one is the
/// error.
Result<Flags> readFlags() {
  Flags f;
  std::optional<int64_t> threads;
  Status checks[] = {
      readNumber(
          Lr, [](double v) { return v > 0 && v <= kMaxLr; }, "a positive number of at most 1e6",
          f.lr),
      readInteger(Epochs, 1, 1000000, f.epochs),
      readInteger(TrainBatch, 1, 1000000, f.batch),
      readInteger(Seed, 0, INT64_MAX, f.seed),
      readNumber(
          ValidationSplit, [](double v) { return v >= 0 && v < 1; },
          "a fraction of at least 0 and below 1", f.validationSplit),
      readInteger(Threads, 1, 1024, threads),
  };
  for (Status &s : checks)
    if (!s) return Error{s.error()};
  if (TrainOptimizer.getNumOccurrences() &&
      std::find(kOptimizers.begin(), kOptimizers.end(), TrainOptimizer) == kOptimizers.end()) {
    std::string choices;
    for (const std::string &o : kOptimizers) choices += (choices.empty() ? "" : ", ") + o;
    return Error{fmt::format("--optimizer: unknown optimizer '{}'{} (expected one of: {})",
                             TrainOptimizer.getValue(), didYouMean(TrainOptimizer, kOptimizers),
                             choices)};
  }
  if (Metrics.getNumOccurrences() && Metrics != "accuracy")
    return Error{fmt::format("--metrics: unknown metric '{}'{} (expected: accuracy)",
                             Metrics.getValue(), didYouMean(Metrics, {"accuracy"}))};
  if (Status s = checkOutputPaths(); !s) return Error{s.error()};
  if (f.validationSplit == 0.0) f.validationSplit.reset(); // 0: validate on the test split
  if (threads) f.threads = int(*threads);
  return f;
}

/// The error for a model with nothing to train, or okStatus.
Status checkTrainable(const Graph &g, const std::string &file) {
  bool trainable =
      std::any_of(g.params.begin(), g.params.end(), [&](ValueId p) { return g[p].trainable; });
  if (trainable) return okStatus();
  return Error{file + ": the model has no trainable parameters: nothing to train"};
}

std::string backendName() {
  return BackendName.empty() ? backendNames().front() : BackendName;
}

int threadCount(const Flags &f) {
  if (f.threads > 0) return f.threads;
  return std::max(1, int(std::thread::hardware_concurrency()));
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// `text` as one shell word (quoted when it holds anything but [A-Za-z0-9_./=+-]).
std::string shellWord(const std::string &text) {
  bool plain = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(uint8_t(c)) || std::strchr("_./=+-", c);
  });
  if (plain) return text;
  std::string q = "'";
  for (char c : text) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// The command that continues the run in `dir`: its configuration is in the checkpoint.
std::string resumeCommand(const std::string &dir) {
  std::string cmd =
      "nnc train " + shellWord(TrainFile) + " --resume --checkpoint " + shellWord(dir);
  if (!Csv.empty()) cmd += " --csv " + shellWord(Csv);
  if (!Plot.empty()) cmd += " --plot " + shellWord(Plot);
  return cmd;
}

/// The first of DIR-2, DIR-3, ... that holds no checkpoints.
std::string nextFreeRunDirectory(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  for (int n = 2;; ++n)
    if (std::string d = dir + "-" + std::to_string(n); !holdsCheckpoints(d)) return d;
}

/// The refusal of a new run in `dir`, which holds an earlier run's checkpoints.
std::string usedDirectoryError(const std::string &dir) {
  std::string what;
  if (Result<Checkpoint> c = loadLatestCheckpoint(dir))
    what = fmt::format(" (latest: {}, epoch {} of {})", c->path, c->info.epoch, c->info.epochs);
  return fmt::format("'{}' holds the checkpoints of an earlier run{}; nothing was changed.\n"
                     "  continue it with: {}\n  or start a new run in '{}' with: --new",
                     dir, what, resumeCommand(dir), nextFreeRunDirectory(dir));
}

/// "--FLAG: the run in DIR trains with WHAT (stored in its checkpoint); ...".
Error storedConflict(const std::string &flag, const std::string &dir, const std::string &what) {
  return Error{fmt::format("--{}: the run in '{}' {} (stored in its checkpoint); drop --{} to "
                           "continue it exactly, or start a new run with --new",
                           flag, dir, what, flag)};
}

/// Takes the run's configuration from the checkpoint it resumes: --epochs and --lr may change
/// it (and are stored from then on); any other flag must repeat the stored value.
Status useStoredConfig(const CheckpointInfo &info, const Flags &f, const std::string &dir, Graph &g,
                       TrainOptions &o) {
  if (Data.getNumOccurrences() && Data != info.data)
    return storedConflict("data", dir, "trains on '" + info.data + "'");
  if (f.batch && *f.batch != info.batch)
    return storedConflict("batch", dir, fmt::format("trains with batch {}", info.batch));
  if (TrainOptimizer.getNumOccurrences() && TrainOptimizer != info.optimizer)
    return storedConflict("optimizer", dir, "trains with " + info.optimizer);
  if (f.seed && uint64_t(*f.seed) != info.seed)
    return storedConflict("seed", dir, fmt::format("trains with seed {}", info.seed));
  if (Metrics.getNumOccurrences() && std::vector<std::string>{Metrics} != info.metrics)
    return storedConflict("metrics", dir,
                          info.metrics.empty() ? std::string("shows no metrics")
                                               : "shows " + info.metrics.front());
  if (ValidationSplit.getNumOccurrences() && f.validationSplit != info.validationSplit)
    return storedConflict("validation-split", dir,
                          info.validationSplit
                              ? fmt::format("holds out {} of the training split for validation",
                                            *info.validationSplit)
                              : std::string("validates on the test split"));
  g.train.optimizer = info.optimizer;
  g.train.lr = f.lr ? f.lr : info.lr;
  g.train.batch = info.batch;
  g.train.seed = info.seed;
  g.train.shuffle = info.shuffle;
  g.train.metrics = info.metrics;
  g.train.epochs = f.epochs ? *f.epochs : info.epochs;
  o.data = info.data;
  o.validationSplit = info.validationSplit;
  return okStatus();
}

/// The flags' settings over the train statement's.
void useFlags(const Flags &f, Graph &g, TrainOptions &o) {
  if (TrainOptimizer.getNumOccurrences()) {
    if (TrainOptimizer != g.train.optimizer) g.train.lr.reset();
    g.train.optimizer = TrainOptimizer;
  }
  if (f.lr) g.train.lr = *f.lr;
  if (f.epochs) g.train.epochs = *f.epochs;
  if (f.batch) g.train.batch = *f.batch;
  if (f.seed) g.train.seed = uint64_t(*f.seed);
  if (Metrics.getNumOccurrences()) g.train.metrics = {Metrics};
  o.data = Data;
  o.validationSplit = f.validationSplit;
}

/// The run directory, locked for this process: an earlier run's checkpoints are never touched
/// by a new run (refused, or --new picks DIR-N), and --resume reads the latest checkpoint
/// (into `resumed`) and takes its configuration.
Result<DirectoryLock> openRunDirectory(const Flags &f, Graph &g, TrainOptions &o,
                                       std::optional<Checkpoint> &resumed, std::ostream &log) {
  std::string dir = o.checkpointDir;
  if (Resume) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Error{"--resume: there is no run to continue in '" + dir + "' (no such directory)"};
  } else if (NewRun && holdsCheckpoints(dir)) {
    o.checkpointDir = nextFreeRunDirectory(dir);
    log << "'" << dir << "' holds an earlier run; this one trains in '" << o.checkpointDir << "'\n";
    dir = o.checkpointDir;
  }
  if (Status s = createDirectories(dir); !s) return Error{s.error()};
  Result<DirectoryLock> lock = DirectoryLock::acquire(dir);
  if (!lock)
    return Error{lock.error() + ", which trains there; wait for it to finish, or train "
                                "elsewhere (--new or --checkpoint)"};
  if (!Resume && holdsCheckpoints(dir)) return Error{usedDirectoryError(dir)};
  if (Resume) {
    Result<Checkpoint> c = loadLatestCheckpoint(dir);
    if (!c) return Error{c.error()};
    if (Status s = checkSameModel(*c, o.modelName, o.modelHash, o.modelFile); !s)
      return Error{s.error()};
    if (Status s = useStoredConfig(c->info, f, dir, g, o); !s) return Error{s.error()};
    resumed = c.take();
  } else {
    useFlags(f, g, o);
  }
  if (Status s = lock->claim(); !s) return Error{s.error()};
  return lock;
}

/// The --plot picture of `history`: the loss curves, and the accuracy curves below them.
Status writePlot(const std::vector<EpochRecord> &history) {
  std::vector<double> train, val, acc, valAcc;
  for (const EpochRecord &e : history) {
    train.push_back(e.loss);
    if (e.valLoss) val.push_back(*e.valLoss);
    if (e.accuracy) acc.push_back(*e.accuracy);
    if (e.valAccuracy) valAcc.push_back(*e.valAccuracy);
  }
  auto complete = [&](std::vector<double> &v) {
    if (v.size() != train.size()) v.clear();
  };
  complete(val);
  complete(acc);
  complete(valAcc);
  return writeTrainingPlot(Plot, train, val, acc, valAcc);
}

/// Where a training process's wall time went (--time-passes), from main to the last checkpoint.
std::string runTimeReport(double compileSeconds, double loadSeconds, const TrainOutcome &r,
                          double wholeSeconds) {
  double other = wholeSeconds - compileSeconds - loadSeconds - r.stepSeconds - r.validationSeconds -
                 r.checkpointSeconds;
  std::string out = "run time:\n";
  for (auto [name, seconds] : {std::pair{"compile", compileSeconds},
                               {"load data", loadSeconds},
                               {"training steps", r.stepSeconds},
                               {"validation", r.validationSeconds},
                               {"checkpoints", r.checkpointSeconds},
                               {"other", other}})
    out += fmt::format("  {:<22} {:8.3f} s\n", name, seconds);
  return out + fmt::format("  {:<22} {:8.3f} s\n", "whole process", wholeSeconds);
}

int runTrain() {
  auto processStart = std::chrono::steady_clock::now();
  Result<Flags> flags = readFlags();
  if (!flags) return fail(flags.error());
  if (Resume && NewRun) return fail("--new starts a new run; it cannot be combined with --resume");
  std::string source;
  auto t0 = std::chrono::steady_clock::now();
  std::optional<Graph> g = loadModel(TrainFile, source);
  if (!g) return 1;
  if (Status s = checkTrainable(*g, TrainFile); !s) return fail(s.error());
  double frontSeconds = secondsSince(t0);

  TrainOptions o;
  o.modelName = g->name;
  o.modelHash = graphHash(*g);
  o.modelFile = TrainFile;
  o.checkpointDir = CheckpointDir.empty() ? "runs/" + g->name : std::string(CheckpointDir);
  bool metrics = Metrics.getNumOccurrences() || !g->train.metrics.empty();
  if (Result<Accuracy> acc = Accuracy::of(*g); metrics && !Resume && !acc)
    return fail(acc.error()); // before the run directory is made
  if (Status s = checkCreatableDirectory(o.checkpointDir); !s)
    return fail(
        fmt::format("checkpoint directory (--checkpoint to choose another): {}", s.error()));
  // As Keras: progress and results on standard output (nothing with --quiet), warnings and
  // errors on standard error.
  std::ostream &log = Quiet ? silent() : std::cout;
  std::optional<Checkpoint> resumed;
  Result<DirectoryLock> lock = openRunDirectory(*flags, *g, o, resumed, log);
  if (!lock) return fail(lock.error());
  if (!g->train.metrics.empty()) {
    Result<Accuracy> acc = Accuracy::of(*g);
    if (!acc) return fail(acc.error());
    o.accuracy = *acc;
    // The prediction is read back from the backend like any declared output.
    ValueId pred = g->find(acc->pred);
    if (std::find(g->outputs.begin(), g->outputs.end(), pred) == g->outputs.end())
      g->outputs.push_back(pred);
  }
  o.optimizer = g->train.optimizer;
  o.lr = g->train.lr;
  o.epochs = g->train.epochs;
  o.batch = g->train.batch;
  o.shuffle = g->train.shuffle;
  o.seed = g->train.seed;
  o.resume = Resume;
  o.resumeFrom = resumed ? &*resumed : nullptr;
  o.csvPath = Csv.empty() ? o.checkpointDir + "/history.csv" : std::string(Csv);
  o.stop = &gStop;
  o.log = Quiet ? nullptr : &log;
  o.warnings = &std::cerr;
  o.interactive = !Verbose && ::isatty(STDOUT_FILENO) != 0;

  t0 = std::chrono::steady_clock::now();
  if (Status s = toTrainingGraph(*g, TrainFile, source); !s) return fail(s.error());
  double autodiffSeconds = secondsSince(t0);
  t0 = std::chrono::steady_clock::now();
  Result<DataSplit> data = loadDataset(o.data);
  if (!data) return fail(data.error());
  double loadSeconds = secondsSince(t0);
  t0 = std::chrono::steady_clock::now();
  Result<std::unique_ptr<Backend>> backend =
      makeBackend(backendName(), *g, threadCount(*flags), !NoFuse);
  if (!backend) return fail(backend.error());
  double compileSeconds = frontSeconds + autodiffSeconds + secondsSince(t0);
  Backend &b = **backend;
  if (TimePasses) {
    log << fmt::format("front end (parse, lower, analyses): {:8.2f} ms\n", frontSeconds * 1e3)
        << fmt::format("decompose + autodiff:               {:8.2f} ms\n", autodiffSeconds * 1e3);
    if (auto *jit = dynamic_cast<JitBackend *>(&b)) log << jit->timeReport();
  }
  b.setCheckNumerics(CheckNumerics);
  if (!o.resume)
    if (Status s = b.setTensors(initialTensors(*g, o.seed)); !s) return fail(s.error());

  int64_t trainCount = data->train.count, valCount = data->test.count;
  if (o.validationSplit) {
    int64_t split = int64_t(double(trainCount) * (1 - *o.validationSplit));
    valCount = trainCount - split;
    trainCount = split;
  }
  std::string lr;
  if (g->train.lr) {
    char buf[48];
    std::snprintf(buf, sizeof buf, " lr %g", *g->train.lr);
    lr = buf;
  }
  log << "Training " << g->name << " (" << withCommas(g->paramCount()) << " params) on "
      << data->description << "\n  " << trainCount << " train / " << valCount
      << (o.validationSplit ? " validation (held out of train)" : " validation (test split)")
      << ", batch " << o.batch << ", " << o.optimizer << lr << ", backend " << backendName()
      << ", seed " << o.seed << "\n";
  log.flush();

  struct sigaction sa = {};
  sa.sa_handler = onInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND; // a second Ctrl-C ends the process at once
  sigaction(SIGINT, &sa, nullptr);

  Result<TrainOutcome> r = trainModel(*g, b, *data, o);
  log.flush();
  if (!r) return fail(r.error());
  if (!Plot.empty() && !r->history.empty())
    if (Status s = writePlot(r->history); !s) return fail(s.error());
  if (r->interrupted) {
    std::cerr << "Interrupted: saved " << r->lastCheckpoint
              << "; continue with: " << resumeCommand(o.checkpointDir) << "\n";
    return 130;
  }
  if (r->history.size() > size_t(r->resumedEpoch) && !r->lastCheckpoint.empty())
    log << "Saved " << r->lastCheckpoint << "\n";
  if (TimePasses) log << runTimeReport(compileSeconds, loadSeconds, *r, secondsSince(processStart));
  return 0;
}

const bool registeredTrain = driver::registerCommand(TrainCmd, runTrain);

} // namespace
