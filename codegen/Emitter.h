// Internal to codegen: the per-kernel IR emitter shared by Codegen.cpp (framework, epilogues,
// elementwise math, optimizer updates) and EmitOps.cpp (loop nests of the layer ops).
#pragma once

#include "codegen/Codegen.h"
#include "passes/KernelPlan.h"

#include <llvm/IR/IRBuilder.h>

#include <functional>
#include <map>
#include <set>

namespace nnc {

/// Emits one kernel function. Loops are plain counted loops (phi, compare, branch) over
/// static bounds; values are addressed as buffer + (example * elements + index).
class KernelEmitter {
public:
  KernelEmitter(const Graph &g, const KernelPlan &plan, const KernelGroup &k, llvm::Module &m,
                KernelInfo &info);
  /// Emits the function; errors name the unsupported op.
  Status emit();

  using Body = std::function<void(llvm::Value *)>;
  using Vals = std::map<ValueId, llvm::Value *>;

  // ---- IR helpers ----
  llvm::Value *i64(int64_t v) { return b.getInt64(uint64_t(v)); }
  llvm::Value *f32(double v);
  /// for (i = lo; i < hi; ++i) body(i); `rolled`: LLVM may neither unroll nor vectorize it
  /// (bodies that are already vector code, or cold setup loops: saves compile time).
  void loop(llvm::Value *lo, llvm::Value *hi, const Body &body, bool rolled = false);
  void loop(int64_t lo, int64_t hi, const Body &body, bool rolled = false) {
    loop(i64(lo), i64(hi), body, rolled);
  }
  /// if (cond) then()
  void ifThen(llvm::Value *cond, const std::function<void()> &then);
  /// A stack slot of type `t` in the entry block.
  llvm::Value *stackSlot(llvm::Type *t, const char *name);
  /// A stack array of `count` floats in the entry block.
  llvm::Value *stackFloats(int64_t count, const char *name) {
    return stackSlot(llvm::ArrayType::get(b.getFloatTy(), uint64_t(count)), name);
  }
  /// Address of element `idx` of stack/partial array `base`.
  llvm::Value *at(llvm::Value *base, llvm::Value *idx);
  /// Loads a float, or a row of `lanes_` floats inside epilogueRow.
  llvm::Value *loadF(llvm::Value *ptr);
  /// float, or <lanes_ x float> inside epilogueRow (f32 constants follow it).
  llvm::Type *floatTy();
  /// x + y and x * y on indices: nsw, and nuw too when both are known non-negative (spares
  /// LLVM's induction-variable pass from proving it, its most expensive work on our loops).
  llvm::Value *add(llvm::Value *x, llvm::Value *y) {
    return b.CreateAdd(x, y, "", nonNegative(x) && nonNegative(y), true);
  }
  llvm::Value *mul(llvm::Value *x, llvm::Value *y) {
    return b.CreateMul(x, y, "", nonNegative(x) && nonNegative(y), true);
  }
  /// Structurally known >= 0: a non-negative constant, a loop counter starting at a value known
  /// >= 0, the batch arguments, a nuw+nsw add/mul, a value range-checked by an enclosing
  /// ifThen(inRange(v, hi)), a select of two such values (or of v under inRange(v, hi)).
  bool nonNegative(llvm::Value *v) const;
  llvm::Value *mulC(llvm::Value *x, int64_t c) { return mul(x, i64(c)); }
  llvm::Value *inRange(llvm::Value *v, int64_t hi); // 0 <= v < hi
  /// v when `cond` is an inRange(v, hi) test, else null.
  static llvm::Value *inRangeOf(llvm::Value *cond);
  llvm::Value *call(llvm::Intrinsic::ID id, llvm::Value *x);
  llvm::Value *expf(llvm::Value *x) { return call(llvm::Intrinsic::exp, x); }
  llvm::Value *logf(llvm::Value *x) { return call(llvm::Intrinsic::log, x); }

  // ---- data ----
  /// Address of element (n, idx) of a stored value (n ignored when unbatched).
  llvm::Value *addr(ValueId v, llvm::Value *n, llvm::Value *idx);
  /// Element (n, idx) of operand v: from memory, or recomputed when v is inlined.
  llvm::Value *load(ValueId v, llvm::Value *n, llvm::Value *idx);
  /// Element of v: the value computed earlier in this loop iteration, else load().
  llvm::Value *get(ValueId v, llvm::Value *n, llvm::Value *idx, const Vals &vals);
  void store(ValueId v, llvm::Value *n, llvm::Value *idx, llvm::Value *x);
  /// The partial-sum array of reduction member v.
  llvm::Value *partial(ValueId v);
  /// Runs body(n) for each example of this kernel's range (once with n = 0 when unbatched).
  void forBatch(const Body &body);

  /// Given the root's value at (n, idx) (null when the root itself is elementwise), computes
  /// every other member at that element, accumulates losses, and stores what is needed.
  void epilogue(llvm::Value *n, llvm::Value *idx, llvm::Value *rootValue);
  /// Whether epilogueRow may be used: no member is a loss (losses sum one element at a time).
  bool rowEpilogue() const;
  /// The epilogue of `lanes` consecutive elements at once: `row` is a vector of the root's
  /// values at (n, idx .. idx+lanes-1), and the members are computed as vectors.
  void epilogueRow(llvm::Value *n, llvm::Value *idx, int64_t lanes, llvm::Value *row);
  /// One elementwise op at (n, idx).
  llvm::Value *elementwise(ValueId v, llvm::Value *n, llvm::Value *idx, const Vals &vals);
  /// Records that `op` has no codegen rule of kind `what` (emit() returns it as an Error) and
  /// returns a poison value in its place.
  llvm::Value *noRule(OpKind op, const char *what);

  // ---- op loop nests (EmitOps.cpp) ----
  Status emitRoot();
  void emitElementSpace();
  void emitDense();
  void emitDenseGradInput();
  void emitDenseGradKernel();
  void emitBiasGrad();
  void emitConv();           // conv2d forward and conv2d_transpose_grad_input
  void emitConvTransposed(); // conv2d_transpose forward and conv2d_grad_input
  void emitConvGradKernel(); // conv2d_grad_kernel and conv2d_transpose_grad_kernel
  void emitMaxPool();
  void emitMaxPoolGrad();
  void emitAvgPool();
  void emitAvgPoolGrad();
  void emitUpsample();
  void emitUpsampleGrad();
  void emitSoftmax();
  void emitSoftmaxGrad();
  void emitCategorical();
  void emitConcat();
  void emitSlice();
  void emitUpdates();

  const Graph &g;
  const KernelPlan &plan;
  const KernelGroup &k;
  const std::vector<bool> &stored; // plan.stored
  llvm::Module &m;
  KernelInfo &info;
  llvm::LLVMContext &ctx;
  llvm::IRBuilder<> b;
  llvm::Function *fn = nullptr;
  llvm::BasicBlock *entry = nullptr;
  llvm::Value *nArg = nullptr, *nBegin = nullptr, *nEnd = nullptr, *partialArg = nullptr;
  std::map<ValueId, llvm::Value *> bufs;     // buffer pointer of each stored value touched
  std::map<ValueId, int64_t> partialOffsets; // reduction member -> float offset
  std::map<ValueId, llvm::Value *> lossAcc;  // element losses: double accumulators

  std::string missingRule_; // the first op found without a codegen rule, as an error message
  int64_t lanes_ = 1;       // elements per value in the epilogue (epilogueRow)
  int loopsCreated_ = 0;    // loops emitted so far (finds innermost)
  std::set<llvm::Value *> nonNegativeCounters_; // loop counters whose start is >= 0
  std::set<llvm::Value *> guardedNonNegative_;  // values range-checked by an enclosing ifThen

  const Node &node(ValueId v) const { return g[v]; }
  const Node &rootNode() const { return g[k.root]; }
  bool isMember(ValueId v) const;
};

/// FLOPs (2 per multiply-accumulate) of a node per example, or of the whole op when unbatched.
double nodeFlops(const Graph &g, const Node &n);

} // namespace nnc
