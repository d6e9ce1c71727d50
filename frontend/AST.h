// The abstract syntax tree of a `.nn` file: a flat list of statements whose arguments are
// literals. Every node carries the SourceLoc of its first token.
#pragma once

#include "frontend/Diagnostics.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nnc {

/// A literal or a name: `16`, `-1`, `1e-7`, `true`, `same`, `"enc1"`, `'relu'`, `(3, 3)`,
/// `[28, 28, 1]`.
struct Literal {
  enum Kind { Int, Float, Bool, Ident, String, Tuple, Shape };
  Kind kind = Int;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;              // Ident and String
  std::vector<Literal> elems; // Tuple and Shape
  SourceLoc loc;
};

/// A call argument: positional (`key` empty) or keyword (`key=value`).
struct Arg {
  std::string key;
  SourceLoc keyLoc;
  Literal value;
};

/// One statement of the language.
struct Stmt {
  enum Kind { Model, Input, Assign, Output, Loss, Train };
  Kind kind = Model;
  SourceLoc loc;
  std::string name; // Model/Input/Assign target
  SourceLoc nameLoc;
  Literal shape;  // Input: a Shape literal
  std::string op; // Assign/Loss: callee
  SourceLoc opLoc;
  std::vector<Arg> args; // Assign/Loss call arguments; Train: keyword arguments
  std::vector<std::pair<std::string, SourceLoc>> outputs; // Output names
};

/// A parsed file.
struct Module {
  std::string file;
  std::vector<Stmt> stmts;
};

/// Prints the AST as an indented tree (for `nnc dump --emit=ast`).
std::string printAST(const Module &m);
/// Prints a literal in source form (a String in whichever quote it does not contain).
std::string printLiteral(const Literal &l);

} // namespace nnc
