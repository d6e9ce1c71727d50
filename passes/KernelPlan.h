// The kernel plan: what fuse and plan-memory decided about a training graph, as data. Fuse
// groups the nodes into kernels (Node::kernel, Node::inlined); plan-memory reads those groups
// once and writes this plan: the kernels in schedule order with their members, inlined nodes
// and batch reductions (with each sum's place in the kernel's partial buffer), which values
// need a buffer, every buffer's arena offset and the arena sizes. Codegen and the runtime
// read the plan and never re-derive any of it from the graph.
#pragma once

#include "ir/Graph.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace nnc {

/// A member of a kernel that sums over the batch, and where its sum sits in the kernel's
/// partial buffer (the runtime adds the partial buffers of the threads in a fixed order).
struct BatchSum {
  ValueId value = kNoValue;
  int64_t partialOffset = 0; // floats into one partial buffer
  int64_t elements = 0;
};

/// One kernel: nodes computed by one loop nest (or, for updates, a few loops in one function).
struct KernelGroup {
  int id = 0;
  ValueId root = kNoValue;          // the node whose loop nest the others ride on
  std::vector<ValueId> members;     // in node order; root included
  std::vector<ValueId> inlined;     // activation gradients recomputed inside this kernel
  bool batched = false;             // the loop runs over the batch (split across threads)
  std::vector<BatchSum> reductions; // members that sum over the batch, in member order
  int64_t partialFloats = 0;        // size of one partial buffer

  /// True when member `v` sums over the batch (it writes a partial sum, not a buffer).
  bool sumsOverBatch(ValueId v) const {
    return std::any_of(reductions.begin(), reductions.end(),
                       [&](const BatchSum &r) { return r.value == v; });
  }
};

/// Arena sizes of a memory plan: the end of its last buffer in each region.
struct ArenaSizes {
  int64_t batchedBytesPerExample = 0; // times the batch capacity
  int64_t fixedBytes = 0;             // parameters, optimizer state, unbatched values
};

/// Kernels, buffers and arena of a fused, memory-planned training graph.
struct KernelPlan {
  std::vector<KernelGroup> kernels; // in schedule order
  std::vector<bool> stored;         // per value: it has a buffer in the arena
  std::vector<int64_t> offsets;     // per value: byte offset of its buffer, -1 when not stored;
                                    // batched values per example (times the batch capacity);
                                    // update ops share their parameter's offset
  ArenaSizes arena;

  /// True when the plan was made for a graph of `values` values.
  bool covers(size_t values) const { return stored.size() == values && offsets.size() == values; }
};

} // namespace nnc
