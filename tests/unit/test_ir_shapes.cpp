// Shape rules of every forward op (Keras formulas), parameter counts and output shapes of
// every example, and the analyses (MACs, receptive field, memory).
#include "ir/ShapeRules.h"
#include "passes/Pipeline.h"
#include "passes/Summary.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

using namespace nnc;

namespace {

std::optional<Graph> compile(const std::string &src, std::string *errors = nullptr) {
  DiagEngine d("t.nn", src);
  std::optional<Graph> g = compileSource(src, "t.nn", d);
  if (errors) *errors = d.render();
  return g;
}

std::string readExample(const std::string &name) {
  std::ifstream in(std::string(NNC_SOURCE_DIR) + "/examples/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Output type of the last value of a one-layer model on input `shape`.
std::string shapeOf(const std::string &shape, const std::string &layer) {
  std::string err;
  auto g = compile("model m\ninput x: " + shape + "\ny = " + layer + "\n", &err);
  if (!g) return "error: " + err;
  return (*g)[g->outputs[0]].type.str();
}

std::vector<int64_t> layerParams(const Graph &g) {
  std::vector<int64_t> p;
  for (const Node &n : g.nodes)
    if (n.stats.params) p.push_back(n.stats.params);
  return p;
}

} // namespace

TEST_CASE("conv_output_length and deconv_output_length follow Keras") {
  CHECK(convOutputLength(28, 3, Padding::Same, 1, 1) == 28);
  CHECK(convOutputLength(28, 3, Padding::Valid, 1, 1) == 26);
  CHECK(convOutputLength(7, 2, Padding::Same, 2, 1) == 4);
  CHECK(convOutputLength(7, 2, Padding::Valid, 2, 1) == 3);
  CHECK(convOutputLength(28, 3, Padding::Valid, 1, 2) == 24);
  CHECK(convOutputLength(28, 3, Padding::Valid, 2, 1) == 13);
  CHECK(convOutputLength(3, 5, Padding::Valid, 1, 1) == -1);
  CHECK(deconvOutputLength(3, 3, Padding::Same, 2) == 6);
  CHECK(deconvOutputLength(12, 3, Padding::Valid, 1) == 14);
  CHECK(deconvOutputLength(5, 3, Padding::Valid, 2) == 11);
  CHECK(deconvOutputLength(5, 1, Padding::Valid, 2) == 10);
  CHECK(samePadBefore(28, 28, 3, 1, 1) == 1);
  CHECK(samePadBefore(7, 4, 2, 2, 1) == 0); // the extra row goes at the end
  CHECK(samePadBefore(28, 14, 3, 2, 1) == 0);
  CHECK(samePadBefore(28, 28, 5, 1, 1) == 2);
}

TEST_CASE("conv2d shapes: paddings, strides, dilation") {
  CHECK(shapeOf("[28, 28, 1]", "conv2d(x, filters=16, kernel=3, padding=same)") ==
        "f32[N,28,28,16]");
  CHECK(shapeOf("[28, 28, 1]", "conv2d(x, filters=16, kernel=3)") == "f32[N,26,26,16]");
  CHECK(shapeOf("[28, 28, 1]", "conv2d(x, 4, 3, strides=2)") == "f32[N,13,13,4]");
  CHECK(shapeOf("[28, 28, 1]", "conv2d(x, 4, 3, strides=2, padding=same)") == "f32[N,14,14,4]");
  CHECK(shapeOf("[28, 28, 1]", "conv2d(x, 4, 3, dilation=2)") == "f32[N,24,24,4]");
  CHECK(shapeOf("[28, 28, 1]", "conv2d(x, 4, 3, dilation=2, padding=same)") == "f32[N,28,28,4]");
  CHECK(shapeOf("[28, 20, 3]", "conv2d(x, 4, (3, 5), strides=(1, 2))") == "f32[N,26,8,4]");
  CHECK(shapeOf("[1920, 1080, 3]", "conv2d(x, filters=16, kernel=5, strides=5, use_bias=false)") ==
        "f32[N,384,216,16]");
}

TEST_CASE("conv2d_transpose shapes at strides 1 and 2") {
  CHECK(shapeOf("[3, 3, 4]", "conv2d_transpose(x, filters=8, kernel=3, strides=2, padding=same)") ==
        "f32[N,6,6,8]");
  CHECK(shapeOf("[12, 12, 4]", "conv2d_transpose(x, filters=8, kernel=3)") == "f32[N,14,14,8]");
  CHECK(shapeOf("[5, 5, 4]", "conv2d_transpose(x, 2, 3, strides=2)") == "f32[N,11,11,2]");
  CHECK(shapeOf("[5, 5, 4]", "conv2d_transpose(x, 2, 2, strides=2)") == "f32[N,10,10,2]");
  CHECK(shapeOf("[7, 7, 4]", "conv2d_transpose(x, 2, 3, padding=same)") == "f32[N,7,7,2]");
}

TEST_CASE("pooling, upsampling and reshaping shapes") {
  CHECK(shapeOf("[7, 7, 8]", "maxpool2d(x, pool=2, padding=same)") == "f32[N,4,4,8]");
  CHECK(shapeOf("[7, 7, 8]", "maxpool2d(x)") == "f32[N,3,3,8]");
  CHECK(shapeOf("[11, 11, 8]", "avgpool2d(x, pool=3, strides=2)") == "f32[N,5,5,8]");
  CHECK(shapeOf("[4, 4, 4]", "upsample2d(x, size=2)") == "f32[N,8,8,4]");
  CHECK(shapeOf("[4, 4, 4]", "upsample2d(x, size=(2, 3), interpolation=bilinear)") ==
        "f32[N,8,12,4]");
  CHECK(shapeOf("[4, 4, 4]", "flatten(x)") == "f32[N,64]");
  CHECK(shapeOf("[4, 4, 4]", "reshape(x, shape=[8, -1])") == "f32[N,8,8]");
  CHECK(shapeOf("[4, 1]", "squeeze(x)") == "f32[N,4]");
  CHECK(shapeOf("[1, 4]", "squeeze(x, axis=1)") == "f32[N,4]");
  CHECK(shapeOf("[4, 2]", "dense(x, 3)") == "f32[N,4,3]");
  CHECK(shapeOf("[10]", "softmax(x)") == "f32[N,10]");
  CHECK(shapeOf("[4, 4, 4]", "concat(x, x)") == "f32[N,4,4,8]");
  CHECK(shapeOf("[4, 4, 4]", "concat(x, x, axis=1)") == "f32[N,8,4,4]");
  CHECK(shapeOf("[4, 4, 4]", "add(x, x)") == "f32[N,4,4,4]");
  CHECK(shapeOf("[4, 4, 4]", "tanh(x)") == "f32[N,4,4,4]");
}

TEST_CASE("autoencoder.nn: 3,369 parameters, Keras layer names, output [N,28,28,1]") {
  auto g = compile(readExample("autoencoder.nn"));
  REQUIRE(g);
  CHECK(g->paramCount() == 3369);
  CHECK(layerParams(*g) == std::vector<int64_t>{160, 1160, 292, 148, 296, 1168, 145});
  CHECK((*g)[g->outputs[0]].type.str() == "f32[N,28,28,1]");
  CHECK((*g)[g->outputs[0]].layer == "conv2d_6");
  CHECK(g->find("conv2d_3.kernel") != kNoValue);
  CHECK((*g)[g->find("code")].type.str() == "f32[N,4,4,4]");
  CHECK(g->train.optimizer == "adadelta");
  CHECK(g->train.epochs == 50);
  CHECK(g->train.batch == 256);
}

namespace {

/// Spatial size (height) and parameter count of every layer of a model.
void expectLayers(const std::string &file, const std::vector<int64_t> &sizes,
                  const std::vector<int64_t> &params) {
  auto g = compile(readExample(file));
  REQUIRE(g);
  CHECK(g->paramCount() == 3369);
  std::vector<int64_t> gotSizes, gotParams;
  for (const Node &n : g->nodes)
    if (opClass(n.op) == OpClass::Forward) {
      gotSizes.push_back(n.type.dims[0]);
      gotParams.push_back(n.stats.params);
    }
  CHECK(gotSizes == sizes);
  CHECK(gotParams == params);
}

} // namespace

TEST_CASE("autoencoder_transpose.nn is the lecture's Conv2DTranspose model, layer for layer") {
  expectLayers("autoencoder_transpose.nn", {26, 13, 11, 5, 3, 3, 6, 6, 12, 14, 28, 28},
               {160, 0, 1160, 0, 292, 148, 0, 296, 0, 1168, 0, 145});
}

TEST_CASE("autoencoder_strided.nn: stride-2 transposed convolutions, again 3,369 parameters") {
  expectLayers("autoencoder_strided.nn", {26, 13, 11, 5, 3, 3, 6, 6, 12, 14, 28, 28},
               {160, 0, 1160, 0, 292, 148, 68, 296, 292, 296, 584, 73});
}

TEST_CASE("bias.nn: one bias per unit on top of boxes_wide's 13 weights") {
  auto g = compile(readExample("bias.nn"));
  REQUIRE(g);
  CHECK(g->paramCount() == 13 + 3 + 1 + 1);
}

TEST_CASE("movie.nn: the lecture's movie is (T, C, H, W) = (162000, 1, 1024, 1280)") {
  auto g = compile(readExample("movie.nn"));
  REQUIRE(g);
  CHECK((*g)[g->inputs[0]].type.kerasStr(90 * 60 * 30) == "(162000, 1, 1024, 1280)");
}

TEST_CASE("boxes.nn and boxes_wide.nn") {
  auto g = compile(readExample("boxes.nn"));
  REQUIRE(g);
  std::vector<std::string> shapes;
  for (const Node &n : g->nodes)
    if (n.type.batched) shapes.push_back(n.type.kerasStr(64));
  CHECK(shapes ==
        std::vector<std::string>{"(64, 4, 2)", "(64, 4, 1)", "(64, 4)", "(64, 1)", "(64,)"});
  CHECK(g->paramCount() == 6);
  auto w = compile(readExample("boxes_wide.nn"));
  REQUIRE(w);
  CHECK(w->paramCount() == 13);
  CHECK(layerParams(*w) == std::vector<int64_t>{6, 3, 4});
}

TEST_CASE("conv_1080p.nn: 1,200 and 1,327,104 parameters") {
  auto g = compile(readExample("conv_1080p.nn"));
  REQUIRE(g);
  CHECK(layerParams(*g) == std::vector<int64_t>{1200, 1327104});
  CHECK((*g)[g->find("f")].type.str() == "f32[N,384,216,16]");
  CHECK((*g)[g->find("flat")].type.str() == "f32[N,1327104]");
  CHECK(g->paramCount() == 1328304);
}

TEST_CASE("clip.nn and dilation.nn") {
  auto g = compile(readExample("clip.nn"));
  REQUIRE(g);
  CHECK((*g)[g->find("px")].type.str() == "f32[N,16,64,64,8]");
  CHECK((*g)[g->find("frames")].type.str() == "f32[N,16,32768]");
  CHECK((*g)[g->find("y")].type.str() == "f32[N,10]");
  CHECK(layerParams(*g) == std::vector<int64_t>{32, 1048608, 5130});
  auto d = compile(readExample("dilation.nn"));
  REQUIRE(d);
  std::vector<double> rf;
  for (const Node &n : d->nodes)
    if (n.op == OpKind::Conv2D) rf.push_back(n.stats.rfH);
  CHECK(rf == std::vector<double>{3, 7, 15, 15});
}

TEST_CASE("receptive field and jump of the autoencoder encoder") {
  auto g = compile(readExample("autoencoder.nn"));
  REQUIRE(g);
  const Stats &code = (*g)[g->find("code")].stats;
  CHECK(code.spatial);
  CHECK(code.jumpH == 8);
  CHECK(code.rfH == 3 + 1 + 2 * 2 + 1 * 2 + 2 * 4 + 1 * 4); // conv, pool, conv, pool, conv, pool
  const Stats &up = (*g)[g->find("h.6")].stats;             // first upsample2d
  CHECK(up.jumpH == 4);
}

TEST_CASE("MACs and activation memory") {
  auto g = compile("model m\ninput x: [28, 28, 1]\ny = conv2d(x, 16, 3, padding=same)\n"
                   "z = dense(flatten(y), 10)\n");
  CHECK(!g); // nested calls are not part of the language
  g = compile("model m\ninput x: [28, 28, 1]\ny = conv2d(x, 16, 3, padding=same)\n"
              "f = flatten(y)\nz = dense(f, 10)\nt = conv2d_transpose(x, 2, 3, strides=2)\n");
  REQUIRE(g);
  CHECK((*g)[g->find("y")].stats.macs == 28 * 28 * 16 * 9);
  CHECK((*g)[g->find("z")].stats.macs == 28 * 28 * 16 * 10);
  CHECK((*g)[g->find("t")].stats.macs == 28 * 28 * 1 * 9 * 2);
  CHECK((*g)[g->find("y")].stats.activationBytes == 28 * 28 * 16 * 4);
}

TEST_CASE("global_avgpool2d: [h, w, c] -> [c], Keras's name, and a summary row that wraps") {
  CHECK(shapeOf("[5, 6, 3]", "global_avgpool2d(x)") == "f32[N,3]");
  CHECK(shapeOf("[6]", "global_avgpool2d(x)").find("expects an image batch") != std::string::npos);
  auto g = compile("model m\ninput x: [8, 8, 1]\nh = conv2d(x, 4, 3)\ny = global_avgpool2d(h)\n");
  REQUIRE(g.has_value());
  std::string s = printSummary(*g);
  CAPTURE(s);
  // The name and type do not fit the 38-character column: the type goes on the next line.
  CHECK(s.find("\n global_average_pooling2d              (None, 4)                 0") !=
        std::string::npos);
  CHECK(s.find("\n (GlobalAveragePooling2D)\n") != std::string::npos);
}
