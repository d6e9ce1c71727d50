// nnc explore FILE [--run DIR [--data D]] [--profile [--steps N]] [--out FILE.html]: writes one
// self-contained HTML page of the whole pipeline of one model (see Explore.h): the Graphviz graph,
// a panel per layer, and every stage as a tab, with no network access needed to view it.
#include "tools/nnc/Driver.h"
#include "tools/nnc/Explore.h"

#include "support/FileUtil.h"

#include <llvm/Support/raw_ostream.h>

#include <filesystem>

namespace cl = llvm::cl;
using namespace nnc;

namespace {

cl::SubCommand ExploreCmd("explore", "Write one self-contained HTML page of the whole pipeline "
                                     "of a model: graph, layers, stages, kernels");
cl::opt<std::string> ExploreFile(cl::Positional, cl::desc("<file.nn>"), cl::Required,
                                 cl::sub(ExploreCmd), cl::cat(driver::category()));
cl::opt<std::string> ExploreOut("out",
                                cl::desc("The HTML file to write (default: MODEL.html, after the "
                                         ".nn file's name, in the current directory)"),
                                cl::sub(ExploreCmd), cl::cat(driver::category()));

cl::opt<std::string> ExploreRunDir("run",
                                   cl::desc("A checkpoint directory of `nnc train --checkpoint "
                                            "DIR`: add its loss curves, reconstructions and the "
                                            "first layer's filters"),
                                   cl::sub(ExploreCmd), cl::cat(driver::category()));
cl::opt<std::string> ExploreData("data",
                                 cl::desc("Dataset of the reconstructions with --run (mnist, "
                                          "fashion-mnist or a directory of IDX files)"),
                                 cl::init("mnist"), cl::sub(ExploreCmd),
                                 cl::cat(driver::category()));

cl::opt<bool> ExploreProfile("profile",
                             cl::desc("Time a few training steps: each kernel's time and "
                                      "GFLOP/s, linked to its layers"),
                             cl::sub(ExploreCmd), cl::cat(driver::category()));
cl::opt<int> ExploreSteps("steps", cl::desc("Timed training steps of --profile (1 to 1000)"),
                          cl::init(5), cl::sub(ExploreCmd), cl::cat(driver::category()));

int runExplore() {
  if (ExploreSteps < 1 || ExploreSteps > 1000) {
    llvm::errs() << "nnc: error: --steps: expected a whole number from 1 to 1000, found "
                 << ExploreSteps << "\n";
    return 2;
  }
  std::string source;
  if (!driver::readFile(ExploreFile, source, "model files")) return 1;
  std::string svg;
  Result<llvm::json::Object> data = driver::exploreData(ExploreFile, source, svg);
  if (!data) {
    llvm::errs() << data.error();
    return 1;
  }
  if (!ExploreRunDir.empty()) {
    Result<llvm::json::Object> run =
        driver::exploreRun(ExploreFile, source, ExploreRunDir, ExploreData);
    if (!run) {
      llvm::errs() << "nnc: error: --run " << ExploreRunDir << ": " << run.error() << "\n";
      return 1;
    }
    (*data)["run"] = run.take();
  }
  if (ExploreProfile) {
    Result<llvm::json::Object> profile = driver::exploreProfile(ExploreFile, source, ExploreSteps);
    if (!profile) {
      llvm::errs() << "nnc: error: --profile: " << profile.error() << "\n";
      return 1;
    }
    (*data)["profile"] = profile.take();
  }
  std::string out = ExploreOut.empty()
                        ? std::filesystem::path(ExploreFile.getValue()).stem().string() + ".html"
                        : ExploreOut.getValue();
  std::string page = driver::explorePage(*data, svg);
  if (Status s = writeFileAtomic(out, page); !s) {
    llvm::errs() << "nnc: error: " << s.error() << "\n";
    return 1;
  }
  llvm::outs() << "wrote " << out << " (" << byteSizeText(page.size())
               << "): open it in a browser\n";
  return 0;
}

const bool registered = driver::registerCommand(ExploreCmd, runExplore);

} // namespace
