// `nnc dump --emit=fused|memory|llvm|llvm-opt|asm`: renders the backend stages of a training
// graph: the fusion report, the memory plan, the generated LLVM IR before and after O3 for the
// host CPU, and the host assembly.
#include "tools/nnc/Driver.h"

#include "codegen/Codegen.h"
#include "codegen/Jit.h"
#include "passes/Pipeline.h"

#include <llvm/Support/raw_ostream.h>

namespace nnc::driver {

bool emitBackendStage(const std::string &stage, Graph &g, bool fuse, std::string &out,
                      std::string &error) {
  if (stage != "fused" && stage != "memory" && stage != "llvm" && stage != "llvm-opt" &&
      stage != "asm") {
    error = "unknown backend stage '" + stage + "' (expected fused, memory, llvm, llvm-opt or asm)";
    return false;
  }
  PassContext ctx;
  ctx.fuse = fuse;
  if (Status s = runPasses(g, ctx, backendPasses()); !s) {
    error = s.error();
    return false;
  }
  if (stage == "fused") {
    out = ctx.fusionReport;
    return true;
  }
  if (stage == "memory") {
    out = ctx.memoryReport;
    return true;
  }
  Result<GeneratedCode> code = generateKernels(g, ctx.plan);
  if (!code) {
    error = code.error();
    return false;
  }
  Result<std::unique_ptr<Jit>> jit = Jit::create();
  if (!jit) {
    error = jit.error();
    return false;
  }
  llvm::Module &m = *code->shards.front().module; // one shard: every kernel
  (*jit)->prepare(m);
  if (stage != "llvm") (*jit)->optimize(m);
  if (stage == "asm") {
    Result<std::string> a = (*jit)->assembly(m);
    if (!a) {
      error = a.error();
      return false;
    }
    out = *a;
    return true;
  }
  llvm::raw_string_ostream os(out);
  m.print(os, nullptr);
  return true;
}

} // namespace nnc::driver
