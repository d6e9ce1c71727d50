// nnc check | summary | dump | dot: compile a .nn file and show what the compiler knows.
#include "tools/nnc/Driver.h"

#include "frontend/Parser.h"
#include "ir/Lower.h"
#include "ir/Verifier.h"
#include "passes/Pipeline.h"
#include "passes/Summary.h"
#include "runtime/Graphviz.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/raw_ostream.h>

namespace cl = llvm::cl;
using namespace nnc;

namespace {

cl::SubCommand CheckCmd("check", "Check a .nn file: print its diagnostics, or 'ok'");
cl::SubCommand SummaryCmd("summary", "Print the Keras-style model summary (shapes, params, MACs, "
                                     "receptive fields, memory)");
cl::SubCommand DumpCmd("dump", "Print a compiler stage: tokens, ast, ir, grad, fused, memory, "
                               "llvm, llvm-opt, asm");
cl::SubCommand DotCmd("dot", "Print the model as a Graphviz graph with shapes on the edges (DOT "
                             "text, or laid out as SVG or PNG)");

cl::opt<std::string> CheckFile(cl::Positional, cl::desc("<file.nn>"), cl::Required,
                               cl::sub(CheckCmd), cl::cat(driver::category()));
cl::opt<std::string> SummaryFile(cl::Positional, cl::desc("<file.nn>"), cl::Required,
                                 cl::sub(SummaryCmd), cl::cat(driver::category()));
cl::opt<std::string> DumpFile(cl::Positional, cl::desc("<file.nn>"), cl::Required, cl::sub(DumpCmd),
                              cl::cat(driver::category()));
cl::opt<std::string> DotFile(cl::Positional, cl::desc("<file.nn>"), cl::Required, cl::sub(DotCmd),
                             cl::cat(driver::category()));
cl::opt<int64_t> Batch("batch", cl::desc("Print shapes for this batch size instead of N/None"),
                       cl::init(-1), cl::sub(SummaryCmd), cl::sub(DumpCmd), cl::sub(DotCmd),
                       cl::cat(driver::category()));
cl::opt<std::string> DotFormat("format",
                               cl::desc("dot (the DOT text), svg or png (laid out in-process by "
                                        "Graphviz's libgvc)"),
                               cl::init("dot"), cl::sub(DotCmd), cl::cat(driver::category()));
cl::opt<bool> Explain("explain",
                      cl::desc("Print under each layer the arithmetic of its shape, parameters, "
                               "MACs and receptive field"),
                      cl::sub(SummaryCmd), cl::cat(driver::category()));
cl::opt<std::string> Emit("emit",
                          cl::desc("Stage to print: tokens, ast, ir, grad, fused, memory, llvm, "
                                   "llvm-opt, asm"),
                          cl::init("ir"), cl::sub(DumpCmd), cl::cat(driver::category()));
cl::opt<bool> PrintAfterAll("print-after-all", cl::desc("Print the IR after every pass"),
                            cl::sub(DumpCmd), cl::cat(driver::category()));
cl::list<std::string> PrintAfter("print-after", cl::desc("Print the IR after the named pass"),
                                 cl::CommaSeparated, cl::sub(DumpCmd), cl::cat(driver::category()));
cl::list<std::string> PassList("passes",
                               cl::desc("Run only these passes after lowering (comma-separated)"),
                               cl::CommaSeparated, cl::sub(DumpCmd), cl::cat(driver::category()));
cl::opt<std::string> Optimizer("optimizer",
                               cl::desc("Optimizer for --emit=grad and later stages (overrides the "
                                        "file's train statement)"),
                               cl::sub(DumpCmd), cl::cat(driver::category()));
cl::opt<bool> NoFuse("no-fuse", cl::desc("Do not fuse ops into kernels"), cl::sub(DumpCmd),
                     cl::cat(driver::category()));

/// Reads and parses FILE; prints diagnostics; returns the analysed graph.
std::optional<Graph> load(const std::string &file, DiagEngine &diags, std::string &source) {
  if (!driver::readFile(file, source, "model files")) return std::nullopt;
  diags = DiagEngine(file, source);
  std::optional<Graph> g = compileSource(source, file, diags);
  if (!diags.diagnostics().empty()) llvm::errs() << diags.render();
  return g;
}

int runCheck() {
  DiagEngine diags;
  std::string src;
  std::optional<Graph> g = load(CheckFile, diags, src);
  if (!g) {
    if (diags.hasErrors())
      llvm::errs() << diags.errorCount() << " error" << (diags.errorCount() == 1 ? "" : "s")
                   << " generated.\n";
    return 1;
  }
  llvm::outs() << CheckFile << ": ok (" << g->paramCount() << " parameters)\n";
  return 0;
}

int runSummary() {
  DiagEngine diags;
  std::string src;
  std::optional<Graph> g = load(SummaryFile, diags, src);
  if (!g) return 1;
  llvm::outs() << printSummary(*g, Batch, Explain);
  return 0;
}

int runDot() {
  if (DotFormat != "dot" && DotFormat != "svg" && DotFormat != "png") {
    llvm::errs() << "nnc: error: --format: expected dot, svg or png, found '" << DotFormat << "'\n";
    return 2;
  }
  DiagEngine diags;
  std::string src;
  std::optional<Graph> g = load(DotFile, diags, src);
  if (!g) return 1;
  if (DotFormat == "dot") {
    llvm::outs() << printDot(*g, Batch);
    return 0;
  }
  Result<std::string> rendered = renderDot(printDot(*g, Batch), DotFormat);
  if (!rendered) {
    llvm::errs() << "nnc: error: " << rendered.error() << "\n";
    return 1;
  }
  llvm::outs() << *rendered;
  return 0;
}

bool printAfter(const std::string &pass) {
  if (PrintAfterAll) return true;
  for (const std::string &p : PrintAfter)
    if (p == pass) return true;
  return false;
}

int runDump() {
  std::string src;
  if (!driver::readFile(DumpFile, src, "model files")) return 1;
  DiagEngine diags(DumpFile, src);
  const std::string stage = Emit;
  for (const std::string &p : PrintAfter)
    if (!findPass(p)) {
      llvm::errs() << "nnc: error: unknown pass '" << p << "' in --print-after\n";
      return 2;
    }
  if (stage == "tokens" || stage == "ast") {
    if (stage == "tokens") {
      llvm::outs() << printTokens(lex(src, diags));
    } else {
      Module m = parse(src, DumpFile, diags); // lexes as it goes: lexing first would count twice
      if (!diags.hasErrors()) llvm::outs() << printAST(m);
    }
    if (!diags.diagnostics().empty()) llvm::errs() << diags.render();
    return diags.hasErrors() ? 1 : 0;
  }
  static const std::vector<std::string> stages = {"ir",   "grad",     "fused", "memory",
                                                  "llvm", "llvm-opt", "asm"};
  if (std::find(stages.begin(), stages.end(), stage) == stages.end()) {
    llvm::errs() << "nnc: error: unknown stage '" << stage
                 << "' for --emit (expected tokens, ast, ir, grad, fused, memory, llvm, llvm-opt, "
                    "asm)\n";
    return 2;
  }
  Module m = parse(src, DumpFile, diags);
  std::optional<Graph> g;
  if (!diags.hasErrors()) g = lowerModule(m, diags);
  if (!g) {
    llvm::errs() << diags.render();
    return 1;
  }
  auto after = [&](const std::string &pass, const Graph &gr) {
    if (printAfter(pass))
      llvm::outs() << "# *** IR after " << pass << " ***\n" << printGraph(gr, Batch) << "\n";
  };
  if (PrintAfterAll)
    llvm::outs() << "# *** IR after lowering ***\n" << printGraph(*g, Batch) << "\n";
  PassContext ctx;
  ctx.diags = &diags;
  ctx.fuse = !NoFuse;
  std::vector<std::string> passes(PassList.begin(), PassList.end());
  if (passes.empty()) passes = analysisPasses();
  if (stage != "ir") {
    if (g->loss == kNoValue) {
      llvm::errs() << DumpFile << ": error: --emit=" << stage
                   << " needs a training objective: add a 'loss' statement\n";
      return 1;
    }
    if (!Optimizer.empty()) g->train.optimizer = Optimizer;
    for (const std::string &p : trainingPasses()) passes.push_back(p);
  }
  Status s = runPasses(*g, ctx, passes, after);
  if (!s) {
    if (!diags.diagnostics().empty())
      llvm::errs() << diags.render();
    else
      llvm::errs() << DumpFile << ": error: " << s.error() << "\n";
    return 1;
  }
  if (Status v = verify(*g); !v) {
    llvm::errs() << DumpFile << ": error: " << v.error() << "\n";
    return 1;
  }
  if (stage == "ir" || stage == "grad") {
    if (!PrintAfterAll && PrintAfter.empty()) llvm::outs() << printGraph(*g, Batch);
    return 0;
  }
  std::string out, error;
  if (!driver::emitBackendStage(stage, *g, !NoFuse, out, error)) {
    llvm::errs() << DumpFile << ": error: " << error << "\n";
    return 1;
  }
  llvm::outs() << out;
  return 0;
}

const bool registered = driver::registerCommand(CheckCmd, runCheck) &&
                        driver::registerCommand(SummaryCmd, runSummary) &&
                        driver::registerCommand(DumpCmd, runDump) &&
                        driver::registerCommand(DotCmd, runDot);

} // namespace
