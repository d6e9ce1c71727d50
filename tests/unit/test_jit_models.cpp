// The JIT against the reference interpreter on every example model, with fusion on and off
// and with 1 and 2 threads; determinism of training; the fusion and memory reports.
#include "test_jit_util.h"

#include "passes/Fusion.h"

#include <filesystem>

using namespace nnc;
using namespace nnc::jittest;

namespace {

struct Example {
  const char *file;
  int64_t batch;
};

// Every example model; the 1080p one runs forward only on one example (it has no loss).
const Example kExamples[] = {
    {"examples/autoencoder.nn", 3}, {"examples/autoencoder_transpose.nn", 3},
    {"examples/mnist_cnn.nn", 3},   {"examples/dilation.nn", 2},
    {"examples/boxes.nn", 4},       {"examples/boxes_wide.nn", 4},
    {"examples/movie.nn", 1},       {"examples/conv_1080p.nn", 1},
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
    for (bool fuse : {true, false})
      for (int threads : {1, 2}) {
        INFO("fuse " << fuse << " threads " << threads);
        compareWithInterpreter(*g, JitOptions{threads, fuse}, x.batch, 7);
      }
  }
}
