// Parallel compilation of the JIT: kernels spread over shards keep their IR and their results
// bit for bit; shards are balanced by instruction count; `nnc train --no-fuse` trains like
// the fused default.
#include "test_jit_util.h"

#include "TestUtil.h"
#include "passes/Pass.h"
#include "runtime/Idx.h"

#include <llvm/IR/Function.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sys/wait.h>

using namespace nnc;
using namespace nnc::jittest;

namespace {

/// The fused, memory-planned training graph of an example model.
Graph plannedGraph(const std::string &file) {
  std::optional<Graph> g = trainingGraph(readSource(file));
  REQUIRE(g.has_value());
  PassContext ctx;
  REQUIRE(fuse(*g, ctx).ok());
  REQUIRE(planMemory(*g, ctx).ok());
  return *g;
}

/// The text of kernel `name`'s wrapper and body in `m`, without attribute-group numbers (those
/// depend on the other functions of the module), plus their function attributes.
std::string kernelText(const llvm::Module &m, const std::string &name) {
  std::string text;
  llvm::raw_string_ostream os(text);
  for (const std::string &f : {name, name + ".body"}) {
    const llvm::Function *fn = m.getFunction(f);
    REQUIRE_MESSAGE(fn, f << " is missing");
    fn->print(os);
    os << fn->getAttributes().getAsString(llvm::AttributeList::FunctionIndex) << "\n";
  }
  return std::regex_replace(os.str(), std::regex(" #[0-9]+"), "");
}

} // namespace

TEST_CASE("sharded code generation keeps every kernel's IR and balances the shards") {
  Graph g = plannedGraph("examples/autoencoder_transpose.nn");
  Result<GeneratedCode> one = generateKernels(g, 1);
  REQUIRE(one.ok());
  REQUIRE(one->shards.size() == 1);
  const size_t kernels = one->kernels.size();
  REQUIRE(kernels > 3);
  CHECK(one->shards[0].kernels.size() == kernels);
  for (int count : {2, 3}) {
    INFO("shards " << count);
    Result<GeneratedCode> many = generateKernels(g, count);
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
        CHECK(a.partialFloats == b.partialFloats);
        CHECK(a.reductions.size() == b.reductions.size());
        std::string want = kernelText(*one->shards[0].module, a.name);
        CHECK_MESSAGE(kernelText(*s.module, b.name) == want, a.name << " differs");
        // No other shard defines this kernel.
        for (const CodeShard &o : many->shards)
          if (&o != &s) CHECK(o.module->getFunction(b.name) == nullptr);
      }
    }
    CHECK(seen.size() == kernels);
    CHECK(total == one->shards[0].instructions);
    // Largest kernel first onto the lightest shard: no shard exceeds the mean by more than
    // the largest kernel.
    for (const KernelInfo &k : one->kernels) {
      int64_t n = 0;
      for (const std::string &f : {k.name, k.name + ".body"})
        n += int64_t(one->shards[0].module->getFunction(f)->getInstructionCount());
      largest = std::max(largest, n);
    }
    for (const CodeShard &s : many->shards) CHECK(s.instructions <= total / count + largest);
  }
  // More shards than kernels: one kernel each.
  Result<GeneratedCode> most = generateKernels(g, int(kernels) + 5);
  REQUIRE(most.ok());
  CHECK(most->shards.size() == kernels);
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
                      ".csv --time-passes " + flags + " >/dev/null 2>" + d + "/" + name + ".err";
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
