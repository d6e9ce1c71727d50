// Graphviz in-process: DOT text laid out by libgvc's dot engine and rendered to SVG or PNG,
// so `nnc dot --format=svg|png` and `nnc explore` need no `dot` program.
#pragma once

#include "support/Result.h"

#include <string>

namespace nnc {

/// Lays out `dot` with Graphviz's dot engine and renders it as `format` ("svg" or "png");
/// returns the rendered bytes, or an error naming the format or Graphviz's complaint.
Result<std::string> renderDot(const std::string &dot, const std::string &format);

} // namespace nnc
