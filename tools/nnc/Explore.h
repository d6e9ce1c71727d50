// `nnc explore`: one self-contained HTML page of the whole pipeline of one model. The C++
// side gathers what every stage knows (ExploreData.cpp) into one JSON object; the page
// (ExplorePage.cpp with tools/nnc/explore/*) inlines it with the Graphviz SVG, the style and
// the scripts, so the file opens from disk without any network access.
#pragma once

#include "support/Result.h"

#include <llvm/Support/JSON.h>

#include <string>

namespace nnc::driver {

/// The model's stages (tokens, AST, IR, training graph, fusion report, memory plan), its
/// layers (shape, parameters and their arithmetic, MACs, receptive field, kernels) and its
/// kernels (members, LLVM IR before and after O3, assembly), as the page's data. `svg` gets
/// the model graph laid out by Graphviz. Errors carry the rendered diagnostics.
Result<llvm::json::Object> exploreData(const std::string &file, const std::string &source,
                                       std::string &svg);

/// The training run of checkpoint directory `dir` (written by `nnc train --checkpoint`): its
/// loss history, reconstructions of `data`'s first test images, the first layer's filters.
Result<llvm::json::Object> exploreRun(const std::string &file, const std::string &source,
                                      const std::string &dir, const std::string &data);

/// A few timed training steps (after one warm-up step) of the JIT-compiled training graph on
/// random inputs: per step, the wall time and each kernel's time, FLOPs and layers.
Result<llvm::json::Object> exploreProfile(const std::string &file, const std::string &source,
                                          int steps);

/// The whole page: `data` as inline JSON, `svg` inline, and every style and script inlined.
std::string explorePage(const llvm::json::Object &data, const std::string &svg);

} // namespace nnc::driver
