// The parser: a recursive-descent parser over tokens producing a Module. Grammar rules are
// written above each parse function. Errors are collected; parsing recovers at newlines.
#pragma once

#include "frontend/AST.h"
#include "frontend/Lexer.h"

namespace nnc {

/// Parses `source` (named `file` in diagnostics). Errors are recorded in `diags`.
Module parse(std::string_view source, const std::string &file, DiagEngine &diags);

} // namespace nnc
