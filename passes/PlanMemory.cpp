// The plan-memory pass: places every stored value in one arena. The schedule is the kernel
// order; a value lives from the kernel that writes it to the last kernel that reads it
// (graph inputs from the start; outputs, the loss and gradients to the end; parameters and
// optimizer state always). Two regions: batched values are planned in bytes per example (the
// runtime multiplies by the batch capacity), unbatched ones in bytes. Within a region, values
// are placed first-fit, in order of birth, at the lowest 64-byte aligned offset that does not
// overlap a value whose lifetime intersects theirs (found among the gaps between the values
// live at their birth, so placing costs no scan over all values). Update ops write their
// parameter in place and share its offset. The result is ctx.plan (passes/KernelPlan.h): the
// kernels as fuse grouped them, the stored values, every offset and the arena sizes.
#include "passes/Fusion.h"
#include "passes/Pass.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <queue>

namespace nnc {

namespace {

constexpr int64_t kAlign = 64;

struct Buffer {
  ValueId v;
  int begin, end; // kernel indices, inclusive
  int64_t size;
  int64_t offset = -1;
};

int64_t alignUp(int64_t bytes) {
  return (bytes + kAlign - 1) / kAlign * kAlign;
}

// The free space of a region while buffers come and go: the live buffers never overlap (each
// was placed clear of all those live at its birth), and the gaps between them are kept by
// start (64-byte aligned) so that first fit scans gaps, not buffers.
class Region {
public:
  Region() { gaps_[0] = kEnd; }

  /// Places `size` bytes at the start of the lowest gap they fit in.
  int64_t add(int64_t size) {
    if (size == 0) return 0;
    auto it = gaps_.begin();
    while (it->second - it->first < size) ++it; // the last gap is unbounded
    auto [start, end] = *it;
    gaps_.erase(it);
    if (alignUp(start + size) < end) gaps_[alignUp(start + size)] = end;
    live_[start] = start + size;
    return start;
  }

  /// Frees the buffer at `offset`, merging the gaps on either side of it.
  void remove(int64_t offset, int64_t size) {
    if (size == 0) return;
    auto it = live_.find(offset);
    int64_t start = it == live_.begin() ? 0 : alignUp(std::prev(it)->second);
    int64_t end = std::next(it) == live_.end() ? kEnd : std::next(it)->first;
    live_.erase(it);
    gaps_.erase(gaps_.lower_bound(start), gaps_.lower_bound(end));
    gaps_[start] = end;
  }

private:
  static constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
  std::map<int64_t, int64_t> live_; // offset -> end of each live buffer
  std::map<int64_t, int64_t> gaps_; // start -> end of each free range
};

// First fit in order of birth: a buffer must avoid exactly the placed buffers still live at
// its birth (they were born no later), so buffers that died before it are freed first.
void place(std::vector<Buffer> &bufs) {
  std::vector<size_t> order(bufs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return bufs[a].begin < bufs[b].begin; });
  using Death = std::pair<int, size_t>; // last kernel, buffer
  std::priority_queue<Death, std::vector<Death>, std::greater<>> deaths;
  Region region;
  for (size_t i : order) {
    Buffer &b = bufs[i];
    for (; !deaths.empty() && deaths.top().first < b.begin; deaths.pop()) {
      const Buffer &dead = bufs[deaths.top().second];
      region.remove(dead.offset, dead.size);
    }
    b.offset = region.add(b.size);
    deaths.push({b.end, i});
  }
}

} // namespace

Status planMemory(Graph &g, PassContext &ctx) {
  for (const Node &n : g.nodes)
    if (opClass(n.op) != OpClass::Leaf && n.kernel < 0)
      return Error{"plan-memory needs kernels: run the fuse pass first"};
  KernelPlan &plan = ctx.plan;
  plan = KernelPlan{kernelGroups(g), storedValues(g), std::vector<int64_t>(g.size(), -1), {}};
  const std::vector<KernelGroup> &groups = plan.kernels;
  const std::vector<bool> &stored = plan.stored;
  const std::vector<bool> kept = keptToEnd(g);
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
    const Node &n = g[v];
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
      if (kept[size_t(v)]) b.end = last;
    }
    (n.type.batched ? batched : fixed).push_back(b);
  }
  place(batched);
  place(fixed);
  for (const auto *list : {&batched, &fixed})
    for (const Buffer &b : *list) plan.offsets[size_t(b.v)] = b.offset;
  for (ValueId v = 0; v < ValueId(g.size()); ++v)
    if (opClass(g[v].op) == OpClass::Update)
      plan.offsets[size_t(v)] = plan.offsets[size_t(g[v].inputs[0])];

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
  plan.arena = {bp, fp};
  const int64_t n = g.train.batch > 0 ? g.train.batch : 1;
  r += fmt::format("total at batch {}: {} bytes planned vs {} unplanned\n", n, bp * n + fp,
                   bu * n + fu);
  return okStatus();
}

} // namespace nnc
