// nnc plot: loss curves of several runs in one picture, e.g. nnc against PyTorch or against
// the lecture's Keras log. Each argument is a history CSV ("epoch,loss,val_loss,seconds", as
// `nnc train --csv` and bench/compare_torch.py write it), optionally followed by "=LABEL".
#include "tools/nnc/Driver.h"

#include "runtime/Png.h"
#include "runtime/Trainer.h"

#include <llvm/Support/raw_ostream.h>

namespace cl = llvm::cl;
using namespace nnc;

namespace {

cl::SubCommand PlotCmd("plot", "Draw the loss curves of history CSV files (FILE.csv[=LABEL]) "
                               "in one PNG");
cl::list<std::string> PlotFiles(cl::Positional, cl::desc("<history.csv[=label]>..."), cl::OneOrMore,
                                cl::sub(PlotCmd), cl::cat(driver::category()));
cl::opt<std::string> PlotOut("out", cl::desc("The PNG to write"), cl::Required, cl::sub(PlotCmd),
                             cl::cat(driver::category()));
cl::opt<bool> PlotTrain("train",
                        cl::desc("Also draw each run's training loss (default: the "
                                 "validation loss only)"),
                        cl::sub(PlotCmd), cl::cat(driver::category()));

/// The validation (and with --train, training) curves of one CSV argument.
bool addCurves(const std::string &arg, std::vector<CurveSeries> &series) {
  size_t eq = arg.find('=');
  std::string path = arg.substr(0, eq);
  std::string label = eq == std::string::npos ? path : arg.substr(eq + 1);
  std::string text;
  if (!driver::readFile(path, text, "history files")) return false;
  Result<std::vector<EpochRecord>> history = parseHistoryCsv(text, path);
  if (!history) {
    llvm::errs() << "nnc: error: " << history.error() << "\n";
    return false;
  }
  CurveSeries val{label + " validation", {}, {}}, train{label + " train", {}, {}};
  for (const EpochRecord &r : *history) {
    train.epochs.push_back(double(r.epoch));
    train.values.push_back(r.loss);
    if (!r.valLoss) continue;
    val.epochs.push_back(double(r.epoch));
    val.values.push_back(*r.valLoss);
  }
  if (val.values.empty() && !PlotTrain) {
    llvm::errs() << "nnc: error: " << path << " has no validation loss (use --train)\n";
    return false;
  }
  if (PlotTrain) series.push_back(std::move(train));
  if (!val.values.empty()) series.push_back(std::move(val));
  return true;
}

int runPlot() {
  std::vector<CurveSeries> series;
  for (const std::string &arg : PlotFiles)
    if (!addCurves(arg, series)) return 1;
  if (Status s = writeCurvePlot(PlotOut, series); !s) {
    llvm::errs() << "nnc: error: " << s.error() << "\n";
    return 1;
  }
  llvm::outs() << "Wrote " << PlotOut << ": " << series.size() << " curve"
               << (series.size() == 1 ? "" : "s") << "\n";
  return 0;
}

const bool registeredPlot = driver::registerCommand(PlotCmd, runPlot);

} // namespace
