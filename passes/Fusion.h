// Shared facts about fusion groups ("kernels") for the fuse and plan-memory passes and the
// code generator: which ops are elementwise, which reduce over the batch, how a graph's
// Node::kernel ids form ordered groups, and which values need a buffer.
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace nnc {

/// True for ops whose output element i depends only on element i of each operand.
bool isElementwiseOp(OpKind op);
/// True for ops that sum over the batch (weight and bias gradients, losses).
bool isBatchReductionOp(OpKind op);
/// True for activation gradients that fusion recomputes inside each consumer.
bool isInlinableOp(OpKind op);

/// One kernel: nodes computed by one loop nest (or, for updates, a few loops in one function).
struct KernelGroup {
  int id = 0;
  ValueId root = kNoValue;      // the node whose loop nest the others ride on
  std::vector<ValueId> members; // in node order; root included
  std::vector<ValueId> inlined; // activation gradients recomputed inside this kernel
  bool batched = false;         // the loop runs over the batch (split across threads)
  bool reduces = false;         // some member sums over the batch (needs partial buffers)
};

/// Groups the nodes by Node::kernel (set by fuse), in kernel-id order (the schedule).
std::vector<KernelGroup> kernelGroups(const Graph &g);
/// For every value: is it read after a run (the loss, an output or a gradient), so that its
/// buffer lives to the end?
std::vector<bool> keptToEnd(const Graph &g);
/// For every value: does it need a buffer (leaves, outputs, gradients, values used by
/// another kernel)? Inlined values and values used only inside their own kernel do not.
std::vector<bool> storedValues(const Graph &g);
/// Bytes of one example (batched values) or of the whole value (unbatched).
int64_t valueBytes(const Node &n);

/// Arena sizes implied by Node::offset (set by plan-memory).
struct ArenaSizes {
  int64_t batchedBytesPerExample = 0; // times the batch capacity
  int64_t fixedBytes = 0;             // parameters, optimizer state, unbatched values
};
/// Computes the arena sizes from the planned offsets.
ArenaSizes arenaSizes(const Graph &g);

} // namespace nnc
