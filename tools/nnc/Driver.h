// The nnc driver: each subcommand lives in its own file, declares its llvm::cl options with
// cl::sub(ITS_SUBCOMMAND), and registers a run function here.
#pragma once

#include <llvm/Support/CommandLine.h>

#include <cstdint>
#include <string>

namespace nnc::driver {

/// The option category of every nnc option (LLVM's own options are hidden from --help).
llvm::cl::OptionCategory &category();

/// Registers `run` to be called when `sub` was given on the command line.
bool registerCommand(llvm::cl::SubCommand &sub, int (*run)());

/// The largest model source or history CSV nnc reads.
constexpr uint64_t kMaxTextFileBytes = 16ull << 20;

/// Reads a whole regular file of at most kMaxTextFileBytes (`what` names its kind in the size
/// error: "model files"); on failure prints "nnc: error: cannot read FILE: reason", returns false.
bool readFile(const std::string &path, std::string &out, const char *what);

} // namespace nnc::driver

namespace nnc {
struct Graph;
}

namespace nnc::driver {

/// Renders a backend stage of a training graph for `nnc dump --emit=STAGE` ("fused", "memory",
/// "llvm", "llvm-opt", "asm"). Returns false with `error` set on failure or unknown stage.
bool emitBackendStage(const std::string &stage, Graph &g, bool fuse, std::string &out,
                      std::string &error);

} // namespace nnc::driver
