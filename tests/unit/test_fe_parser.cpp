// Parser tests: every statement form, multi-line statements, shadowing, literals (with the
// Keras spellings a learner pastes), the AST dump; invalid inputs with their exact messages and
// line:col, including "did you mean" for statement keywords; the shared typo matcher;
// robustness on hostile input.
#include "frontend/Parser.h"
#include "frontend/Suggest.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

using namespace nnc;

namespace {

struct Parsed {
  Module m;
  std::string diags;
  size_t errors = 0; // found
  size_t shown = 0;  // kept and rendered
};

Parsed parseText(const std::string &src) {
  DiagEngine d("t.nn", src);
  Parsed p;
  p.m = parse(src, "t.nn", d);
  p.diags = d.render();
  p.errors = d.errorCount();
  p.shown = d.diagnostics().size();
  return p;
}

bool contains(const std::string &hay, const std::string &needle) {
  return hay.find(needle) != std::string::npos;
}

/// Checks that at most kMaxErrors errors were shown, and the count of the others if any.
void expectBudget(const Parsed &p) {
  CHECK(p.shown == std::min(p.errors, DiagEngine::kMaxErrors));
  if (p.errors > DiagEngine::kMaxErrors)
    CHECK(contains(p.diags, fmt::format("t.nn: note: {} more error{} not shown\n",
                                        p.errors - DiagEngine::kMaxErrors,
                                        p.errors == DiagEngine::kMaxErrors + 1 ? "" : "s")));
}

/// Checks that parsing `src` reports `message` at `line:col` (as rendered).
void expectError(const std::string &src, const std::string &lineCol, const std::string &message) {
  Parsed p = parseText(src);
  std::string want = "t.nn:" + lineCol + ": error: " + message;
  INFO("source:\n" << src << "\ndiagnostics:\n" << p.diags);
  CHECK(contains(p.diags, want));
}

} // namespace

TEST_CASE("fe parser: the spec's autoencoder parses into the expected statements") {
  std::ifstream in(NNC_SOURCE_DIR "/fuzz/corpus/compile/autoencoder.nn");
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  Parsed p = parseText(ss.str());
  CHECK(p.diags.empty());
  REQUIRE(p.m.stmts.size() == 18);
  CHECK(p.m.stmts[0].kind == Stmt::Model);
  CHECK(p.m.stmts[0].name == "autoencoder");
  CHECK(p.m.stmts[1].kind == Stmt::Input);
  CHECK(printLiteral(p.m.stmts[1].shape) == "[28, 28, 1]");
  const Stmt &conv = p.m.stmts[2];
  CHECK(conv.kind == Stmt::Assign);
  CHECK(conv.name == "h");
  CHECK(conv.op == "conv2d");
  REQUIRE(conv.args.size() == 5);
  CHECK(conv.args[0].key.empty());
  CHECK(conv.args[0].value.s == "x");
  CHECK(conv.args[1].key == "filters");
  CHECK(conv.args[1].value.i == 16);
  CHECK(conv.args[3].value.kind == Literal::Ident);
  CHECK(conv.args[3].value.s == "same");
  CHECK(p.m.stmts[15].kind == Stmt::Output);
  CHECK(p.m.stmts[16].kind == Stmt::Loss);
  CHECK(p.m.stmts[16].op == "binary_crossentropy");
  CHECK(p.m.stmts[17].kind == Stmt::Train);
  CHECK(p.m.stmts[17].args[0].key == "optimizer");
}

TEST_CASE("fe parser: every statement form with locations") {
  Parsed p = parseText("model net\n"
                       "input img: [28, 28, 1]\n"
                       "input label: [10]\n"
                       "h = dense(img, 32, activation=relu)\n"
                       "output h, img\n"
                       "loss mse(h, label)\n"
                       "train optimizer=adam, lr=0.001, shuffle=true, seed=-3\n");
  REQUIRE(p.diags.empty());
  REQUIRE(p.m.stmts.size() == 7);
  const auto &s = p.m.stmts;
  CHECK(s[0].nameLoc.line == 1);
  CHECK(s[0].nameLoc.col == 7);
  CHECK(s[2].name == "label");
  CHECK(s[2].shape.kind == Literal::Shape);
  CHECK(s[2].shape.elems.size() == 1);
  CHECK(s[3].opLoc.col == 5);
  CHECK(s[3].args[1].value.i == 32);
  CHECK(s[3].args[2].keyLoc.col == 20);
  CHECK(s[3].args[2].value.loc.col == 31);
  REQUIRE(s[4].outputs.size() == 2);
  CHECK(s[4].outputs[1].first == "img");
  CHECK(s[4].outputs[1].second.col == 11);
  CHECK(s[5].op == "mse");
  CHECK(s[5].args.size() == 2);
  REQUIRE(s[6].args.size() == 4);
  CHECK(s[6].args[1].value.kind == Literal::Float);
  CHECK(s[6].args[1].value.f == doctest::Approx(0.001));
  CHECK(s[6].args[2].value.kind == Literal::Bool);
  CHECK(s[6].args[2].value.b);
  CHECK(s[6].args[3].value.i == -3);
  CHECK(s[6].loc.line == 7);
}

TEST_CASE("fe parser: multi-line statements, trailing commas, shadowing, name=") {
  Parsed p = parseText("model m\n"
                       "input x: [\n  4,\n  4,\n]\n"
                       "h = conv2d(x,\n"
                       "           filters=8,   # comment inside\n"
                       "           kernel=(3, 3),\n"
                       "           name=\"enc1\",\n"
                       ")\n"
                       "h = relu(h, name=act1)\n");
  REQUIRE(p.diags.empty());
  REQUIRE(p.m.stmts.size() == 4);
  CHECK(printLiteral(p.m.stmts[1].shape) == "[4, 4]");
  const Stmt &c = p.m.stmts[2];
  CHECK(c.loc.line == 6);
  REQUIRE(c.args.size() == 4);
  CHECK(c.args[2].value.kind == Literal::Tuple);
  CHECK(printLiteral(c.args[2].value) == "(3, 3)");
  CHECK(c.args[2].keyLoc.line == 8);
  CHECK(c.args[3].key == "name");
  CHECK(c.args[3].value.kind == Literal::String);
  CHECK(c.args[3].value.s == "enc1");
  CHECK(p.m.stmts[3].name == "h");
  CHECK(p.m.stmts[3].args[1].value.kind == Literal::Ident);
  CHECK(p.m.stmts[3].args[1].value.s == "act1");
}

TEST_CASE("fe parser: nested literals and printLiteral") {
  Parsed p = parseText("model m\nh = f(s=[1, [2, (3, -4)], []], t=(), u=1.0, v=2.5e-5, w=false)\n");
  REQUIRE(p.diags.empty());
  const auto &args = p.m.stmts[1].args;
  CHECK(printLiteral(args[0].value) == "[1, [2, (3, -4)], []]");
  CHECK(args[0].value.elems[1].elems[1].elems[1].i == -4);
  CHECK(printLiteral(args[1].value) == "()");
  CHECK(printLiteral(args[2].value) == "1.0");
  CHECK(printLiteral(args[3].value) == "2.5e-05");
  CHECK(printLiteral(args[4].value) == "false");
}

TEST_CASE("fe parser: printAST prints one block per statement with line:col") {
  Parsed p = parseText("model m\ninput x: [2]\ny = dense(x, 3, name=\"d\")\noutput y\n"
                       "loss mse(y, x)\ntrain epochs=2\n");
  REQUIRE(p.diags.empty());
  CHECK(printAST(p.m) == "module 't.nn'\n"
                         "  1:1 model m\n"
                         "  2:1 input x\n"
                         "    2:10 shape [2]\n"
                         "  3:1 assign y = dense\n"
                         "    3:11 arg x : ident\n"
                         "    3:14 arg 3 : int\n"
                         "    3:17 arg name=\"d\" : string\n"
                         "  4:1 output\n"
                         "    4:8 name y\n"
                         "  5:1 loss mse\n"
                         "    5:10 arg y : ident\n"
                         "    5:13 arg x : ident\n"
                         "  6:1 train\n"
                         "    6:7 arg epochs=2 : int\n");
}

TEST_CASE("fe parser: Keras spellings: quotes, True/False, tuples, positional literals") {
  Parsed p = parseText("model m\n"
                       "h = conv2d(x, 16, (3, 3), activation='relu', padding=\"same\", "
                       "use_bias=False)\n"
                       "h = maxpool2d(h, (2,2), padding='same')\n"
                       "h = conv2d(h, 8, kernel_size=(3,), name='enc \"1\"')\n"
                       "train shuffle=True\n");
  REQUIRE(p.diags.empty());
  REQUIRE(p.m.stmts.size() == 5);
  const auto &conv = p.m.stmts[1].args;
  REQUIRE(conv.size() == 6);
  CHECK(conv[1].key.empty());
  CHECK(conv[1].value.kind == Literal::Int);
  CHECK(conv[1].value.i == 16);
  CHECK(conv[2].key.empty());
  CHECK(conv[2].value.kind == Literal::Tuple);
  CHECK(conv[2].value.elems.size() == 2);
  CHECK(conv[2].value.loc.col == 19);
  CHECK(conv[3].value.kind == Literal::String);
  CHECK(conv[3].value.s == "relu");
  CHECK(conv[4].value.s == "same");
  CHECK(conv[5].value.kind == Literal::Bool);
  CHECK(!conv[5].value.b);
  const auto &pool = p.m.stmts[2].args;
  CHECK(printLiteral(pool[1].value) == "(2, 2)");
  CHECK(printLiteral(pool[2].value) == "\"same\"");
  const auto &narrow = p.m.stmts[3].args;
  CHECK(narrow[2].key == "kernel_size");
  CHECK(printLiteral(narrow[2].value) == "(3,)");
  CHECK(narrow[3].value.s == "enc \"1\"");
  CHECK(printLiteral(narrow[3].value) == "'enc \"1\"'");
  CHECK(p.m.stmts[4].args[0].value.kind == Literal::Bool);
  CHECK(p.m.stmts[4].args[0].value.b);
}

TEST_CASE("fe parser: printAST shows positional literals and Keras spellings as understood") {
  Parsed p = parseText("model m\ny = conv2d(x, 16, (3, 3), activation='relu', use_bias=False)\n");
  REQUIRE(p.diags.empty());
  CHECK(printAST(p.m) == "module 't.nn'\n"
                         "  1:1 model m\n"
                         "  2:1 assign y = conv2d\n"
                         "    2:12 arg x : ident\n"
                         "    2:15 arg 16 : int\n"
                         "    2:19 arg (3, 3) : tuple\n"
                         "    2:27 arg activation=\"relu\" : string\n"
                         "    2:46 arg use_bias=false : bool\n");
}

TEST_CASE("fe suggest: typo distance ignores case and counts a swap as one edit") {
  CHECK(editDistance("modle", "model") == 1);
  CHECK(editDistance("inptu", "input") == 1);
  CHECK(editDistance("kernal", "kernel") == 1);
  CHECK(editDistance("ouput", "output") == 1);
  CHECK(editDistance("Conv2D", "conv2d") == 0);
  CHECK(editDistance("", "abc") == 3);
  CHECK(editDistance("abc", "") == 3);
  CHECK(editDistance("ab", "ba") == 1);
  CHECK(editDistance("upsampling2d", "upsample2d") == 3);
  CHECK(equalsIgnoringCase("MaxPooling2D", "maxpooling2d"));
  CHECK(!equalsIgnoringCase("maxpool2d", "maxpool2"));
  const std::vector<std::string> pads = {"valid", "same"};
  CHECK(closestMatch("sme", pads) == "same");
  CHECK(closestMatch("Same", pads) == "same");
  CHECK(closestMatch("full", pads) == "");
  CHECK(closestMatch("same", pads) == "");           // the word itself is no suggestion
  CHECK(closestMatch("h", {"x"}) == "");             // one-letter names are never typos
  CHECK(closestMatch("LR", {"lr", "seed"}) == "lr"); // but a case slip is
  CHECK(closestMatch("kernal_size", {"kernel", "kernel_size"}) == "kernel_size");
  CHECK(closestMatch("binary_crossentopy", {"mse", "binary_crossentropy"}) ==
        "binary_crossentropy");
  CHECK(closestMatch("conv", {"conv2d"}) == ""); // two edits are too many for 4 letters
  CHECK(closestMatch(std::string(100, 'a'), {std::string(100, 'a') + "b"}) == "");
  CHECK(didYouMean("rellu", {"linear", "relu"}) == "; did you mean 'relu'?");
  CHECK(didYouMean("gelu2", {"linear", "softmax"}) == "");
}

TEST_CASE("fe parser: semantic questions are left to the lowering") {
  Parsed p = parseText("model m\ny = nosuchop(undefined, bogus=1)\noutput zzz\n");
  CHECK(p.diags.empty());
  CHECK(p.m.stmts.size() == 3);
}

TEST_CASE("fe parser: invalid inputs report expected/found with line:col") {
  Parsed empty = parseText("");
  CHECK(contains(empty.diags, "t.nn: error: expected 'model NAME' as the first statement"));
  CHECK(parseText("# only a comment\n\n").errors == 1);
  expectError("input x: [1]\n", "1:1",
              "expected 'model NAME' as the first statement but found 'input'");
  expectError("model a\nmodel b\n", "2:1",
              "duplicate 'model' statement: a file describes exactly one model");
  expectError("model m\nh = conv2d(x, 3\nh = relu(h)\n", "2:16",
              "expected ')' to close '(' but found end of line\nh = conv2d(x, 3\n"
              "               ^\nnote: the '(' is at line 2, column 11");
  expectError("model m\nh = f(x", "2:8", "expected ')' to close '(' but found end of file");
  expectError("model m\n)\n", "2:1",
              "expected a statement (model, input, output, loss, train, or NAME = OP(...)) "
              "but found ')'");
  expectError("model m\n42\n", "2:1", "expected a statement");
  expectError("model\n", "1:6", "expected a model name after 'model' but found end of line");
  expectError("model m\ninput x [1]\n", "2:9", "expected ':' after 'input x' but found '['");
  expectError("model m\ninput x: 28\n", "2:10",
              "expected a shape like [28, 28, 1] after 'input x:' but found '28'");
  expectError("model m\ninput x: [1, 2\n", "2:15",
              "expected ']' to close '[' but found end of file");
  expectError("model m\ninput model: [1]\n", "2:7",
              "expected an input name after 'input' but found 'model'\ninput model: [1]\n"
              "      ^\nhint: 'model' is a keyword and cannot be used as a name");
  expectError("model m\nh = 3\n", "2:5", "expected an operator name after '=' but found '3'");
  expectError("model m\nh conv2d(x)\n", "2:3",
              "expected '=' after 'h' (a layer is written NAME = OP(...)) but found 'conv2d'");
  expectError("model m\nh = relu x\n", "2:10", "expected '(' after 'relu' but found 'x'");
  expectError("model m\nh = f(x y)\n", "2:9",
              "expected ',' or ')' after an argument but found 'y'");
  expectError("model m\nh = f(x,,y)\n", "2:9", "expected an argument but found ','");
  expectError("model m\nh = f(k=)\n", "2:9", "expected a value after 'k=' but found ')'");
  expectError("model m\nh = f(x, k=(1 2))\n", "2:15",
              "expected ',' or ')' after an element but found '2'");
  expectError("model m\noutput\n", "2:7",
              "expected an output name after 'output' but found end of line");
  expectError("model m\noutput a,\n", "2:10",
              "expected an output name after ',' but found end of line");
  expectError("model m\nloss 3\n", "2:6", "expected a loss function after 'loss'");
  expectError("model m\ntrain\n", "2:6",
              "expected 'key=value' after 'train' but found end of line");
  expectError("model m\ntrain lr 0.1\n", "2:10",
              "expected '=' after 'lr' (train settings are key=value) but found '0.1'");
  expectError("model m\ntrain lr=\n", "2:10", "expected a value after 'lr=' but found end of line");
  expectError("model m\noutput y z\n", "2:10",
              "expected end of line after the statement but found 'z'");
  expectError("model m\nmodle x\n", "2:1",
              "expected a statement (model, input, output, loss, "
              "train, or NAME = OP(...)) but found 'modle'\n"
              "modle x\n^\nhint: did you mean the keyword 'model'?");
  expectError("model m\n\th = f(\"abc)\n", "2:8",
              "unterminated string literal: expected a closing \" but found end of line\n"
              "\th = f(\"abc)\n\t      ^\n");
  expectError("model m\nh = f('abc)\n", "2:7",
              "unterminated string literal: expected a closing ' but found end of line\n"
              "h = f('abc)\n      ^\n");
}

TEST_CASE("fe parser: a misspelled statement keyword gets a did-you-mean hint") {
  const std::string stmt = "expected a statement (model, input, output, loss, train, or NAME = "
                           "OP(...)) but found ";
  expectError("model m\ninptu x: [28, 28, 1]\n", "2:1",
              stmt + "'inptu'\ninptu x: [28, 28, 1]\n^\nhint: did you mean the keyword 'input'?");
  expectError("model m\nouput y\n", "2:1",
              stmt + "'ouput'\nouput y\n^\nhint: did you mean the keyword 'output'?");
  expectError("model m\ntrian epochs=1\n", "2:1",
              stmt + "'trian'\ntrian epochs=1\n^\nhint: did you mean the keyword 'train'?");
  expectError("model m\nlos mse(y, x)\n", "2:1",
              stmt + "'los'\nlos mse(y, x)\n^\nhint: did you mean the keyword 'loss'?");
  expectError("model m\n  Input x: [1]\n", "2:3",
              stmt + "'Input'\n  Input x: [1]\n  ^\nhint: did you mean the keyword 'input'?");
  expectError("modle m\n", "1:1",
              "expected 'model NAME' as the first statement but found 'modle'\nmodle m\n^\n"
              "hint: did you mean the keyword 'model'?\n"
              "hint: a .nn file starts with a line like: model autoencoder");
  Parsed far = parseText("model m\nlayer x\n");
  CHECK(contains(far.diags, "t.nn:2:7: error: expected '=' after 'layer' (a layer is written "
                            "NAME = OP(...)) but found 'x'\n"));
  CHECK(!contains(far.diags, "did you mean"));
}

TEST_CASE("fe parser: Keras's call-then-apply form gets a hint") {
  expectError("model m\ny = Conv2D(16, (3, 3))(x)\n", "2:23",
              "expected end of line after the statement but found '('\n"
              "y = Conv2D(16, (3, 3))(x)\n                      ^\n"
              "hint: a layer's input goes first inside its call, as in y = Conv2D(x, ...), not "
              "Conv2D(...)(x) as in Keras");
}

TEST_CASE("fe parser: one error per line; later lines still parse") {
  Parsed p = parseText("model m\nh = f(x y z)\nh = g(h)\ninput q [1]\noutput h\n");
  CHECK(p.errors == 2);
  REQUIRE(p.m.stmts.size() == 3);
  CHECK(p.m.stmts[1].op == "g");
  CHECK(p.m.stmts[2].kind == Stmt::Output);
}

TEST_CASE("fe parser: a forgotten ')' does not swallow the following statements") {
  Parsed p = parseText("model m\nh = f(x,\n  k=1\nh = g(h)\noutput h\n");
  CHECK(p.errors == 1);
  CHECK(contains(p.diags, "t.nn:3:6: error: expected ')' to close '(' but found end of line"));
  REQUIRE(p.m.stmts.size() == 3);
  CHECK(p.m.stmts[1].op == "g");
}

TEST_CASE("fe parser: errors come out in source order") {
  Parsed p = parseText("model m\nh = f(x y)\nk = $\n");
  size_t a = p.diags.find("t.nn:2:9:"), b = p.diags.find("t.nn:3:5:");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  CHECK(a < b);
  CHECK(p.errors == 2);
}

TEST_CASE("fe parser: robustness on an empty file and whitespace") {
  CHECK(parseText("").errors == 1);
  CHECK(parseText("\n\n  \t\n").errors == 1);
  CHECK(parseText("model m").errors == 0);
}

TEST_CASE("fe parser: robustness on binary garbage") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 20; ++round) {
    std::string src(4096, '\0');
    for (char &c : src) c = static_cast<char>(rng() & 0xFF);
    Parsed p = parseText(src);
    CHECK(p.errors >= 1);
    expectBudget(p);
  }
}

TEST_CASE("fe parser: robustness on 10,000 nested brackets") {
  Parsed p = parseText("model m\nh = f(" + std::string(10000, '(') + "\n");
  CHECK(p.errors == 1);
  CHECK(
      contains(p.diags, "t.nn:2:71: error: nesting too deep: more than 64 levels of '(' and '['"));
  Parsed q = parseText("model m\ninput x: " + std::string(10000, '[') + std::string(10000, ']'));
  CHECK(q.errors == 1);
  CHECK(contains(q.diags, "t.nn:2:74: error: nesting too deep"));
  Parsed r = parseText(std::string(10000, '(') + "\nmodel m\n");
  CHECK(r.errors >= 1);
  expectBudget(r);
  std::string ok = "model m\nh = f(" + std::string(63, '(') + "1" + std::string(63, ')') + ")\n";
  CHECK(parseText(ok).errors == 0);
}

TEST_CASE("fe parser: robustness on a 10,000-digit integer") {
  Parsed p = parseText("model m\nh = f(" + std::string(10000, '7') + ")\n");
  CHECK(p.errors == 1);
  CHECK(contains(p.diags, "t.nn:2:7: error: integer literal '77777777777777777777777777777777...' "
                          "is too large"));
}

TEST_CASE("fe parser: errors past the limit are counted, not shown") {
  std::string src = "model m\n";
  for (int i = 0; i < 200; ++i) src += "h = f(x y)\n";
  Parsed p = parseText(src);
  CHECK(p.errors == 200);
  CHECK(p.shown == DiagEngine::kMaxErrors);
  CHECK(contains(p.diags, "t.nn:21:9: error: expected ',' or ')' after an argument"));
  CHECK(!contains(p.diags, "t.nn:22:"));
  CHECK(p.diags.ends_with("^\nnote: the '(' is at line 21, column 6\n"
                          "t.nn: note: 180 more errors not shown\n"));
}
