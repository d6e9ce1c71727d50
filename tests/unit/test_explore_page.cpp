// nnc explore, run as the executable: the page is one self-contained file (no external
// resource, a Content-Security-Policy that forbids loading any), its SVG has a node per drawn
// layer, and its inline data holds each layer's numbers and arithmetic and each kernel's
// layers and code; a model without a loss gets the model stages only.
#include "TestUtil.h"

#include <doctest/doctest.h>
#include <llvm/Support/JSON.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

namespace json = llvm::json;

namespace {

int runNnc(const std::string &args, std::string &out) {
  std::string cmd = std::string(NNC_BINARY) + " " + args + " 2>&1";
  FILE *p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

size_t countOf(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

/// Writes the page of examples/MODEL and returns its text.
std::string page(const std::string &model, const nnc::test::TempDir &tmp) {
  std::string html = (tmp.path / (model + ".html")).string(), out;
  REQUIRE(
      runNnc(std::string("explore ") + NNC_SOURCE_DIR + "/examples/" + model + ".nn --out " + html,
             out) == 0);
  CHECK(out.find("wrote " + html) == 0);
  std::ifstream in(html, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json::Value pageData(const std::string &html) {
  const std::string open = "<script id=\"nnc-data\" type=\"application/json\">";
  size_t from = html.find(open);
  REQUIRE(from != std::string::npos);
  from += open.size();
  size_t to = html.find("</script>", from);
  REQUIRE(to != std::string::npos);
  llvm::Expected<json::Value> v = json::parse(html.substr(from, to - from));
  REQUIRE(bool(v));
  return std::move(*v);
}

const json::Object *layerNamed(const json::Object &data, const std::string &name) {
  for (const json::Value &l : *data.getArray("layers"))
    if (l.getAsObject()->getString("name") == name) return l.getAsObject();
  return nullptr;
}

} // namespace

TEST_CASE("nnc explore: the autoencoder's page is self-contained and holds every stage") {
  nnc::test::TempDir tmp("nnc_test_explore_");
  std::string html = page("autoencoder", tmp);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html.find("default-src 'none'") != std::string::npos);
  for (const char *external : {" src=", "<link", "url(", "@import", "https://"})
    CHECK_MESSAGE(html.find(external) == std::string::npos, external);
  // The only URLs are XML namespace names (SVG, XLink), which are never fetched.
  CHECK(countOf(html, "http://") == countOf(html, "http://www.w3.org/2000/svg") +
                                        countOf(html, "http://www.w3.org/1999/xlink"));
  json::Value v = pageData(html);
  const json::Object &data = *v.getAsObject();
  CHECK(data.getInteger("params") == 3369);
  CHECK(data.getArray("layers")->size() == 15); // the input, 13 layers, the loss
  CHECK(countOf(html, "class=\"node\"") == 15);
  const json::Object *conv = layerNamed(data, "conv2d");
  REQUIRE(conv);
  CHECK(conv->getInteger("params") == 160);
  CHECK(conv->getString("shape") == "(None, 28, 28, 16)");
  CHECK(conv->getInteger("line") == 11);
  CHECK(conv->getInteger("macs") == 112896);
  const json::Array &explain = *conv->getArray("explain");
  REQUIRE(explain.size() == 4);
  CHECK(explain[1].getAsString() == "params = 3 x 3 x 1 x 16 + 16 = 160");
  const json::Object &stages = *data.getObject("stages");
  for (const char *stage : {"tokens", "ast", "ir", "grad", "fused", "memory"})
    CHECK_MESSAGE(!stages.getString(stage).value_or("").empty(), stage);
  const json::Array &kernels = *data.getArray("kernels");
  CHECK(kernels.size() == 46);
  const json::Object &k0 = *kernels[0].getAsObject();
  CHECK(k0.getString("name") == "k0_conv2d_relu_28x28x16");
  CHECK((*k0.getArray("layers"))[0].getAsString() == "conv2d");
  CHECK(k0.getString("llvm")->contains("define internal void @k0_conv2d_relu_28x28x16.body("));
  CHECK(k0.getString("llvmOpt")->contains("define void @k0_conv2d_relu_28x28x16("));
  CHECK(k0.getString("asm")->contains("k0_conv2d_relu_28x28x16:"));
  CHECK(!k0.getString("asm")->contains("k1_maxpool2d"));
}

TEST_CASE("nnc explore: a kernel whose body is shared shows that body with its own wrapper") {
  nnc::test::TempDir tmp("nnc_test_explore_");
  std::string model = (tmp.path / "chain.nn").string(), html = (tmp.path / "chain.html").string();
  std::ofstream(model) << "model chain\ninput x: [8]\nh = dense(x, units=8, activation=relu)\n"
                          "h = dense(h, units=8, activation=relu)\ny = dense(h, units=8)\n"
                          "output y\nloss mse(y, x)\n";
  std::string out;
  REQUIRE(runNnc("explore " + model + " --out " + html, out) == 0);
  std::ifstream in(html, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  json::Value v = pageData(ss.str());
  const json::Object &k1 = *(*v.getAsObject()->getArray("kernels"))[1].getAsObject();
  CHECK(k1.getString("name") == "k1_dense_relu_8");
  CHECK(k1.getString("body") == "k0_dense_relu_8.body");
  CHECK(k1.getString("llvm")->contains("define internal void @k0_dense_relu_8.body("));
  CHECK(k1.getString("llvm")->contains("define void @k1_dense_relu_8("));
  CHECK(!k1.getString("llvm")->contains("@k2_"));
  CHECK(k1.getString("asm")->contains("k1_dense_relu_8:"));
}

TEST_CASE("nnc explore: a model without a loss has the model stages and no kernels") {
  nnc::test::TempDir tmp("nnc_test_explore_");
  json::Value v = pageData(page("boxes", tmp));
  const json::Object &data = *v.getAsObject();
  CHECK(data.getArray("kernels")->empty());
  CHECK(!data.getObject("stages")->getString("grad"));
  const json::Object *dense = layerNamed(data, "dense");
  REQUIRE(dense);
  CHECK(dense->getString("weights") == "kernel (2, 1)");
}

TEST_CASE("nnc explore --run: the checkpoint's curve, reconstructions and first filters") {
  nnc::test::TempDir tmp("nnc_test_explore_");
  std::string data = (tmp.path / "data").string(), run = (tmp.path / "run").string(), out;
  REQUIRE(nnc::test::writeSmallMnist(data, 256, 16).empty());
  std::string model = std::string(NNC_SOURCE_DIR) + "/examples/autoencoder.nn";
  REQUIRE(
      runNnc("train " + model + " --epochs 2 --batch 64 --data " + data + " --checkpoint " + run,
             out) == 0);
  std::string html = (tmp.path / "page.html").string();
  out.clear();
  REQUIRE_MESSAGE(
      runNnc("explore " + model + " --run " + run + " --data " + data + " --out " + html, out) == 0,
      out);
  std::ifstream in(html, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str().find("uPlot 1.6.32 (npm uplot@1.6.32), inlined under its licence") !=
        std::string::npos);
  json::Value v = pageData(ss.str());
  const json::Object &r = *v.getAsObject()->getObject("run");
  CHECK(r.getInteger("epoch") == 2);
  CHECK(r.getString("optimizer") == "adadelta");
  const json::Object &history = *r.getObject("history");
  CHECK(history.getArray("epoch")->size() == 2);
  CHECK(history.getArray("val_loss")->size() == 2);
  const json::Object &filters = *r.getObject("filters");
  CHECK(filters.getString("layer") == "conv2d");
  CHECK(filters.getArray("images")->size() == 16);
  const json::Object &recon = *r.getObject("reconstructions");
  CHECK(recon.getInteger("count") == 10);
  CHECK(recon.getString("image")->starts_with("data:image/png;base64,iVBORw0KGgo"));

  out.clear();
  CHECK(runNnc(std::string("explore ") + NNC_SOURCE_DIR +
                   "/examples/autoencoder_transpose.nn --run " + run + " --out " + html,
               out) == 1);
  CHECK(out.find("nnc: error: --run " + run + ": checkpoint '") == 0);
  CHECK(out.find("was written by model 'autoencoder'") != std::string::npos);
  out.clear();
  CHECK(runNnc("explore " + model + " --run " + (tmp.path / "none").string(), out) == 1);
  CHECK(out.find("nnc: error: --run ") == 0);
}

TEST_CASE("nnc explore --run: a classifier's accuracy curves, and no reconstructions") {
  nnc::test::TempDir tmp("nnc_test_explore_");
  std::string data = (tmp.path / "data").string(), run = (tmp.path / "run").string(), out;
  REQUIRE(nnc::test::writeSmallMnist(data, 128, 16).empty());
  std::string model = std::string(NNC_SOURCE_DIR) + "/examples/mnist_cnn.nn";
  REQUIRE(runNnc("train " + model + " --epochs 1 --data " + data + " --checkpoint " + run, out) ==
          0);
  std::string html = (tmp.path / "page.html").string();
  out.clear();
  REQUIRE_MESSAGE(
      runNnc("explore " + model + " --run " + run + " --data " + data + " --out " + html, out) == 0,
      out);
  std::ifstream in(html, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  json::Value v = pageData(ss.str());
  const json::Object &r = *v.getAsObject()->getObject("run");
  const json::Object &history = *r.getObject("history");
  REQUIRE(history.getArray("accuracy"));
  CHECK(history.getArray("accuracy")->size() == 1);
  double accuracy = *(*history.getArray("val_accuracy"))[0].getAsNumber();
  CHECK(accuracy >= 0);
  CHECK(accuracy <= 1);
  CHECK(r.getObject("reconstructions")->empty()); // 10 class scores are not an image
  CHECK(r.getObject("filters")->getArray("images")->size() == 8);
}

TEST_CASE("nnc explore --profile: a time, FLOPs and layers per kernel") {
  nnc::test::TempDir tmp("nnc_test_explore_");
  std::string html = (tmp.path / "page.html").string(), out;
  std::string model = std::string(NNC_SOURCE_DIR) + "/examples/autoencoder_transpose.nn";
  REQUIRE(runNnc("explore " + model + " --profile --steps 2 --out " + html, out) == 0);
  std::ifstream in(html, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  json::Value v = pageData(ss.str());
  const json::Object &data = *v.getAsObject();
  const json::Object &p = *data.getObject("profile");
  CHECK(p.getInteger("steps") == 2);
  CHECK(p.getInteger("batch") == 256);
  CHECK(*p.getNumber("stepSeconds") > 0);
  const json::Array &rows = *p.getArray("kernels"), &kernels = *data.getArray("kernels");
  REQUIRE(rows.size() == kernels.size());
  double seconds = 0, flops = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const json::Object &r = *rows[i].getAsObject();
    CHECK(r.getString("name") == kernels[i].getAsObject()->getString("name"));
    CHECK(!r.getArray("layers")->empty());
    CHECK(*r.getNumber("seconds") >= 0);
    seconds += *r.getNumber("seconds");
    flops += *r.getNumber("flops");
  }
  CHECK(seconds > 0);
  CHECK(seconds <= *p.getNumber("stepSeconds") * 1.01);
  CHECK(flops == doctest::Approx(*p.getNumber("stepFlops")).epsilon(1e-9));
  out.clear();
  CHECK(runNnc("explore " + model + " --profile --steps 0", out) == 2);
  CHECK(out == "nnc: error: --steps: expected a whole number from 1 to 1000, found 0\n");
  out.clear();
  CHECK(runNnc(std::string("explore ") + NNC_SOURCE_DIR + "/examples/boxes.nn --profile --out " +
                   html,
               out) == 1);
  CHECK(out == "nnc: error: --profile: the model has no loss statement: nothing to train\n");
}

TEST_CASE("nnc explore: errors of the model are its diagnostics") {
  std::string out;
  CHECK(runNnc(std::string("explore ") + NNC_SOURCE_DIR +
                   "/examples/broken/kernel_too_big.nn --out /nonexistent/x.html",
               out) == 1);
  CHECK(out.find("kernel_too_big.nn:4:5: error: conv2d: a 5x5 kernel") != std::string::npos);
}
