// nnc: flags -> library calls. Subcommands register themselves (see Driver.h).
#include "tools/nnc/Driver.h"

#include <llvm/Support/raw_ostream.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace nnc::driver {
namespace {
struct Entry {
  llvm::cl::SubCommand *sub;
  int (*run)();
};
std::vector<Entry> &registry() {
  static std::vector<Entry> r;
  return r;
}
} // namespace

llvm::cl::OptionCategory &category() {
  static llvm::cl::OptionCategory c("nnc options");
  return c;
}

bool registerCommand(llvm::cl::SubCommand &sub, int (*run)()) {
  registry().push_back({&sub, run});
  return true;
}

bool readFile(const std::string &path, std::string &out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    llvm::errs() << "nnc: error: cannot read '" << path << "': no such file or not readable\n";
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

} // namespace nnc::driver

int main(int argc, char **argv) {
  llvm::cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "nnc " NNC_VERSION "\n"; });
  llvm::cl::HideUnrelatedOptions(nnc::driver::category());
  for (const auto &e : nnc::driver::registry())
    llvm::cl::HideUnrelatedOptions(nnc::driver::category(), *e.sub);
  if (!llvm::cl::ParseCommandLineOptions(
          argc, argv, "nnc: an educational compiler for small neural networks\n"))
    return 2;
  for (const auto &e : nnc::driver::registry())
    if (*e.sub) return e.run();
  llvm::errs() << "nnc: error: no command given; try 'nnc --help'\n";
  return 2;
}
