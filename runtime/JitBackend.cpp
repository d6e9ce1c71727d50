// JitBackend: compile once, then per step run the batched kernels in schedule order on
// micro-batches of kMicroBatch examples (copying each one's inputs into the arena; weight
// gradients and losses accumulate across micro-batches), then the unbatched kernels (the
// optimizer updates) once. The arena thus holds kMicroBatch examples, whatever the batch. Batched
// kernels without reductions run as min(n, 4 x threads) chunks of the batch; kernels that sum over
// the batch run as kReduceChunks fixed chunks, each into its own partial buffer, and the partials
// are added in chunk order afterwards.
#include "runtime/JitBackend.h"

#include "passes/Pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <set>

namespace nnc {

namespace {
constexpr int64_t kReduceChunks = 8;
// Examples per pass through the batched kernels: bounds the arena and keeps it in cache.
constexpr int64_t kMicroBatch = 64;
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
constexpr size_t kShardLines = 8; // shards listed one per line by the time report

/// The time report's lines on the shards: one each when there are few, else a summary.
std::string shardLines(const std::vector<std::pair<size_t, int64_t>> &sizes,
                       const std::vector<Jit::ShardTime> &times) {
  std::string lines;
  if (sizes.size() <= kShardLines) {
    for (size_t i = 0; i < times.size(); ++i)
      lines += fmt::format(
          "    shard {}: {} kernels, {} IR instructions: O3 {:.2f} ms, machine code {:.2f} ms\n", i,
          sizes[i].first, sizes[i].second, times[i].optimize * 1e3, times[i].machineCode * 1e3);
    return lines;
  }
  size_t kernels = 0;
  int64_t least = sizes[0].second, most = 0;
  double optimize = 0, machineCode = 0, slowest = 0;
  for (size_t i = 0; i < times.size(); ++i) {
    kernels += sizes[i].first;
    least = std::min(least, sizes[i].second);
    most = std::max(most, sizes[i].second);
    optimize += times[i].optimize;
    machineCode += times[i].machineCode;
    slowest = std::max(slowest, times[i].optimize + times[i].machineCode);
  }
  return fmt::format(
      "    {} shards of {} to {} IR instructions ({} kernels), the slowest {:.2f} ms\n"
      "    summed over the threads: O3 {:.2f} ms, machine code {:.2f} ms\n",
      sizes.size(), least, most, kernels, slowest * 1e3, optimize * 1e3, machineCode * 1e3);
}
} // namespace

JitBackend::~JitBackend() {
  if (debug_ >= 1) std::fprintf(stderr, "%s%s", timeReport().c_str(), profileReport().c_str());
}

JitBackend::Buffer JitBackend::allocate(int64_t bytes) {
  size_t size = size_t(std::max<int64_t>(bytes, 64) + 63) / 64 * 64;
  Buffer b(static_cast<char *>(std::aligned_alloc(64, size)));
  if (b) std::memset(b.get(), 0, size);
  return b;
}

Result<std::unique_ptr<JitBackend>> JitBackend::create(Graph g, const JitOptions &opts) {
  std::unique_ptr<JitBackend> jb(new JitBackend());
  auto stage = [&](const char *name, Clock::time_point t, std::string note = {},
                   std::string lines = {}) {
    jb->stages_.push_back({name, since(t), std::move(note), std::move(lines)});
  };
  PassContext ctx;
  ctx.fuse = opts.fuse;
  auto t = Clock::now();
  auto timed = [&](const std::string &pass, const Graph &) {
    stage(pass.c_str(), t);
    t = Clock::now();
  };
  if (Status s = runPasses(g, ctx, backendPasses(), timed); !s) return Error{s.error()};
  jb->fusionReport_ = ctx.fusionReport;
  jb->memoryReport_ = ctx.memoryReport;
  jb->plan_ = std::move(ctx.plan);
  // Shards of kernels, a few per thread in deep models: the pool's threads compile them
  // (each thread takes the next shard when done), then run the kernels.
  jb->pool_ = std::make_unique<ThreadPool>(opts.threads);
  t = Clock::now();
  Result<GeneratedCode> code = generateKernels(g, jb->plan_, jb->pool_->size(), kShardInstructions);
  if (!code) return Error{code.error()};
  stage("codegen (LLVM IR)", t);
  t = Clock::now();
  Result<std::unique_ptr<Jit>> jit = Jit::create();
  if (!jit) return Error{jit.error()};
  jb->jit_ = jit.take();
  stage("create JIT", t);
  t = Clock::now();
  std::vector<CodeShard> &shards = code->shards;
  std::vector<std::pair<size_t, int64_t>> shardSizes; // kernels, IR instructions of each shard
  for (const CodeShard &s : shards) shardSizes.push_back({s.kernels.size(), s.instructions});
  Result<std::vector<Jit::ShardTime>> times = jb->jit_->compile(shards, *jb->pool_);
  if (!times) return Error{times.error()};
  std::string lines = shardLines(shardSizes, *times);
  stage(
      "O3 + machine code", t,
      fmt::format(" (wall; {} shards in parallel on {} threads)", shards.size(), jb->pool_->size()),
      lines);
  t = Clock::now();
  for (const KernelInfo &k : code->kernels) {
    Result<void *> f = jb->jit_->lookup(k.name);
    if (!f) return Error{f.error()};
    jb->fns_.push_back(reinterpret_cast<KernelFn>(*f));
  }
  stage("link + lookup (ORC)", t);
#ifdef __GLIBC__
  malloc_trim(0); // hand LLVM's freed working memory back to the system
#endif
  jb->kernels_ = std::move(code->kernels);
  jb->kernelSeconds_.assign(jb->kernels_.size(), 0.0);
  jb->kernelFlops_.assign(jb->kernels_.size(), 0.0);
  const ArenaSizes &sizes = jb->plan_.arena;
  jb->batchedPerExample_ = sizes.batchedBytesPerExample;
  jb->fixedBytes_ = sizes.fixedBytes;
  jb->fixed_ = allocate(sizes.fixedBytes);
  int64_t partial = 0;
  for (const KernelGroup &k : jb->plan_.kernels) partial = std::max(partial, k.partialFloats);
  jb->partial_ = allocate(partial * kReduceChunks * int64_t(sizeof(float)));
  if (!jb->fixed_ || !jb->partial_) return Error{"out of memory allocating the JIT arena"};
  // Micro-batching needs every batched kernel to depend on batched values and parameters
  // only (no unbatched result computed in the same step).
  jb->microBatching_ = true;
  for (const KernelGroup &k : jb->plan_.kernels) {
    if (!k.batched) continue;
    for (ValueId m : k.members)
      for (ValueId o : g[m].inputs)
        if (!g[o].type.batched && opClass(g[o].op) != OpClass::Leaf) jb->microBatching_ = false;
  }
  if (const char *d = std::getenv("NNC_DEBUG")) jb->debug_ = std::atoi(d);
  jb->g_ = std::move(g);
  return jb;
}

float *JitBackend::valuePtr(ValueId v) const {
  const Node &n = g_[v];
  if (!n.type.batched) return fixedPtr(v);
  return reinterpret_cast<float *>(batched_.get() + plan_.offsets[size_t(v)] * ncap_);
}

Tensor JitBackend::read(ValueId v, int64_t n) const {
  const Node &nd = g_[v];
  Tensor t;
  t.shape = nd.type.dims;
  if (nd.type.batched) t.shape.insert(t.shape.begin(), n);
  const float *p = valuePtr(v);
  t.data.assign(p, p + t.elements());
  return t;
}

Status JitBackend::setTensors(const TensorMap &t) {
  if (Status s = checkStateTensors(g_, t); !s) return s;
  for (const auto &[name, tensor] : t)
    std::copy(tensor.data.begin(), tensor.data.end(), fixedPtr(g_.find(name)));
  return okStatus();
}

TensorMap JitBackend::tensors() const {
  TensorMap m;
  for (ValueId v = 0; v < ValueId(g_.size()); ++v)
    if (g_[v].op == OpKind::Param || g_[v].op == OpKind::State) m[g_[v].name] = read(v, 0);
  return m;
}

Status JitBackend::bindInputs(const TensorMap &inputs, int64_t n) {
  if (Status s = checkInputs(g_, inputs, n); !s) return s;
  int64_t cap = microBatching_ ? std::min(n, kMicroBatch) : n;
  if (cap > ncap_) {
    batched_ = allocate(batchedPerExample_ * cap);
    if (!batched_) return Error{"out of memory allocating the JIT arena"};
    ncap_ = cap;
  }
  inputs_ = &inputs;
  n_ = n;
  return okStatus();
}

void JitBackend::copyInputs(int64_t first, int64_t count) {
  for (ValueId x : g_.inputs) {
    const Node &in = g_[x];
    if (plan_.offsets[size_t(x)] < 0) continue;
    const Tensor &t = inputs_->at(in.name);
    int64_t per = in.type.batched ? in.type.elements() : 0;
    const float *src = t.data.data() + first * per;
    std::copy(src, src + (in.type.batched ? count * per : in.type.elements()), valuePtr(x));
  }
}

Status JitBackend::runKernel(size_t i, int64_t n, int64_t count, bool accumulate) {
  const KernelInfo &k = kernels_[i];
  const KernelGroup &planned = plan_.kernels[i];
  KernelFn f = fns_[i];
  char *bat = batched_.get(), *fix = fixed_.get();
  float *part = reinterpret_cast<float *>(partial_.get());
  auto t0 = Clock::now();
  if (!planned.batched) {
    f(bat, fix, ncap_, n, 0, count, part);
  } else if (planned.reductions.empty()) {
    int64_t tasks = std::min<int64_t>(count, int64_t(pool_->size()) * 4);
    pool_->parallelFor(tasks, [&](int64_t c) {
      f(bat, fix, ncap_, n, count * c / tasks, count * (c + 1) / tasks, part);
    });
  } else {
    pool_->parallelFor(kReduceChunks, [&](int64_t c) {
      f(bat, fix, ncap_, n, count * c / kReduceChunks, count * (c + 1) / kReduceChunks,
        part + c * planned.partialFloats);
    });
  }
  int64_t chunks = planned.batched ? kReduceChunks : 1;
  for (const BatchSum &r : planned.reductions) {
    float *dst = fixedPtr(r.value);
    for (int64_t e = 0; e < r.elements; ++e) {
      float s = accumulate ? dst[e] : 0.0f;
      for (int64_t c = 0; c < chunks; ++c)
        s += part[c * planned.partialFloats + r.partialOffset + e];
      dst[e] = s;
    }
  }
  double secs = since(t0);
  double flops = k.flopsPerExample * double(planned.batched ? count : n) + k.flopsFixed;
  kernelSeconds_[i] += secs;
  kernelFlops_[i] += flops;
  if (debug_ >= 2)
    std::fprintf(stderr, "nnc: %-56s %-14s line %-3u %9.1f us %7.2f GFLOP/s\n", k.name.c_str(),
                 k.layer.c_str(), k.line, secs * 1e6, secs > 0 ? flops / secs * 1e-9 : 0.0);
  if (checkNumerics_)
    for (ValueId m : planned.members) {
      const Node &nd = g_[m];
      if (plan_.offsets[size_t(m)] < 0) continue;
      ValueId src = opClass(nd.op) == OpClass::Update ? nd.inputs[0] : m;
      const float *p = valuePtr(src);
      int64_t elems = g_[src].type.elements() * (g_[src].type.batched ? count : 1);
      for (int64_t e = 0; e < elems; ++e)
        if (!std::isfinite(p[e]))
          return Error{
              fmt::format("{} '{}'{} produced a non-finite value ({})", opName(nd.op), nd.name,
                          nd.loc.valid() ? fmt::format(" (line {})", nd.loc.line) : "", p[e])};
    }
  return okStatus();
}

Status JitBackend::run(Role upTo, int64_t n, TensorMap *outputs) {
  if (outputs)
    for (ValueId o : g_.outputs) {
      Tensor &t = (*outputs)[g_[o].name];
      t.shape = g_[o].type.dims;
      if (g_[o].type.batched) t.shape.insert(t.shape.begin(), n);
      t.data.assign(size_t(t.elements()), 0.0f);
    }
  // Batched kernels run once per micro-batch (weight gradients and losses accumulate across
  // them); the unbatched ones (updates) once at the end.
  for (int64_t first = 0; first < n; first += ncap_) {
    int64_t count = std::min(ncap_, n - first);
    copyInputs(first, count);
    for (size_t i = 0; i < kernels_.size(); ++i) {
      if (kernels_[i].role > upTo || (!plan_.kernels[i].batched && microBatching_)) continue;
      if (Status s = runKernel(i, n, count, first > 0); !s) return s;
    }
    if (outputs)
      for (ValueId o : g_.outputs) {
        int64_t per = g_[o].type.elements();
        const float *p = valuePtr(o);
        Tensor &t = (*outputs)[g_[o].name];
        if (g_[o].type.batched)
          std::copy(p, p + count * per, t.data.data() + first * per);
        else
          std::copy(p, p + per, t.data.data());
      }
  }
  if (microBatching_)
    for (size_t i = 0; i < kernels_.size(); ++i) {
      if (kernels_[i].role > upTo || plan_.kernels[i].batched) continue;
      if (Status s = runKernel(i, n, n, false); !s) return s;
    }
  if (upTo == Role::Update) {
    std::set<ValueId> counters;
    for (ValueId u : g_.updates)
      if (g_[u].op == OpKind::AdamUpdate && g_[u].inputs.size() > 4)
        counters.insert(g_[u].inputs[4]);
    for (ValueId c : counters) *fixedPtr(c) += 1;
  }
  return okStatus();
}

double JitBackend::lossValue() const {
  return g_.loss == kNoValue || plan_.offsets[size_t(g_.loss)] < 0 ? 0.0
                                                                   : double(*fixedPtr(g_.loss));
}

Result<double> JitBackend::evaluate(const TensorMap &inputs, int64_t n, TensorMap *outputs) {
  if (Status s = bindInputs(inputs, n); !s) return Error{s.error()};
  if (Status s = run(Role::Forward, n, outputs); !s) return Error{s.error()};
  return lossValue();
}

Result<double> JitBackend::gradients(const TensorMap &inputs, int64_t n, TensorMap &grads) {
  if (g_.grads.empty())
    return Error{"the graph has no gradients (run the decompose and autodiff passes)"};
  if (Status s = bindInputs(inputs, n); !s) return Error{s.error()};
  if (Status s = run(Role::Backward, n, nullptr); !s) return Error{s.error()};
  for (auto [x, d] : g_.grads) {
    if (g_[d].type.batched) return Error{"input gradients are not supported by the JIT backend"};
    grads[g_[x].name] = read(d, n);
  }
  return lossValue();
}

Result<double> JitBackend::trainStep(const TensorMap &inputs, int64_t n) {
  if (g_.updates.empty()) return Error{"the graph has no optimizer updates (run autodiff)"};
  if (Status s = bindInputs(inputs, n); !s) return Error{s.error()};
  if (Status s = run(Role::Update, n, nullptr); !s) return Error{s.error()};
  return lossValue();
}

double JitBackend::compileSeconds() const {
  double s = 0;
  for (const Stage &st : stages_) s += st.seconds;
  return s;
}

double JitBackend::stepFlops(int64_t n) const {
  double f = 0;
  for (const KernelInfo &k : kernels_) f += k.flopsPerExample * double(n) + k.flopsFixed;
  return f;
}

std::string JitBackend::timeReport() const {
  std::string r = "compile time:\n";
  for (const Stage &st : stages_)
    r += fmt::format("  {:<22} {:8.2f} ms{}\n{}", st.name, st.seconds * 1e3, st.note, st.lines);
  r += fmt::format("  {:<22} {:8.2f} ms ({} kernels)\n", "total", compileSeconds() * 1e3,
                   kernels_.size());
  return r;
}

std::string JitBackend::profileReport() const {
  std::vector<size_t> order(kernels_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return kernelSeconds_[a] > kernelSeconds_[b]; });
  double total = 0, flops = 0;
  for (size_t i = 0; i < kernels_.size(); ++i) {
    total += kernelSeconds_[i];
    flops += kernelFlops_[i];
  }
  std::string r = fmt::format("kernel time: {:.3f} s total, {:.2f} GFLOP/s\n", total,
                              total > 0 ? flops / total * 1e-9 : 0.0);
  for (size_t i : order)
    r += fmt::format("  {:<58} {:8.3f} s {:5.1f}% {:7.2f} GFLOP/s\n", kernels_[i].name,
                     kernelSeconds_[i], total > 0 ? 100 * kernelSeconds_[i] / total : 0.0,
                     kernelSeconds_[i] > 0 ? kernelFlops_[i] / kernelSeconds_[i] * 1e-9 : 0.0);
  return r;
}

} // namespace nnc
