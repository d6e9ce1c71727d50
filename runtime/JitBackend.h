// The JIT backend (--backend=jit, the default): fuses and memory-plans a training graph,
// generates one native function per kernel with LLVM ORC, and runs them over an arena with
// a thread pool. Batch-parallel kernels split the batch across threads; kernels that sum
// over the batch use a fixed number of partial buffers added in a fixed order, so results
// never depend on thread timing or thread count.
#pragma once

#include "codegen/Codegen.h"
#include "codegen/Jit.h"
#include "runtime/Backend.h"
#include "support/ThreadPool.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// Options of the JIT backend.
struct JitOptions {
  int threads = 0;  // <= 0: one per hardware thread
  bool fuse = true; // false groups every op alone (--no-fuse)
};

/// Compiled execution of a training (or model) graph.
class JitBackend : public Backend {
public:
  /// Fuses, plans memory, generates and compiles `g` (the output of decompose + autodiff).
  static Result<std::unique_ptr<JitBackend>> create(Graph g, const JitOptions &opts = {});
  /// With NNC_DEBUG >= 1, prints the compile-time and kernel profiles to stderr.
  ~JitBackend() override;

  Status setTensors(const TensorMap &t) override;
  TensorMap tensors() const override;
  Result<double> evaluate(const TensorMap &inputs, int64_t n, TensorMap *outputs) override;
  Result<double> gradients(const TensorMap &inputs, int64_t n, TensorMap &grads) override;
  Result<double> trainStep(const TensorMap &inputs, int64_t n) override;
  void setCheckNumerics(bool on) override { checkNumerics_ = on; }

  /// Compile time of each stage (fuse, plan-memory, codegen, O3 + machine code of the shards in
  /// parallel with each shard's own times, link + lookup), wall clock, one per line.
  std::string timeReport() const;
  /// Total time and GFLOP/s of each kernel over every step run so far, slowest first.
  std::string profileReport() const;
  /// Seconds spent compiling (fuse to function pointers).
  double compileSeconds() const;
  /// FLOPs of one training step on n examples (forward, backward and update kernels).
  double stepFlops(int64_t n) const;
  const Graph &graph() const { return g_; }
  const std::string &fusionReport() const { return fusionReport_; }
  const std::string &memoryReport() const { return memoryReport_; }
  /// The kernels, buffers and arena that fuse and plan-memory decided for graph().
  const KernelPlan &plan() const { return plan_; }
  /// What codegen made of each kernel of plan() (same index).
  const std::vector<KernelInfo> &kernels() const { return kernels_; }
  /// Seconds spent in each kernel (indexed as kernels()) over every step run so far.
  const std::vector<double> &kernelSeconds() const { return kernelSeconds_; }
  /// FLOPs each kernel (indexed as kernels()) did over every step run so far.
  const std::vector<double> &kernelFlops() const { return kernelFlops_; }

private:
  JitBackend() = default;
  struct Aligned {
    void operator()(void *p) const { std::free(p); }
  };
  using Buffer = std::unique_ptr<char[], Aligned>;
  using KernelFn = void (*)(char *, char *, int64_t, int64_t, int64_t, int64_t, float *);

  Status bindInputs(const TensorMap &inputs, int64_t n);
  void copyInputs(int64_t first, int64_t count);
  Status run(Role upTo, int64_t n, TensorMap *outputs);
  Status runKernel(size_t i, int64_t n, int64_t count, bool accumulate);
  float *fixedPtr(ValueId v) const {
    return reinterpret_cast<float *>(fixed_.get() + plan_.offsets[size_t(v)]);
  }
  float *valuePtr(ValueId v) const;
  Tensor read(ValueId v, int64_t n) const;
  double lossValue() const;
  static Buffer allocate(int64_t bytes);

  Graph g_;
  KernelPlan plan_; // what fuse and plan-memory decided: kernels (as kernels_), offsets, arena
  std::unique_ptr<Jit> jit_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<KernelInfo> kernels_;
  std::vector<KernelFn> fns_;
  std::vector<double> kernelSeconds_;
  std::vector<double> kernelFlops_;
  Buffer batched_, fixed_, partial_;
  int64_t batchedPerExample_ = 0, fixedBytes_ = 0, ncap_ = 0, n_ = 0;
  int debug_ = 0;
  bool checkNumerics_ = false;
  bool microBatching_ = false;
  const TensorMap *inputs_ = nullptr;
  struct Stage {
    std::string name;
    double seconds = 0;
    std::string note;  // after the time on its line
    std::string lines; // more lines (per-shard times)
  };
  std::vector<Stage> stages_;
  std::string fusionReport_, memoryReport_;
};

} // namespace nnc
