// A small wrapper around LLVM ORC's LLJIT for the host CPU. Kernels arrive in shards (one
// module and context each, see Codegen.h); compile() optimizes every shard at O3 and emits it
// as an in-memory object file with a TargetMachine of its own, the pool's threads taking the
// next shard as they finish one, then hands the objects to LLJIT, which links them when their
// functions are looked up.
// Optimizing and compiling a module does not depend on the other modules, so a kernel's
// machine code is the same whatever the sharding. Assembly of a module can be rendered for dumps.
#pragma once

#include "codegen/Codegen.h"
#include "support/Result.h"
#include "support/ThreadPool.h"

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// An LLJIT instance for the host CPU plus the settings of the TargetMachines that optimize and
/// compile modules for it.
class Jit {
public:
  /// Creates a JIT for the host CPU (initializes the native target once).
  static Result<std::unique_ptr<Jit>> create();

  /// Sets the module's triple and data layout to the host's and adds target-cpu/features
  /// attributes to its functions, so the optimizer sees the host's vector width.
  void prepare(llvm::Module &m) const;
  /// Runs the O3 pipeline on `m` (prepare() first).
  void optimize(llvm::Module &m) const;
  /// Renders `m` as host assembly (the module is cloned; `m` is left unchanged).
  Result<std::string> assembly(const llvm::Module &m) const;

  /// Seconds one shard's thread spent in each stage.
  struct ShardTime {
    double optimize = 0, machineCode = 0;
  };
  /// Prepares, optimizes and compiles each shard to an object file, the shards shared out to
  /// the threads of `pool`, and adds the objects to the JIT. The modules are consumed.
  Result<std::vector<ShardTime>> compile(std::vector<CodeShard> &shards, ThreadPool &pool);
  /// Address of the compiled function `name` (links its object on first lookup).
  Result<void *> lookup(const std::string &name);

  /// The host CPU name ("znver3").
  const std::string &cpu() const { return cpu_; }

private:
  Jit() = default;
  static void runO3(llvm::Module &m, llvm::TargetMachine &tm, bool vectorMath);

  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::optional<llvm::orc::JITTargetMachineBuilder> jtmb_; // makes one TargetMachine per thread
  std::unique_ptr<llvm::TargetMachine> tm_;                // for the calling thread
  std::string cpu_, features_;
  bool vectorMath_ = false; // libmvec is loaded: vectorize expf/logf calls
};

} // namespace nnc
