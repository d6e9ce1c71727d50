// Every op of the table through the whole compiler: the probe models below must, between them,
// contain every op of ir/Ops.def in their training graphs (forward, loss, gradient and update
// ops alike), and each probe goes through shape inference, a gradient check against finite
// differences, and the JIT against the interpreter with fusion on and off. A new row without
// its shape rule, gradient rule, interpreter loop or codegen fails here with the op's name.
#include "ir/OpTable.h"
#include "test_ad_util.h"
#include "test_jit_util.h"

#include <set>

using namespace nnc;

namespace {

/// Small models that together use every op (a new op adds its probe here).
const std::vector<std::string> &probes() {
  static const std::vector<std::string> models = {
      // dense chain, tanh, mse, sgd
      "model p\ninput x: [4]\ninput u: [3]\nh = dense(x, units=4, activation=tanh)\n"
      "y = dense(h, units=3)\nloss mse(y, u)\ntrain optimizer=sgd\n",
      // conv + relu + maxpool, flatten, sigmoid + binary cross-entropy (logits), adam
      "model p\ninput x: [6, 6, 2]\ninput u: [3]\n"
      "h = conv2d(x, filters=3, kernel=3, padding=same, activation=relu)\n"
      "h = maxpool2d(h, pool=2)\nh = conv2d(h, filters=2, kernel=3, padding=same)\n"
      "h = flatten(h)\ny = dense(h, units=3, activation=sigmoid)\n"
      "loss binary_crossentropy(y, u)\ntrain optimizer=adam\n",
      // conv2d_transpose, avgpool2d, upsample2d, squeeze, adadelta
      "model p\ninput x: [3, 3, 2]\ninput u: [6, 6]\nh = conv2d(x, filters=2, kernel=1)\n"
      "h = conv2d_transpose(h, filters=2, kernel=3, strides=2, padding=same)\n"
      "h = avgpool2d(h, pool=2)\nh = upsample2d(h, size=2)\nh = conv2d(h, filters=1, kernel=1)\n"
      "y = squeeze(h)\nloss mse(y, u)\ntrain optimizer=adadelta\n",
      // add, concat (its gradient slices), reshape, softmax + categorical cross-entropy, rmsprop
      "model p\ninput x: [4]\ninput u: [6]\na = dense(x, units=3)\n"
      "b = dense(x, units=3, activation=relu)\ns = add(a, b)\nc = concat(s, b)\n"
      "r = reshape(c, shape=[2, 3])\nf = flatten(r)\ny = softmax(f)\n"
      "loss categorical_crossentropy(y, u)\ntrain optimizer=rmsprop\n",
      // the probability forms of both cross-entropies, and the softmax and sigmoid gradients
      "model p\ninput x: [4]\ninput u: [3]\nh = dense(x, units=3)\nq = softmax(h)\n"
      "y = flatten(q)\nloss categorical_crossentropy(y, u)\n",
      "model p\ninput x: [4]\ninput u: [3]\nh = dense(x, units=3)\nq = sigmoid(h)\n"
      "y = flatten(q)\nloss binary_crossentropy(y, u)\n",
      // global_avgpool2d after a conv (its gradient takes the relu gradient as an epilogue)
      "model p\ninput x: [4, 5, 2]\ninput u: [3]\n"
      "h = conv2d(x, filters=3, kernel=3, padding=same, activation=relu)\n"
      "h = global_avgpool2d(h)\ny = dense(h, units=3)\nloss mse(y, u)\n",
      // zero_padding2d and cropping2d (each one's gradient is the other), all three spellings
      "model p\ninput x: [4, 5, 2]\ninput u: [2]\nh = zero_padding2d(x, padding=((1, 2), (0, 3)))\n"
      "h = conv2d(h, filters=2, kernel=3, activation=relu)\nh = cropping2d(h, cropping=(1, 2))\n"
      "h = zero_padding2d(h)\nh = cropping2d(h, cropping=((0, 1), (2, 0)))\nh = flatten(h)\n"
      "y = dense(h, units=2)\nloss mse(y, u)\n",
      // leaky_relu and elu, as layers and as activation=, with default and given alpha
      "model p\ninput x: [5, 5, 1]\ninput u: [2]\n"
      "h = conv2d(x, filters=2, kernel=3, activation=leaky_relu)\nh = elu(h, alpha=0.5)\n"
      "h = leaky_relu(h, alpha=0.1)\nh = flatten(h)\ny = dense(h, units=2, activation=elu)\n"
      "loss mse(y, u)\n",
  };
  return models;
}

/// The ops of a probe's training graph.
std::set<OpKind> opsOf(const std::string &src) {
  std::optional<Graph> g = jittest::trainingGraph(src);
  REQUIRE(g.has_value());
  std::set<OpKind> ops;
  for (const Node &n : g->nodes) ops.insert(n.op);
  return ops;
}

} // namespace

TEST_CASE("op table: the probes use every op of ir/Ops.def") {
  std::set<OpKind> used;
  for (const std::string &src : probes()) used.merge(opsOf(src));
  for (const OpInfo &row : opTable()) {
    CAPTURE(row.name);
    CHECK_MESSAGE(used.count(row.op), "op '" << std::string(row.name) << "' is in no probe of "
                                             << "tests/unit/test_op_table.cpp");
  }
}

TEST_CASE("op table: every probe passes gradcheck and matches the interpreter in the JIT") {
  uint64_t seed = 1;
  for (const std::string &src : probes()) {
    CAPTURE(src);
    adtest::expectGradCheck(src, 2, seed);
    std::optional<Graph> g = jittest::trainingGraph(src);
    REQUIRE(g.has_value());
    for (bool fuse : {true, false}) {
      CAPTURE(fuse);
      JitOptions opts;
      opts.threads = 1;
      opts.fuse = fuse;
      jittest::compareWithInterpreter(*g, opts, 3, seed);
    }
    ++seed;
  }
}

TEST_CASE("op table: rows are well formed") {
  for (const OpInfo &row : opTable()) {
    CAPTURE(row.name);
    CHECK(opInfo(row.op).name == row.name);
    CHECK(opFromName(row.name) == ((row.cls == OpClass::Forward || row.cls == OpClass::Loss)
                                       ? std::optional<OpKind>(row.op)
                                       : std::nullopt));
    bool layer = row.cls == OpClass::Forward;
    CHECK(layer == (row.inLanguage() && *row.kerasClass && std::string(row.kerasClass) != "Loss"));
    std::set<std::string> spellings;
    for (const ArgSpec &a : row.args) {
      CAPTURE(a.name);
      CHECK(spellings.insert(a.name).second);
      if (a.alias) CHECK(spellings.insert(a.alias).second);
      CHECK((a.type == ArgType::Value) == (a.slot == AttrSlot::Operand));
      CHECK((a.type == ArgType::Enum) == !slotChoices(a.slot).empty());
      if (a.type == ArgType::Enum && a.def.kind == ArgDefault::Word) {
        bool known = false;
        for (const char *w : slotChoices(a.slot)) known |= std::string(w) == a.def.word;
        CHECK_MESSAGE(known, "default '" << a.def.word << "' is not one of the slot's words");
      }
    }
  }
}

TEST_CASE("op table: the fuzzer's dictionary has every op, argument and enum word") {
  std::string dict = adtest::readSource("fuzz/nn.dict");
  REQUIRE(!dict.empty());
  auto has = [&](const std::string &word) {
    return dict.find("\"" + word + "\"\n") != std::string::npos;
  };
  for (const OpInfo &row : opTable()) {
    if (!row.inLanguage()) continue;
    std::vector<std::string> words = {row.name};
    for (const ArgSpec &a : row.args) {
      if (a.type == ArgType::Value) continue;
      words.push_back(a.name);
      if (a.alias) words.push_back(a.alias);
      for (const char *w : slotChoices(a.slot)) words.push_back(w);
    }
    for (const std::string &w : words)
      CHECK_MESSAGE(has(w),
                    "fuzz/nn.dict lacks \"" << w << "\" (op " << std::string(row.name) << ")");
  }
}
