// Graphviz in-process: the model graph of `nnc dot` laid out by libgvc into SVG has one node
// per layer (and the loss), titled by its DOT id and labelled by its layer, and one edge label
// per shape edge; PNG output is a PNG; bad DOT text and unknown formats are errors.
#include "passes/Pipeline.h"
#include "passes/Summary.h"
#include "runtime/Graphviz.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

using namespace nnc;

namespace {

size_t countOf(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

Graph compileExample(const std::string &name) {
  std::ifstream in(std::string(NNC_SOURCE_DIR) + "/examples/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  DiagEngine diags(name, ss.str());
  std::optional<Graph> g = compileSource(ss.str(), name, diags);
  REQUIRE(g);
  return *g;
}

} // namespace

TEST_CASE("graphviz: the autoencoder's SVG has one node per layer and its shape labels") {
  Graph g = compileExample("autoencoder.nn");
  Result<std::string> svg = renderDot(printDot(g), "svg");
  REQUIRE_MESSAGE(svg.ok(), svg.error());
  size_t layers = 0, edges = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const Node &n = g.nodes[i];
    OpClass c = opClass(n.op);
    if (n.op != OpKind::Input && c != OpClass::Forward && c != OpClass::Loss) continue;
    ++layers;
    CHECK_MESSAGE(countOf(*svg, "<title>v" + std::to_string(i) + "</title>") == 1, n.name);
    CHECK(svg->find(">" + (n.layer.empty() ? n.name : n.layer) + " (") != std::string::npos);
    for (ValueId v : n.inputs)
      if (g[v].op != OpKind::Param) ++edges;
  }
  CHECK(layers == 15); // the input, 13 layers, the loss
  CHECK(countOf(*svg, "class=\"node\"") == layers);
  CHECK(countOf(*svg, "class=\"edge\"") == edges);
  CHECK(countOf(*svg, ">f32[N,28,28,16]</text>") == 2); // out of conv2d and of up_sampling2d_2
  CHECK(countOf(*svg, ">f32[N,4,4,4]</text>") == 2);
  CHECK(svg->find(">160 params</text>") != std::string::npos);
}

TEST_CASE("graphviz: PNG output, and errors for bad DOT text and unknown formats") {
  Result<std::string> png = renderDot("digraph g { a -> b [label=\"f32[N,2]\"]; }", "png");
  REQUIRE_MESSAGE(png.ok(), png.error());
  CHECK(png->substr(0, 4) == "\x89PNG");
  Result<std::string> bad = renderDot("digraph g { a -> ", "svg");
  REQUIRE(!bad.ok());
  CHECK(bad.error().find("graphviz: cannot parse the DOT text") == 0);
  Result<std::string> unknown = renderDot("digraph g { a; }", "gif");
  REQUIRE(!unknown.ok());
  CHECK(unknown.error() == "graphviz: unknown format 'gif' (expected svg or png)");
}
