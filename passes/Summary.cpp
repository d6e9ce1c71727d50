// Summary and dot printers. The table follows Keras 2's model.summary() layout: a row per
// layer (the input first), Output Shape with None for the batch, Param #, then the totals;
// nnc adds MACs, the receptive field (size and jump on the input) and the weight shapes per
// row, and with `explain` the arithmetic of each row under it (passes/Explain.cpp).
#include "passes/Summary.h"
#include "ir/Lower.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace nnc {

std::string withCommas(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return (v < 0 ? "-" : "") + out;
}

std::string humanBytes(double b) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  return u == 0 ? fmt::format("{} B", int64_t(b)) : fmt::format("{:.1f} {}", b, units[u]);
}

namespace {

std::string num(double v) {
  if (v == std::floor(v)) return fmt::format("{}", int64_t(v));
  return fmt::format("{:.3g}", v);
}

std::string rfText(const Stats &s) {
  if (!s.spatial) return "-";
  std::string rf = s.rfH == s.rfW ? fmt::format("{}x{}", num(s.rfH), num(s.rfW))
                                  : fmt::format("{}x{}", num(s.rfH), num(s.rfW));
  return fmt::format("{} / {}", rf,
                     s.jumpH == s.jumpW ? num(s.jumpH) : num(s.jumpH) + "," + num(s.jumpW));
}

bool isLayer(const Node &n) {
  return n.op == OpKind::Input || opClass(n.op) == OpClass::Forward;
}

} // namespace

std::string printSummary(const Graph &g, int64_t batch, bool explain) {
  const int w1 = 39, w2 = 26, w3 = 12, w4 = 14, w5 = 14;
  std::vector<const Node *> layers;
  size_t weightsWidth = std::string("Weights").size();
  for (const Node &n : g.nodes)
    if (isLayer(n)) {
      layers.push_back(&n);
      weightsWidth = std::max(weightsWidth, weightShapes(g, n).size());
    }
  const int width = w1 + w2 + w3 + w4 + w5 + 1 + int(weightsWidth);
  std::string line(size_t(width), '_'), dline(size_t(width), '=');
  std::string out = fmt::format("Model: \"{}\"\n{}\n", g.name, line);
  auto row = [&](const std::string &name, const std::string &shape, const std::string &params,
                 const std::string &macs, const std::string &rf, const std::string &ws) {
    std::string text = fmt::format(" {:<{}}{:<{}}{:<{}}{:<{}}{:<{}}{}", name, w1 - 1, shape, w2,
                                   params, w3, macs, w4, rf, w5, ws);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text + "\n";
  };
  out += row("Layer (type)", "Output Shape", "Param #", "MACs", "RF / jump", "Weights");
  out += dline + "\n";
  int64_t total = 0, nonTrainable = 0, actBytes = 0, macs = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Node &n = *layers[i];
    if (i) out += "\n";
    std::string shape = n.type.kerasStr(batch);
    if (n.op == OpKind::Input) shape = "[" + shape + "]";
    std::string layer = n.layer.empty() ? n.name : n.layer;
    std::string type = fmt::format("({})", kerasTypeName(n.op));
    // A cell too long for its column wraps the type onto a line of its own, as Keras does.
    bool wrap = layer.size() + 1 + type.size() > size_t(w1 - 2);
    out += row(wrap ? layer : layer + " " + type, shape, withCommas(n.stats.params),
               withCommas(n.stats.macs), rfText(n.stats), weightShapes(g, n));
    if (wrap) out += row(type, "", "", "", "", "");
    if (explain)
      for (const std::string &why : explainLayer(g, n)) out += "     " + why + "\n";
    total += n.stats.params;
    actBytes += n.stats.activationBytes;
    macs += n.stats.macs;
  }
  for (ValueId p : g.params)
    if (!g[p].trainable) nonTrainable += g[p].type.elements();
  out += dline + "\n";
  out += fmt::format("Total params: {} ({})\n", withCommas(total + nonTrainable),
                     humanBytes(double(total + nonTrainable) * 4));
  out +=
      fmt::format("Trainable params: {} ({})\n", withCommas(total), humanBytes(double(total) * 4));
  out += fmt::format("Non-trainable params: {} ({})\n", withCommas(nonTrainable),
                     humanBytes(double(nonTrainable) * 4));
  out += line + "\n";
  out += fmt::format("MACs per example: {}\n", withCommas(macs));
  out += fmt::format("Activation memory per example: {} ({} bytes)", humanBytes(double(actBytes)),
                     withCommas(actBytes));
  if (batch > 0)
    out +=
        fmt::format("; for a batch of {}: {}", batch, humanBytes(double(actBytes) * double(batch)));
  out += "\n";
  return out;
}

std::string printDot(const Graph &g, int64_t batch) {
  std::string out = fmt::format("digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, "
                                "fontname=\"monospace\"];\n  edge [fontname=\"monospace\"];\n",
                                g.name);
  auto id = [&](ValueId v) { return fmt::format("v{}", v); };
  for (size_t i = 0; i < g.size(); ++i) {
    const Node &n = g.nodes[i];
    if (!isLayer(n) && opClass(n.op) != OpClass::Loss) continue;
    std::string label =
        fmt::format("{} ({})", n.layer.empty() ? n.name : n.layer,
                    opClass(n.op) == OpClass::Loss ? opName(n.op) : kerasTypeName(n.op));
    if (n.stats.params) label += fmt::format("\\n{} params", withCommas(n.stats.params));
    out += fmt::format("  {} [label=\"{}\"{}];\n", id(ValueId(i)), label,
                       n.op == OpKind::Input ? ", shape=ellipse" : "");
    for (ValueId v : n.inputs)
      if (g[v].op != OpKind::Param)
        out += fmt::format("  {} -> {} [label=\"{}\"];\n", id(v), id(ValueId(i)),
                           g[v].type.str(batch));
  }
  return out + "}\n";
}

} // namespace nnc
