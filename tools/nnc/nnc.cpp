// nnc: flags -> library calls. Subcommands register themselves (see Driver.h).
#include "support/FileUtil.h"
#include "tools/nnc/Driver.h"

#include <llvm/Support/raw_ostream.h>

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

bool readFile(const std::string &path, std::string &out, const char *what) {
  Result<std::string> bytes = readFileBytes(path, kMaxTextFileBytes, what);
  if (!bytes) {
    llvm::errs() << "nnc: error: " << bytes.error() << "\n";
    return false;
  }
  out = std::move(*bytes);
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
