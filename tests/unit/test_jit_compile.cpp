// Parallel compilation of the JIT: kernels spread over shards keep their IR and their results
// bit for bit; shards are balanced by instruction count; `nnc train --no-fuse` trains like
// the fused default. Compile work is linear in depth: a deeper model has more kernels and
// shards, never bigger ones, and plan-memory's first fit places buffers as the plain
// quadratic first fit would.
#include "test_jit_util.h"

#include "TestUtil.h"
#include "passes/Pipeline.h"
#include "runtime/Idx.h"

#include <fmt/format.h>

#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <sys/wait.h>

using namespace nnc;
using namespace nnc::jittest;

namespace {

/// A fused, memory-planned training graph and its kernel plan.
struct Planned {
  Graph graph;
  KernelPlan plan;
};

/// The fused, memory-planned training graph of `src`; the memory report goes to `report`.
Planned plannedSource(const std::string &src, std::string *report = nullptr) {
  std::optional<Graph> g = trainingGraph(src);
  REQUIRE(g.has_value());
  PassContext ctx;
  REQUIRE(runPasses(*g, ctx, backendPasses()).ok());
  if (report) *report = ctx.memoryReport;
  return {*g, ctx.plan};
}

/// The fused, memory-planned training graph of an example model.
Planned plannedGraph(const std::string &file) {
  return plannedSource(readSource(file));
}

/// The text of kernel `k`'s wrapper and body in `m`, without attribute-group numbers (those
/// depend on the other functions of the module), plus their function attributes.
std::string kernelText(const llvm::Module &m, const KernelInfo &k) {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (const std::string &f : {k.name, k.body}) {
    const llvm::Function *fn = m.getFunction(f);
    REQUIRE_MESSAGE(fn, f << " is missing");
    fn->print(os);
    os << fn->getAttributes().getAsString(llvm::AttributeList::FunctionIndex) << "\n";
  }
  return std::regex_replace(os.str(), std::regex(" #[0-9]+"), "");
}

/// A chain of `layers` dense layers of 16 units (an autoencoder of 16 values).
std::string denseChain(int layers) {
  std::string src = "model chain\ninput x: [16]\nh = dense(x, units=16, activation=relu)\n";
  for (int i = 1; i < layers; ++i) src += "h = dense(h, units=16, activation=relu)\n";
  return src + "y = dense(h, units=16, activation=sigmoid)\noutput y\n"
               "loss binary_crossentropy(y, x)\ntrain optimizer=adam\n";
}

/// IR instructions of each kernel of `code` (wrapper, and body where it is defined), in
/// schedule order.
std::vector<int64_t> kernelSizes(const GeneratedCode &code) {
  std::vector<int64_t> sizes;
  for (const KernelInfo &k : code.kernels) {
    int64_t n = 0;
    for (const CodeShard &s : code.shards)
      for (const std::string &f : {k.name, k.name + ".body"})
        if (const llvm::Function *fn = s.module->getFunction(f)) n += fn->getInstructionCount();
    sizes.push_back(n);
  }
  return sizes;
}

/// One buffer of a memory report: "%name offset O size S live B..E".
struct PlannedBuffer {
  ValueId v;
  int64_t offset, size;
  int begin, end; // kernel positions; -1 for "start", INT_MAX for "end"
};

/// The buffers of each region of a memory report (batched, then fixed).
std::vector<std::vector<PlannedBuffer>> plannedBuffers(const Graph &g, const std::string &report) {
  std::vector<std::vector<PlannedBuffer>> regions;
  std::regex line(R"(%(\S+) +offset +(\d+) size +(\d+) +live (\w+)\.\.(\w+))");
  auto when = [](const std::string &w) {
    return w == "start" ? -1 : w == "end" ? INT_MAX : std::stoi(w.substr(1));
  };
  std::istringstream in(report);
  for (std::string text; std::getline(in, text);) {
    if (text.find(" region (") != std::string::npos) regions.emplace_back();
    std::smatch m;
    if (!std::regex_search(text, m, line)) continue;
    REQUIRE(!regions.empty());
    ValueId v = g.find(m[1]);
    REQUIRE_MESSAGE(v != kNoValue, m[1]);
    regions.back().push_back(
        {v, std::stoll(m[2]), std::stoll(m[3]), when(m[4].str()), when(m[5].str())});
  }
  return regions;
}

/// Buffers in the order plan-memory places them: by birth, then by value id.
std::vector<PlannedBuffer> byBirth(std::vector<PlannedBuffer> bufs) {
  std::stable_sort(bufs.begin(), bufs.end(), [](const PlannedBuffer &a, const PlannedBuffer &b) {
    return std::pair(a.begin, a.v) < std::pair(b.begin, b.v);
  });
  return bufs;
}

/// Offsets of first fit done the plain way, for buffers in order of birth: each at the lowest
/// 64-byte aligned offset clear of every buffer before it whose lifetime meets its own.
std::vector<int64_t> plainFirstFit(const std::vector<PlannedBuffer> &bufs) {
  std::vector<int64_t> offsets;
  for (size_t i = 0; i < bufs.size(); ++i) {
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j = 0; j < i; ++j)
      if (bufs[j].begin <= bufs[i].end && bufs[i].begin <= bufs[j].end)
        busy.push_back({offsets[j], offsets[j] + bufs[j].size});
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    for (auto [lo, hi] : busy) {
      if (off + bufs[i].size <= lo) break;
      off = std::max(off, (hi + 63) / 64 * 64);
    }
    offsets.push_back(off);
  }
  return offsets;
}

} // namespace

TEST_CASE("a deeper model has more kernels and shards, not bigger ones") {
  Planned shallow = plannedSource(denseChain(8)), deep = plannedSource(denseChain(16));
  // One update kernel per parameter: no function holds every parameter's update.
  for (const Graph *g : {&shallow.graph, &deep.graph}) {
    std::set<int> updateKernels;
    for (ValueId u : g->updates) updateKernels.insert((*g)[u].kernel);
    CHECK(updateKernels.size() == g->updates.size());
  }
  Result<GeneratedCode> a = generateKernels(shallow.graph, shallow.plan),
                        b = generateKernels(deep.graph, deep.plan);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  std::vector<int64_t> sa = kernelSizes(*a), sb = kernelSizes(*b);
  CHECK(*std::max_element(sb.begin(), sb.end()) == *std::max_element(sa.begin(), sa.end()));
  // Twice the layers: at most twice the IR (the output layer's kernels do not double).
  CHECK(b->shards[0].instructions <= 2 * a->shards[0].instructions);
  CHECK(b->kernels.size() <= 2 * a->kernels.size());
  // Shards of about `per` IR instructions, a multiple of the thread count.
  const int64_t per = 400;
  Result<GeneratedCode> sharded = generateKernels(deep.graph, deep.plan, 2, per);
  REQUIRE(sharded.ok());
  int64_t total = b->shards[0].instructions, largest = *std::max_element(sb.begin(), sb.end());
  size_t want = size_t(2 * ((total + 2 * per - 1) / (2 * per)));
  CHECK(sharded->shards.size() == want);
  for (const CodeShard &s : sharded->shards)
    CHECK(s.instructions <= total / int64_t(want) + largest);
  // A model smaller than one shard per thread keeps one shard per thread.
  Result<GeneratedCode> few = generateKernels(shallow.graph, shallow.plan, 2, total * 10);
  REQUIRE(few.ok());
  CHECK(few->shards.size() == 2);
}

TEST_CASE("plan-memory places every buffer where plain first fit would") {
  for (const std::string &src :
       {readSource("examples/autoencoder.nn"), readSource("examples/autoencoder_transpose.nn"),
        readSource("examples/mnist_cnn.nn"), denseChain(20)}) {
    std::string report;
    const Graph g = plannedSource(src, &report).graph;
    INFO(g.name);
    std::vector<std::vector<PlannedBuffer>> regions = plannedBuffers(g, report);
    REQUIRE(regions.size() == 2);
    for (const std::vector<PlannedBuffer> &region : regions) {
      REQUIRE(!region.empty());
      std::vector<PlannedBuffer> bufs = byBirth(region);
      std::vector<int64_t> want = plainFirstFit(bufs);
      for (size_t i = 0; i < bufs.size(); ++i) {
        INFO(g[bufs[i].v].name);
        CHECK(bufs[i].offset == want[i]);
      }
    }
  }
}

TEST_CASE("the kernel plan holds the kernels, buffers and offsets the dumps show") {
  for (const char *file : {"examples/autoencoder.nn", "examples/mnist_cnn.nn"})
    for (bool fused : {true, false}) {
      INFO(file << (fused ? "" : " --no-fuse"));
      std::optional<Graph> g = trainingGraph(readSource(file));
      REQUIRE(g.has_value());
      PassContext ctx;
      ctx.fuse = fused;
      REQUIRE(runPasses(*g, ctx, backendPasses()).ok());
      const KernelPlan &plan = ctx.plan;
      REQUIRE(plan.covers(g->size()));
      // --emit=memory lists exactly the stored values (updates write their parameter's
      // buffer), each at its planned offset; each region's end is the arena's size.
      std::vector<std::vector<PlannedBuffer>> regions = plannedBuffers(*g, ctx.memoryReport);
      REQUIRE(regions.size() == 2);
      std::set<ValueId> listed;
      int64_t ends[2] = {0, 0};
      for (size_t r = 0; r < 2; ++r)
        for (const PlannedBuffer &b : regions[r]) {
          CHECK(plan.offsets[size_t(b.v)] == b.offset);
          CHECK((*g)[b.v].type.batched == (r == 0));
          ends[r] = std::max(ends[r], b.offset + b.size);
          listed.insert(b.v);
        }
      std::set<ValueId> stored;
      for (ValueId v = 0; v < ValueId(g->size()); ++v) {
        bool update = opClass((*g)[v].op) == OpClass::Update;
        if (plan.stored[size_t(v)] && !update) stored.insert(v);
        if (update) CHECK(plan.offsets[size_t(v)] == plan.offsets[size_t((*g)[v].inputs[0])]);
        if (!plan.stored[size_t(v)]) CHECK(plan.offsets[size_t(v)] == -1);
      }
      CHECK(listed == stored);
      CHECK(plan.arena.batchedBytesPerExample == ends[0]);
      CHECK(plan.arena.fixedBytes == ends[1]);
      // --emit=fused lists the plan's kernels, roots starred, inlined nodes last.
      std::string kernels;
      for (const KernelGroup &k : plan.kernels) {
        kernels += fmt::format("kernel {}:", k.id);
        for (ValueId m : k.members)
          kernels +=
              fmt::format(" {}{}(%{})", m == k.root ? "*" : "", opName((*g)[m].op), (*g)[m].name);
        for (ValueId m : k.inlined)
          kernels += fmt::format(" +inlined {}(%{})", opName((*g)[m].op), (*g)[m].name);
        kernels += "\n";
      }
      CHECK(ctx.fusionReport.find(kernels) != std::string::npos);
      // Batch reductions: stored members packed into the partial buffer in member order.
      for (const KernelGroup &k : plan.kernels) {
        int64_t next = 0;
        for (const BatchSum &r : k.reductions) {
          CHECK(std::count(k.members.begin(), k.members.end(), r.value) == 1);
          CHECK(plan.stored[size_t(r.value)]);
          CHECK(r.partialOffset == next);
          CHECK(r.elements == (*g)[r.value].type.elements());
          next += r.elements;
        }
        CHECK(k.partialFloats == next);
      }
    }
}

TEST_CASE("codegen addresses buffers at the plan's offsets, not at offsets of its own") {
  Planned p = plannedSource(denseChain(2));
  // Move every unbatched buffer 4 KiB up: the wrappers reading the parameters must follow.
  for (ValueId v = 0; v < ValueId(p.graph.size()); ++v)
    if (!p.graph[v].type.batched && p.plan.offsets[size_t(v)] >= 0)
      p.plan.offsets[size_t(v)] += 4096;
  p.plan.arena.fixedBytes += 4096;
  Result<GeneratedCode> code = generateKernels(p.graph, p.plan);
  REQUIRE(code.ok());
  std::string text;
  llvm::raw_string_ostream os(text);
  code->shards.front().module->print(os, nullptr);
  REQUIRE(!p.graph.params.empty());
  for (ValueId w : p.graph.params) {
    INFO(p.graph[w].name);
    CHECK(text.find(fmt::format("getelementptr inbounds i8, ptr %fixed, i64 {}\n",
                                p.plan.offsets[size_t(w)])) != std::string::npos);
  }
  // A plan made for another graph is refused.
  KernelPlan other = plannedSource(denseChain(3)).plan;
  Result<GeneratedCode> wrong = generateKernels(p.graph, other);
  REQUIRE(!wrong.ok());
  CHECK(wrong.error().find("kernel plan of this graph") != std::string::npos);
}

TEST_CASE("sharded code generation keeps every kernel's IR and balances the shards") {
  const Planned p = plannedGraph("examples/autoencoder_transpose.nn");
  Result<GeneratedCode> one = generateKernels(p.graph, p.plan, 1);
  REQUIRE(one.ok());
  REQUIRE(one->shards.size() == 1);
  const size_t kernels = one->kernels.size();
  REQUIRE(kernels > 3);
  CHECK(one->shards[0].kernels.size() == kernels);
  for (int count : {2, 3}) {
    INFO("shards " << count);
    Result<GeneratedCode> many = generateKernels(p.graph, p.plan, count);
    REQUIRE(many.ok());
    REQUIRE(many->shards.size() == size_t(count));
    REQUIRE(many->kernels.size() == kernels);
    int64_t total = 0, largest = 0;
    std::set<size_t> seen;
    for (const CodeShard &s : many->shards) {
      CHECK(std::is_sorted(s.kernels.begin(), s.kernels.end()));
      total += s.instructions;
      for (size_t i : s.kernels) {
        CHECK(seen.insert(i).second);
        const KernelInfo &a = one->kernels[i], &b = many->kernels[i];
        CHECK(a.name == b.name);
        CHECK(a.role == b.role);
        CHECK(a.body == b.body);
        std::string want = kernelText(*one->shards[0].module, a);
        CHECK_MESSAGE(kernelText(*s.module, b) == want, a.name << " differs");
        // No other shard defines this kernel.
        for (const CodeShard &o : many->shards)
          if (&o != &s) CHECK(o.module->getFunction(b.name) == nullptr);
      }
    }
    CHECK(seen.size() == kernels);
    CHECK(total == one->shards[0].instructions);
    // Largest kernel first onto the lightest shard: no shard exceeds the mean by more than
    // the largest kernel.
    for (int64_t n : kernelSizes(*one)) largest = std::max(largest, n);
    for (const CodeShard &s : many->shards) CHECK(s.instructions <= total / count + largest);
  }
  // More shards than bodies: one body (with the kernels that share it) each.
  std::set<std::string> bodies;
  for (const KernelInfo &k : one->kernels) bodies.insert(k.body);
  Result<GeneratedCode> most = generateKernels(p.graph, p.plan, int(kernels) + 5);
  REQUIRE(most.ok());
  CHECK(most->shards.size() == bodies.size());
}

TEST_CASE("kernels with identical bodies share one, compiled once, and train as before") {
  // A chain of 12 equal layers: each layer's forward, input- and kernel-gradient kernels and
  // the updates of its [16, 16] kernel and [16] bias are the same loops over the same shapes.
  const Planned chain12 = plannedSource(denseChain(12));
  Result<GeneratedCode> code = generateKernels(chain12.graph, chain12.plan, 2);
  REQUIRE(code.ok());
  std::set<std::string> bodies;
  for (const KernelInfo &k : code->kernels) bodies.insert(k.body);
  INFO(code->kernels.size() << " kernels, " << bodies.size() << " bodies");
  CHECK(bodies.size() < code->kernels.size() / 4);
  for (const KernelInfo &k : code->kernels) {
    int defined = 0;
    for (const CodeShard &s : code->shards) {
      const llvm::Function *body = s.module->getFunction(k.body);
      if (!body) continue;
      ++defined;
      // The wrapper is in the same module and calls it; a shared body is never inlined.
      REQUIRE(s.module->getFunction(k.name));
      CHECK(body->hasFnAttribute(llvm::Attribute::NoInline) == (body->getNumUses() > 1));
    }
    CHECK(defined == 1);
  }
  // The lecture's model: its same-shaped parameters' updates share bodies too.
  const Planned autoencoder = plannedGraph("examples/autoencoder.nn");
  Result<GeneratedCode> lecture = generateKernels(autoencoder.graph, autoencoder.plan);
  REQUIRE(lecture.ok());
  std::set<std::string> lectureBodies;
  for (const KernelInfo &k : lecture->kernels) lectureBodies.insert(k.body);
  CHECK(lectureBodies.size() < lecture->kernels.size());
  // Shared bodies compute what the interpreter does, layer by layer.
  std::optional<Graph> chain = trainingGraph(denseChain(12));
  REQUIRE(chain.has_value());
  compareWithInterpreter(*chain, JitOptions{2, true}, 5, 11);
}

TEST_CASE("kernels compiled on several threads train bit-identically to one shard") {
  std::optional<Graph> g = trainingGraph(readSource("examples/mnist_cnn.nn"));
  REQUIRE(g.has_value());
  auto train = [&](int threads) {
    Result<std::unique_ptr<JitBackend>> j = JitBackend::create(*g, JitOptions{threads, true});
    REQUIRE_MESSAGE(j.ok(), j.error());
    std::string report = (*j)->timeReport();
    INFO(report);
    CHECK(report.find(std::to_string(threads) + " shards in parallel") != std::string::npos);
    REQUIRE((*j)->setTensors(initialTensors(*g, 5)).ok());
    for (int step = 0; step < 2; ++step)
      REQUIRE((*j)->trainStep(randomInputs(*g, 20, uint64_t(step)), 20).ok());
    return (*j)->tensors();
  };
  TensorMap a = train(1), b = train(3);
  REQUIRE(a.size() == b.size());
  for (const auto &[name, t] : a) {
    INFO(name);
    REQUIRE(b.count(name));
    CHECK(std::memcmp(t.data.data(), b[name].data.data(), t.data.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("nnc train --no-fuse takes the same steps as fused training") {
  test::TempDir dir("test_jit_compile_");
  std::string d = dir.path.string();
  // The first 64 training and 16 test digits of the bundled data as IDX files.
  std::string err = test::writeSmallMnist(d, 64, 16);
  REQUIRE_MESSAGE(err.empty(), err);
  std::ofstream(d + "/small.nn") << "model small\n"
                                    "input x: [28, 28, 1]\n"
                                    "h = conv2d(x, filters=4, kernel=3, padding=same, "
                                    "activation=relu)\n"
                                    "h = maxpool2d(h, pool=2)\n"
                                    "h = flatten(h)\n"
                                    "h = dense(h, 784, activation=sigmoid)\n"
                                    "y = reshape(h, shape=[28, 28, 1])\n"
                                    "output y\n"
                                    "loss binary_crossentropy(y, x)\n"
                                    "train optimizer=adam, lr=0.01, epochs=2, batch=64, seed=3\n";
  // Two epochs of one full-batch step each: the second loss is measured after one update.
  auto train = [&](const std::string &name, const std::string &flags) {
    std::string cmd = std::string(NNC_BINARY) + " train " + d + "/small.nn --data " + d +
                      " --checkpoint " + d + "/" + name + " --csv " + d + "/" + name +
                      ".csv --time-passes " + flags + " >" + d + "/" + name + ".err 2>&1";
    int rc = std::system(cmd.c_str());
    std::ifstream err(d + "/" + name + ".err");
    std::string log((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    INFO(log);
    REQUIRE((WIFEXITED(rc) && WEXITSTATUS(rc) == 0));
    std::smatch m;
    REQUIRE(std::regex_search(log, m, std::regex(R"(\((\d+) kernels\))")));
    int kernels = std::stoi(m[1]);
    std::ifstream csv(d + "/" + name + ".csv");
    std::vector<double> losses;
    for (std::string line; std::getline(csv, line);)
      if (line.rfind("epoch", 0) != 0 && !line.empty())
        losses.push_back(std::stod(line.substr(line.find(',') + 1)));
    REQUIRE(losses.size() == 2);
    return std::make_pair(kernels, losses);
  };
  auto [fusedKernels, fused] = train("fused", "");
  auto [aloneKernels, alone] = train("alone", "--no-fuse");
  CHECK(aloneKernels > fusedKernels);
  CHECK(alone[1] < alone[0]);
  for (size_t e = 0; e < 2; ++e) {
    INFO("epoch " << e + 1 << ": fused " << fused[e] << ", --no-fuse " << alone[e]);
    CHECK(close(alone[e], fused[e]));
  }
}
