// Lowering: the AST of a `.nn` file becomes a typed Graph. Layers are built in order, as Keras
// builds them: each layer's parameters get their shapes from its input's type.
#pragma once

#include "frontend/AST.h"
#include "ir/Graph.h"

#include <optional>

namespace nnc {

/// Lowers `m` to a graph; every error (unknown op or keyword, undefined name, shape error)
/// is reported to `diags` with its source location. Returns nothing if any error occurred.
std::optional<Graph> lowerModule(const Module &m, DiagEngine &diags);

/// The Keras layer class an op corresponds to ("Conv2D", "MaxPooling2D", "InputLayer").
const char *kerasTypeName(OpKind op);

} // namespace nnc
