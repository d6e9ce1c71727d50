// Printers of analysed model graphs: the Keras model.summary() table (with MACs and receptive
// field columns) and a Graphviz graph with shapes on the edges.
#pragma once

#include "ir/Graph.h"

#include <string>
#include <vector>

namespace nnc {

/// The Keras-style summary of an analysed graph; `batch` < 0 prints None for the batch;
/// `explain` adds the arithmetic of every row under it.
std::string printSummary(const Graph &g, int64_t batch = -1, bool explain = false);
/// The weight shapes a layer consumes, Keras style: "kernel (3, 3, 1, 16), bias (16,)".
std::string weightShapes(const Graph &g, const Node &n);
/// Lines of arithmetic behind a layer's row: output shape, params, MACs, receptive field.
std::vector<std::string> explainLayer(const Graph &g, const Node &n);
/// Graphviz dot of the model: one box per layer, edges labelled with the value's type.
std::string printDot(const Graph &g, int64_t batch = -1);
/// 3369 -> "3,369".
std::string withCommas(int64_t v);
/// Bytes in a readable unit ("12.3 KiB").
std::string humanBytes(double bytes);

} // namespace nnc
