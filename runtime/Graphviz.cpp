// Rendering DOT with libgvc (Graphviz's library form of the `dot` program): agmemread parses
// the text into a cgraph graph, gvLayout runs the dot engine (ranks, crossing reduction,
// coordinates, spline edges), gvRenderData renders the laid-out graph into a malloc'd buffer,
// then the buffer, the layout and the graph are freed in reverse order. The context is made
// once and kept for the process: Graphviz 2.43's text-size cache keeps font names that
// gvFreeContext frees, so the first layout after a freed context read freed memory (ASan:
// heap-use-after-free in textspan_size).
// Graphviz's own messages are collected (agseterrf) and returned as the error.
#include "runtime/Graphviz.h"

#include <graphviz/gvc.h>

#include <memory>

namespace nnc {

namespace {

std::string &graphvizMessages() {
  static std::string messages;
  return messages;
}

int collectMessage(char *text) {
  graphvizMessages() += text;
  return 0;
}

/// The process's Graphviz context (null if it cannot be made).
GVC_t *context() {
  static GVC_t *gvc = gvContext();
  return gvc;
}

struct GraphDeleter {
  void operator()(Agraph_t *g) const { agclose(g); }
};

Error graphvizError(const std::string &what) {
  std::string detail = graphvizMessages();
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  return Error{"graphviz: " + what + (detail.empty() ? "" : ": " + detail)};
}

} // namespace

Result<std::string> renderDot(const std::string &dot, const std::string &format) {
  if (format != "svg" && format != "png")
    return Error{"graphviz: unknown format '" + format + "' (expected svg or png)"};
  graphvizMessages().clear();
  agusererrf previous = agseterrf(collectMessage);
  GVC_t *gvc = context();
  std::unique_ptr<Agraph_t, GraphDeleter> graph(agmemread(dot.c_str()));
  Result<std::string> out = Error{""};
  if (!gvc)
    out = graphvizError("cannot create a context");
  else if (!graph)
    out = graphvizError("cannot parse the DOT text");
  else if (gvLayout(gvc, graph.get(), "dot") != 0)
    out = graphvizError("the dot layout failed");
  else {
    char *data = nullptr;
    unsigned int length = 0;
    if (gvRenderData(gvc, graph.get(), format.c_str(), &data, &length) != 0 || !data)
      out = graphvizError("cannot render " + format);
    else
      out = std::string(data, length);
    gvFreeRenderData(data);
    gvFreeLayout(gvc, graph.get());
  }
  graph.reset();
  agseterrf(previous);
  return out;
}

} // namespace nnc
