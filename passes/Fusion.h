// Shared facts about fusion groups ("kernels") for the fuse and plan-memory passes: which ops
// are elementwise, which reduce over the batch, how a graph's Node::kernel ids form ordered
// groups, and which values need a buffer. Codegen and the runtime read the KernelPlan that
// plan-memory makes of these (passes/KernelPlan.h), never the groups themselves.
#pragma once

#include "ir/Graph.h"
#include "passes/KernelPlan.h"

#include <vector>

namespace nnc {

/// True for ops whose output element i depends only on element i of each operand.
bool isElementwiseOp(OpKind op);
/// True for ops that sum over the batch (weight and bias gradients, losses).
bool isBatchReductionOp(OpKind op);
/// True for activation gradients that fusion recomputes inside each consumer.
bool isInlinableOp(OpKind op);

/// Groups the nodes by Node::kernel (set by fuse), in kernel-id order (the schedule), with
/// each kernel's batch reductions laid out in its partial buffer in member order.
std::vector<KernelGroup> kernelGroups(const Graph &g);
/// For every value: is it read after a run (the loss, an output or a gradient), so that its
/// buffer lives to the end?
std::vector<bool> keptToEnd(const Graph &g);
/// For every value: does it need a buffer (leaves, outputs, gradients, values used by
/// another kernel)? Inlined values and values used only inside their own kernel do not.
std::vector<bool> storedValues(const Graph &g);
/// Bytes of one example (batched values) or of the whole value (unbatched).
int64_t valueBytes(const Node &n);

} // namespace nnc
