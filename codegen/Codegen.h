// Code generation: each kernel of a training graph's kernel plan (passes/KernelPlan.h: what
// fuse and plan-memory decided) becomes one LLVM function with a static loop nest. Only the
// batch bounds are run-time arguments, so a partial last batch needs no recompile:
//   void k(ptr batched, ptr fixed, i64 ncap, i64 n, i64 nbegin, i64 nend, ptr partial)
// `batched` holds batched values at their planned offset * ncap (+ example * bytes), `fixed`
// holds parameters, optimizer state and unbatched values at their offset; n is the batch size, and
// the kernel handles examples [nbegin, nend). Kernels that sum over the batch (weight, bias
// gradients, losses) write the sum over their examples to `partial` (zeroed by the kernel);
// the runtime adds the partial buffers in a fixed order. Kernels can be spread over several
// modules (shards), each in its own LLVMContext, to be compiled in parallel.
#pragma once

#include "ir/Graph.h"
#include "passes/KernelPlan.h"
#include "support/Result.h"

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// What codegen made of one kernel of the plan (same index); its members, batching and
/// partial sums are the plan's KernelGroup.
struct KernelInfo {
  int id = 0;
  std::string name;           // LLVM function name ("k3_conv2d_relu_28x28x16")
  std::string body;           // the body its wrapper calls: NAME.body, or an identical one's
  Role role = Role::Forward;  // earliest role of its members (Forward runs in evaluate)
  double flopsPerExample = 0; // for GFLOP/s reports
  double flopsFixed = 0;
  std::string layer; // .nn layer name of the root
  uint32_t line = 0; // .nn line of the root
};

/// Some of the kernels in an LLVM module and context of their own, so shards can be optimized
/// and compiled on different threads.
struct CodeShard {
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  std::vector<size_t> kernels; // indices into GeneratedCode::kernels, in schedule order
  int64_t instructions = 0;    // IR instructions of its kernels (the balance estimate)
};

/// The generated kernels: their descriptions in the plan's order and the shards holding them.
struct GeneratedCode {
  std::vector<CodeShard> shards;
  std::vector<KernelInfo> kernels;
};

/// IR instructions per shard above which the JIT uses more shards than threads: small enough
/// that threads share a deep model's work evenly, large enough that the cost of a module
/// (a TargetMachine, an O3 pipeline, an object file) stays around 1% of compiling it.
constexpr int64_t kShardInstructions = 5000;

/// Generates the kernels of `plan` (made by fuse and plan-memory for `g`) into modules
/// balanced by instruction count (largest kernel first to the lightest shard):
/// `shards` of them, or the smallest multiple of `shards` that keeps the average shard within
/// `shardInstructions` (when that is positive), and never more than there are kernels.
/// Kernels whose bodies are identical (same loops over the same shapes) share one body,
/// compiled once, in one shard. A kernel's IR does not depend on the shard count.
Result<GeneratedCode> generateKernels(const Graph &g, const KernelPlan &plan, int shards = 1,
                                      int64_t shardInstructions = 0);

} // namespace nnc
