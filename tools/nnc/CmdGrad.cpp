// nnc init | eval | gradcheck: initial weights with a seed; the loss (and optionally the
// gradients and outputs) of a model on given weights and inputs; a finite-difference check of
// every gradient in double precision.
#include "tools/nnc/Driver.h"

#include "passes/Pipeline.h"
#include "runtime/BackendFactory.h"
#include "runtime/Checkpoint.h"
#include "runtime/GradCheck.h"
#include "runtime/Init.h"
#include "runtime/Safetensors.h"

#include <fmt/format.h>
#include <llvm/Support/raw_ostream.h>

#include <thread>

namespace cl = llvm::cl;
using namespace nnc;

namespace {

cl::SubCommand InitCmd("init", "Write Keras-default initial weights (glorot_uniform kernels, "
                               "zero biases) as safetensors");
cl::SubCommand EvalCmd("eval", "Print the loss of a model on given weights and inputs; "
                               "optionally write its gradients and outputs");
cl::SubCommand GradCheckCmd("gradcheck", "Compare every gradient with central finite "
                                         "differences in double precision");

cl::opt<std::string> InitFile(cl::Positional, cl::desc("<file.nn>"), cl::Required, cl::sub(InitCmd),
                              cl::cat(driver::category()));
cl::opt<std::string> EvalFile(cl::Positional, cl::desc("<file.nn>"), cl::Required, cl::sub(EvalCmd),
                              cl::cat(driver::category()));
cl::opt<std::string> CheckFile(cl::Positional, cl::desc("<file.nn>"), cl::Required,
                               cl::sub(GradCheckCmd), cl::cat(driver::category()));
cl::opt<int64_t> Seed("seed", cl::desc("Random seed (default: the train statement's seed)"),
                      cl::init(-1), cl::sub(InitCmd), cl::sub(GradCheckCmd),
                      cl::cat(driver::category()));
cl::opt<std::string> InitOut("out", cl::desc("Output safetensors file"), cl::Required,
                             cl::sub(InitCmd), cl::cat(driver::category()));
cl::opt<std::string> Weights("weights", cl::desc("Weights (safetensors, named like the params)"),
                             cl::Required, cl::sub(EvalCmd), cl::cat(driver::category()));
cl::opt<std::string> Inputs("inputs",
                            cl::desc("Inputs (safetensors, named like the model's inputs, "
                                     "leading dimension = batch)"),
                            cl::Required, cl::sub(EvalCmd), cl::cat(driver::category()));
cl::opt<std::string> GradsOut("grads",
                              cl::desc("Write the loss gradients to this safetensors file"),
                              cl::sub(EvalCmd), cl::cat(driver::category()));
cl::opt<std::string> OutputsOut("outputs",
                                cl::desc("Write the model outputs to this safetensors file"),
                                cl::sub(EvalCmd), cl::cat(driver::category()));
cl::opt<std::string> BackendName("backend",
                                 cl::desc("Execution backend: jit or interp "
                                          "(default: the first known one)"),
                                 cl::sub(EvalCmd), cl::cat(driver::category()));
cl::opt<bool> NoFuse("no-fuse",
                     cl::desc("JIT backend: compile every op as its own kernel (no fusion)"),
                     cl::sub(EvalCmd), cl::cat(driver::category()));
cl::opt<int64_t> Batch("batch", cl::desc("Batch size of the random inputs"), cl::init(2),
                       cl::sub(GradCheckCmd), cl::cat(driver::category()));
cl::opt<int64_t> Coords("coords", cl::desc("Coordinates compared per tensor, sampled (0: all)"),
                        cl::init(32), cl::sub(GradCheckCmd), cl::cat(driver::category()));

int fail(const std::string &msg) {
  llvm::errs() << "nnc: error: " << msg << "\n";
  return 1;
}

/// Reads and compiles FILE, printing diagnostics; returns the analysed graph.
std::optional<Graph> load(const std::string &file) {
  std::string source;
  if (!driver::readFile(file, source, "model files")) return std::nullopt;
  DiagEngine diags(file, source);
  std::optional<Graph> g = compileSource(source, file, diags);
  if (!diags.diagnostics().empty()) llvm::errs() << diags.render();
  return g;
}

uint64_t seedFor(const Graph &g) {
  return Seed >= 0 ? uint64_t(Seed.getValue()) : g.train.seed;
}

int runInit() {
  std::optional<Graph> g = load(InitFile);
  if (!g) return 1;
  TensorMap t = initialTensors(*g, seedFor(*g));
  std::string seed = std::to_string(seedFor(*g));
  if (Status s = writeSafetensors(InitOut, t, {{"model", g->name}, {"seed", seed}}); !s)
    return fail(s.error());
  llvm::outs() << "Wrote " << InitOut << ": " << t.size() << " tensors, " << g->paramCount()
               << " parameters (seed " << seed << ")\n";
  return 0;
}

int runEval() {
  std::optional<Graph> g = load(EvalFile);
  if (!g) return 1;
  bool training = g->loss != kNoValue;
  if (!training && !GradsOut.empty())
    return fail("model '" + g->name + "' has no loss statement, so it has no gradients");
  Result<Safetensors> w = readSafetensors(Weights);
  if (!w) return fail(w.error());
  if (Status s = checkFinite(w->tensors, Weights); !s) return fail(s.error());
  bool checkpoint = isCheckpointMetadata(w->metadata);
  if (checkpoint) {
    Result<CheckpointInfo> info = parseCheckpointMetadata(w->metadata, Weights);
    if (!info) return fail(info.error());
    g->train.optimizer = info->optimizer;
  }
  if (training) {
    PassContext ctx;
    if (Status s = runPasses(*g, ctx, trainingPasses()); !s) return fail(s.error());
  }
  if (checkpoint) {
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const auto &[name, t] : w->tensors) shapes[name] = t.shape;
    if (Status s = checkShapes(shapes, checkpointShapes(*g), Weights); !s) return fail(s.error());
  }
  Result<Safetensors> x = readSafetensors(Inputs);
  if (!x) return fail(x.error());
  if (g->inputs.empty()) return fail("model '" + g->name + "' has no inputs");
  const std::string &first = (*g)[g->inputs[0]].name;
  auto it = x->tensors.find(first);
  if (it == x->tensors.end() || it->second.shape.empty())
    return fail(fmt::format("{}: no batched tensor '{}' for the model's first input",
                            Inputs.getValue(), first));
  int64_t n = it->second.shape[0];

  std::string name = BackendName.empty() ? backendNames().front() : BackendName.getValue();
  int threads = std::max(1, int(std::thread::hardware_concurrency()));
  Result<std::unique_ptr<Backend>> backend = makeBackend(name, *g, threads, !NoFuse);
  if (!backend) return fail(backend.error());
  Backend &b = **backend;
  if (Status s = b.setTensors(w->tensors); !s) return fail(Weights + ": " + s.error());

  TensorMap outputs, grads;
  Result<double> loss =
      GradsOut.empty() ? b.evaluate(x->tensors, n, &outputs) : b.gradients(x->tensors, n, grads);
  if (!loss) return fail(loss.error());
  if (!OutputsOut.empty() && !GradsOut.empty()) {
    Result<double> again = b.evaluate(x->tensors, n, &outputs);
    if (!again) return fail(again.error());
  }
  if (!GradsOut.empty())
    if (Status s = writeSafetensors(GradsOut, grads, {{"model", g->name}}); !s)
      return fail(s.error());
  if (!OutputsOut.empty())
    if (Status s = writeSafetensors(OutputsOut, outputs, {{"model", g->name}}); !s)
      return fail(s.error());
  if (training)
    llvm::outs() << fmt::format("loss {:.17g}\n", *loss);
  else
    llvm::outs() << fmt::format("evaluated {} example{}\n", n, n == 1 ? "" : "s");
  return 0;
}

int runGradCheck() {
  std::optional<Graph> g = load(CheckFile);
  if (!g) return 1;
  if (g->loss == kNoValue)
    return fail("model '" + g->name + "' has no loss statement: nothing to differentiate");
  GradCheckOptions opt;
  opt.batch = Batch;
  opt.seed = seedFor(*g);
  opt.maxCoords = Coords;
  Result<GradCheckReport> r = gradCheck(*g, opt);
  if (!r) return fail(r.error());
  llvm::outs() << fmt::format("gradcheck {}: batch {}, seed {}, eps {:g}, pass when |a - n| <= "
                              "{:g} + {:g} |n|\n",
                              g->name, opt.batch, opt.seed, opt.eps, opt.absTol, opt.relTol);
  llvm::outs() << r->table();
  size_t bad = 0;
  for (const GradCheckRow &row : r->rows) bad += row.ok ? 0 : 1;
  if (bad) {
    llvm::outs() << fmt::format("FAILED: {} of {} tensors above tolerance\n", bad, r->rows.size());
    return 1;
  }
  llvm::outs() << fmt::format("ok: {} tensors within tolerance\n", r->rows.size());
  return 0;
}

const bool registeredInit = driver::registerCommand(InitCmd, runInit);
const bool registeredEval = driver::registerCommand(EvalCmd, runEval);
const bool registeredGradCheck = driver::registerCommand(GradCheckCmd, runGradCheck);

} // namespace
