// The plan-memory pass: places every stored value in one arena. The schedule is the kernel
// order; a value lives from the kernel that writes it to the last kernel that reads it
// (graph inputs from the start; outputs, the loss and gradients to the end; parameters and
// optimizer state always). Two regions: batched values are planned in bytes per example (the
// runtime multiplies by the batch capacity), unbatched ones in bytes. Within a region, values
// are placed first-fit, in order of birth, at the lowest 64-byte aligned offset that does not
// overlap a value whose lifetime intersects theirs. Update ops write their parameter in place
// and share its offset.
#include "passes/Fusion.h"
#include "passes/Pass.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

namespace nnc {

namespace {

constexpr int64_t kAlign = 64;

struct Buffer {
  ValueId v;
  int begin, end; // kernel indices, inclusive
  int64_t size;
  int64_t offset = -1;
};

void place(std::vector<Buffer> &bufs) {
  std::vector<size_t> order(bufs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return bufs[a].begin < bufs[b].begin; });
  std::vector<size_t> placed;
  for (size_t i : order) {
    Buffer &b = bufs[i];
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed)
      if (bufs[j].begin <= b.end && b.begin <= bufs[j].end)
        busy.push_back({bufs[j].offset, bufs[j].offset + bufs[j].size});
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    for (auto [lo, hi] : busy) {
      if (off + b.size <= lo) break;
      off = std::max(off, (hi + kAlign - 1) / kAlign * kAlign);
    }
    b.offset = off;
    placed.push_back(i);
  }
}

} // namespace

Status planMemory(Graph &g, PassContext &ctx) {
  for (const Node &n : g.nodes)
    if (opClass(n.op) != OpClass::Leaf && n.kernel < 0)
      return Error{"plan-memory needs kernels: run the fuse pass first"};
  std::vector<bool> stored = storedValues(g);
  std::vector<KernelGroup> groups = kernelGroups(g);
  int last = int(groups.size());
  std::vector<int> pos(size_t(last + 1), 0);
  for (size_t i = 0; i < groups.size(); ++i) pos[size_t(groups[i].id)] = int(i);
  auto users = g.users();

  // Kernels reading v, directly or through inlined users.
  std::function<void(ValueId, int &)> lastUse = [&](ValueId v, int &end) {
    for (ValueId u : users[size_t(v)]) {
      if (g[u].inlined)
        lastUse(u, end);
      else if (g[u].kernel >= 0)
        end = std::max(end, pos[size_t(g[u].kernel)]);
    }
  };
  std::vector<Buffer> batched, fixed;
  for (ValueId v = 0; v < ValueId(g.size()); ++v) {
    Node &n = g[v];
    n.offset = -1;
    if (!stored[size_t(v)] || opClass(n.op) == OpClass::Update) continue;
    OpClass c = opClass(n.op);
    Buffer b{v, 0, last, valueBytes(n)};
    if (c == OpClass::Leaf) {
      b.begin = -1;
      if (n.op == OpKind::Input) {
        b.end = -1;
        lastUse(v, b.end);
      }
    } else {
      b.begin = b.end = pos[size_t(n.kernel)];
      lastUse(v, b.end);
      bool keep =
          v == g.loss || std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
      for (auto &[p, gv] : g.grads) keep = keep || gv == v;
      if (keep) b.end = last;
    }
    (n.type.batched ? batched : fixed).push_back(b);
  }
  place(batched);
  place(fixed);
  for (const auto *list : {&batched, &fixed})
    for (const Buffer &b : *list) g[b.v].offset = b.offset;
  for (Node &n : g.nodes)
    if (opClass(n.op) == OpClass::Update) n.offset = g[n.inputs[0]].offset;

  std::string &r = ctx.memoryReport;
  r.clear();
  auto region = [&](const char *title, const std::vector<Buffer> &bufs, const char *unit) {
    int64_t planned = 0, unplanned = 0;
    r += fmt::format("{} region ({}):\n", title, unit);
    std::vector<Buffer> sorted = bufs;
    std::sort(sorted.begin(), sorted.end(),
              [](const Buffer &a, const Buffer &b) { return a.offset < b.offset; });
    for (const Buffer &b : sorted) {
      planned = std::max(planned, b.offset + b.size);
      unplanned += b.size;
      auto when = [&](int k) { return k < 0 ? std::string("start") : fmt::format("k{}", k); };
      r += fmt::format("  %{:<24} offset {:>9} size {:>9}  live {}..{}\n", g[b.v].name, b.offset,
                       b.size, when(b.begin), b.end == last ? std::string("end") : when(b.end));
    }
    r += fmt::format("  peak {} planned vs {} unplanned ({}, offsets 64-byte aligned)\n", planned,
                     unplanned, unit);
    return std::pair{planned, unplanned};
  };
  auto [bp, bu] = region("batched", batched, "bytes per example");
  auto [fp, fu] = region("fixed", fixed, "bytes");
  const int64_t n = g.train.batch > 0 ? g.train.batch : 1;
  r += fmt::format("total at batch {}: {} bytes planned vs {} unplanned\n", n, bp * n + fp,
                   bu * n + fu);
  return okStatus();
}

} // namespace nnc
