// Rendering DOT with libgvc (Graphviz's library form of the `dot` program): agmemread parses
// the text into a cgraph graph, gvLayout runs the dot engine (ranks, crossing reduction,
// coordinates, spline edges), gvRenderData renders the laid-out graph into a malloc'd buffer,
// then the buffer, the layout, the graph and the context are freed in reverse order.
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

struct ContextDeleter {
  void operator()(GVC_t *c) const { gvFreeContext(c); }
};
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
  std::unique_ptr<GVC_t, ContextDeleter> gvc(gvContext());
  std::unique_ptr<Agraph_t, GraphDeleter> graph(agmemread(dot.c_str()));
  Result<std::string> out = Error{""};
  if (!gvc)
    out = graphvizError("cannot create a context");
  else if (!graph)
    out = graphvizError("cannot parse the DOT text");
  else if (gvLayout(gvc.get(), graph.get(), "dot") != 0)
    out = graphvizError("the dot layout failed");
  else {
    char *data = nullptr;
    unsigned int length = 0;
    if (gvRenderData(gvc.get(), graph.get(), format.c_str(), &data, &length) != 0 || !data)
      out = graphvizError("cannot render " + format);
    else
      out = std::string(data, length);
    gvFreeRenderData(data);
    gvFreeLayout(gvc.get(), graph.get());
  }
  graph.reset();
  gvc.reset();
  agseterrf(previous);
  return out;
}

} // namespace nnc
