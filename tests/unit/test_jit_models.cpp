// The JIT against the reference interpreter on every example model, with fusion on and off
// and with 1 and 2 threads; determinism of training; the fusion and memory reports.
#include "test_jit_util.h"

#include "passes/Fusion.h"
#include "passes/Pass.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include <filesystem>

using namespace nnc;
using namespace nnc::jittest;

namespace {

struct Example {
  const char *file;
  int64_t batch;
};

// Every example model; the 1080p and movie ones run forward only on one example (no loss).
const Example kExamples[] = {
    {"examples/autoencoder.nn", 3},
    {"examples/autoencoder_transpose.nn", 3},
    {"examples/mnist_cnn.nn", 3},
    {"examples/fashion_cnn.nn", 2},
    {"examples/dilation.nn", 2},
    {"examples/boxes.nn", 4},
    {"examples/boxes_wide.nn", 4},
    {"examples/movie.nn", 1},
    {"examples/conv_1080p.nn", 1},
    {"examples/clip.nn", 1},
    {"examples/bias.nn", 4},
    {"examples/autoencoder_strided.nn", 3},
};

} // namespace

TEST_CASE("every example model is covered by this test") {
  namespace fs = std::filesystem;
  for (const auto &e : fs::directory_iterator(std::string(NNC_SOURCE_DIR) + "/examples")) {
    if (e.path().extension() != ".nn") continue;
    std::string rel = "examples/" + e.path().filename().string();
    bool listed = false;
    for (const Example &x : kExamples) listed = listed || rel == x.file;
    CHECK_MESSAGE(listed, rel << " is not in kExamples");
  }
}

TEST_CASE("JIT matches the interpreter on the example models") {
  for (const Example &x : kExamples) {
    std::string error;
    std::optional<Graph> g = trainingGraph(readSource(x.file), &error);
    INFO(x.file << " " << error);
    REQUIRE(g.has_value());
    // Every model fused on 2 threads and unfused on 1; the lecture's model in all four ways.
    std::vector<JitOptions> ways = {{2, true}, {1, false}};
    if (std::string(x.file) == "examples/autoencoder.nn")
      ways.insert(ways.end(), {{1, true}, {2, false}});
    for (const JitOptions &o : ways) {
      INFO("fuse " << o.fuse << " threads " << o.threads);
      compareWithInterpreter(*g, o, x.batch, 7);
    }
  }
}

TEST_CASE("JIT training is bit-identical across runs and thread counts") {
  std::optional<Graph> g = trainingGraph(readSource("examples/autoencoder_transpose.nn"));
  REQUIRE(g.has_value());
  auto train = [&](int threads) {
    Result<std::unique_ptr<JitBackend>> j = JitBackend::create(*g, JitOptions{threads, true});
    REQUIRE(j.ok());
    REQUIRE((*j)->setTensors(initialTensors(*g, 3)).ok());
    for (int step = 0; step < 3; ++step) {
      // 37 examples: uneven chunks, as in a partial last batch.
      REQUIRE((*j)->trainStep(randomInputs(*g, 37, uint64_t(step)), 37).ok());
    }
    return (*j)->tensors();
  };
  TensorMap a = train(2), b = train(2), c = train(1);
  REQUIRE(a.size() == b.size());
  bool moved = false;
  TensorMap init = initialTensors(*g, 3);
  for (const auto &[name, t] : a) {
    INFO(name);
    CHECK(std::memcmp(t.data.data(), b[name].data.data(), t.data.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(t.data.data(), c[name].data.data(), t.data.size() * sizeof(float)) == 0);
    moved = moved || t.data != init[name].data;
  }
  CHECK(moved);
}

TEST_CASE("fusion forms the lecture model's kernels and the memory plan reuses buffers") {
  std::optional<Graph> g = trainingGraph(readSource("examples/autoencoder.nn"));
  REQUIRE(g.has_value());
  Graph fused = *g;
  PassContext ctx;
  REQUIRE(fuse(fused, ctx).ok());
  REQUIRE(planMemory(fused, ctx).ok());
  INFO(ctx.fusionReport);
  // conv + bias + relu in one kernel; sigmoid, the logits loss and its gradient in the last
  // forward kernel; relu gradients computed once in the loop of their upstream gradient (the
  // non-overlapping max-pool gradient); one update kernel per parameter.
  const Node &h = fused[fused.find("h")];
  CHECK(fused[h.inputs[0]].kernel == h.kernel);
  const Node &y = fused[fused.find("y")];
  CHECK(fused[fused.loss].kernel == y.kernel);
  CHECK(fused[fused.find("d.y.pre")].kernel == y.kernel);
  const Node &dh = fused[fused.find("d.h.pre")];
  CHECK(!dh.inlined);
  CHECK(fused[dh.inputs[1]].op == OpKind::MaxPool2DGrad);
  CHECK(fused[dh.inputs[1]].kernel == dh.kernel);
  std::set<int> updateKernels;
  for (ValueId u : fused.updates) updateKernels.insert(fused[u].kernel);
  CHECK(updateKernels.size() == fused.updates.size());
  CHECK(ctx.fusionReport.find("not fused: relu(%h) -> maxpool2d(%h.1): maxpool2d reads a window") !=
        std::string::npos);
  const KernelPlan &plan = ctx.plan;
  CHECK(plan.kernels.size() - fused.updates.size() < 40); // 68 ops, 14 of them updates
  CHECK(ctx.memoryReport.find("planned vs") != std::string::npos);
  // Buffers with overlapping lifetimes never overlap in memory; some memory is reused.
  int64_t sum = 0;
  for (ValueId v = 0; v < ValueId(fused.size()); ++v)
    if (fused[v].type.batched && plan.offsets[size_t(v)] >= 0) sum += valueBytes(fused[v]);
  CHECK(plan.arena.batchedBytesPerExample < sum);

  Graph alone = *g;
  PassContext off;
  off.fuse = false;
  REQUIRE(fuse(alone, off).ok());
  std::set<int> ids;
  for (const Node &n : alone.nodes)
    if (opClass(n.op) != OpClass::Leaf) ids.insert(n.kernel);
  CHECK(ids.size() ==
        size_t(std::count_if(alone.nodes.begin(), alone.nodes.end(),
                             [](const Node &n) { return opClass(n.op) != OpClass::Leaf; })));
  CHECK(off.fusionReport.find("fusion is off") != std::string::npos);
}

TEST_CASE("an activation gradient after a scatter loop is recomputed by its consumers") {
  // Overlapping pooling windows (pool 3, stride 2) make the max-pool gradient a scatter-add:
  // no element is final inside its loop, so the relu gradient behind it is inlined.
  std::optional<Graph> g = trainingGraph("model m\ninput x: [9, 9, 2]\ninput t: [1]\n"
                                         "h = conv2d(x, filters=3, kernel=3, activation=relu)\n"
                                         "p = maxpool2d(h, pool=3, strides=2)\n"
                                         "f = flatten(p)\n"
                                         "y = dense(f, units=1, activation=sigmoid)\n"
                                         "output y\nloss mse(y, t)\n");
  REQUIRE(g.has_value());
  PassContext ctx;
  REQUIRE(fuse(*g, ctx).ok());
  INFO(ctx.fusionReport);
  const Node &dh = (*g)[g->find("d.h.pre")];
  CHECK(dh.inlined);
  CHECK(ctx.fusionReport.find("+inlined relu_grad(%d.h.pre)") != std::string::npos);
}

TEST_CASE("nnc dump --emit shows the backend stages") {
  std::string file = std::string(NNC_SOURCE_DIR) + "/examples/autoencoder.nn";
  auto run = [&](const std::string &args) {
    std::string cmd = std::string(NNC_BINARY) + " dump " + file + " " + args + " 2>&1";
    std::string out;
    FILE *p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
    CHECK(pclose(p) == 0);
    return out;
  };
  CHECK(run("--emit=fused").find("kernel 0: *conv2d(%h.pre) relu(%h)") != std::string::npos);
  CHECK(run("--emit=fused --no-fuse").find("fusion off") != std::string::npos);
  CHECK(run("--emit=memory").find("peak") != std::string::npos);
  std::string ir = run("--emit=llvm");
  CHECK(ir.find("define void @k0_conv2d_relu_28x28x16(") != std::string::npos);
  CHECK(ir.find("\"nnc-line\"=\"11\"") != std::string::npos);
  // The conv's relu epilogue runs on a row of 16 channels at once; loop counters carry nuw.
  CHECK(ir.find("ogt <16 x float>") != std::string::npos);
  CHECK(ir.find("add nuw nsw i64 %i, 1") != std::string::npos);
  CHECK(run("--emit=llvm-opt").find("<8 x float>") != std::string::npos);
  CHECK(run("--emit=asm").find("vfmadd") != std::string::npos);
}

TEST_CASE("batches larger than a micro-batch accumulate gradients and losses exactly") {
  // 150 examples run as micro-batches of 64, 64 and 22.
  const char *src = "model micro\n"
                    "input x: [6, 6, 2]\n"
                    "input label: [3]\n"
                    "h = conv2d(x, filters=4, kernel=3, padding=same, activation=relu)\n"
                    "h = maxpool2d(h, pool=2)\n"
                    "h = flatten(h)\n"
                    "y = dense(h, units=3, activation=softmax)\n"
                    "loss categorical_crossentropy(y, label)\n"
                    "train optimizer=adam\n";
  std::string error;
  std::optional<Graph> g = trainingGraph(src, &error);
  INFO(error);
  REQUIRE(g.has_value());
  compareWithInterpreter(*g, JitOptions{2, true}, 150, 11);
  compareWithInterpreter(*g, JitOptions{1, false}, 150, 12);
}
