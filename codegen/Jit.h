// A small wrapper around LLVM ORC's LLJIT, in the spirit of Kaleidoscope's KaleidoscopeJIT:
// create a JIT for the host CPU, optimize modules at O3 with the host TargetMachine, add them,
// and look up compiled functions by name. Assembly of a module can be rendered for dumps.
#pragma once

#include "frontend/Diagnostics.h"

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include <memory>
#include <string>

namespace nnc {

/// An LLJIT instance for the host CPU plus the TargetMachine used to optimize modules for it.
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
  /// Hands an optimized module and its context to the JIT for compilation.
  Status addModule(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx);
  /// Address of the compiled function `name` (compiles its module on first lookup).
  Result<void *> lookup(const std::string &name);

  /// The host CPU name ("znver3").
  const std::string &cpu() const { return cpu_; }

private:
  Jit() = default;
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unique_ptr<llvm::TargetMachine> tm_;
  std::string cpu_, features_;
  bool vectorMath_ = false; // libmvec is loaded: vectorize expf/logf calls
};

} // namespace nnc
