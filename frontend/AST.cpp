// Printing of the AST: printLiteral writes a literal back in source form (strings in double
// quotes unless they hold one, a 1-tuple as `(3,)`, as Python does); printAST writes one
// block per statement headed by its line:col, with its arguments indented below and each
// argument's literal kind, so a reader sees exactly what the parser understood.
#include "frontend/AST.h"

#include <fmt/format.h>

namespace nnc {
namespace {

const char *literalKindName(Literal::Kind k) {
  switch (k) {
  case Literal::Int:
    return "int";
  case Literal::Float:
    return "float";
  case Literal::Bool:
    return "bool";
  case Literal::Ident:
    return "ident";
  case Literal::String:
    return "string";
  case Literal::Tuple:
    return "tuple";
  case Literal::Shape:
    return "shape";
  }
  return "literal";
}

std::string locStr(SourceLoc l) {
  return fmt::format("{}:{}", l.line, l.col);
}

void printArgs(std::string &out, const std::vector<Arg> &args) {
  for (const Arg &a : args) {
    if (a.key.empty())
      out += fmt::format("    {} arg {} : {}\n", locStr(a.value.loc), printLiteral(a.value),
                         literalKindName(a.value.kind));
    else
      out += fmt::format("    {} arg {}={} : {}\n", locStr(a.keyLoc), a.key, printLiteral(a.value),
                         literalKindName(a.value.kind));
  }
}

} // namespace

std::string printLiteral(const Literal &l) {
  switch (l.kind) {
  case Literal::Int:
    return std::to_string(l.i);
  case Literal::Float: {
    std::string s = fmt::format("{}", l.f);
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  }
  case Literal::Bool:
    return l.b ? "true" : "false";
  case Literal::Ident:
    return l.s;
  case Literal::String: {
    char quote = l.s.find('"') == std::string::npos ? '"' : '\'';
    return quote + l.s + quote;
  }
  case Literal::Tuple:
  case Literal::Shape: {
    std::string s = l.kind == Literal::Tuple ? "(" : "[";
    for (size_t i = 0; i < l.elems.size(); ++i) s += (i ? ", " : "") + printLiteral(l.elems[i]);
    if (l.kind == Literal::Tuple && l.elems.size() == 1) s += ",";
    return s + (l.kind == Literal::Tuple ? ")" : "]");
  }
  }
  return "";
}

std::string printAST(const Module &m) {
  std::string out = fmt::format("module '{}'\n", m.file);
  for (const Stmt &s : m.stmts) {
    std::string at = locStr(s.loc);
    switch (s.kind) {
    case Stmt::Model:
      out += fmt::format("  {} model {}\n", at, s.name);
      break;
    case Stmt::Input:
      out += fmt::format("  {} input {}\n    {} shape {}\n", at, s.name, locStr(s.shape.loc),
                         printLiteral(s.shape));
      break;
    case Stmt::Assign:
      out += fmt::format("  {} assign {} = {}\n", at, s.name, s.op);
      printArgs(out, s.args);
      break;
    case Stmt::Output:
      out += fmt::format("  {} output\n", at);
      for (const auto &[name, loc] : s.outputs)
        out += fmt::format("    {} name {}\n", locStr(loc), name);
      break;
    case Stmt::Loss:
      out += fmt::format("  {} loss {}\n", at, s.op);
      printArgs(out, s.args);
      break;
    case Stmt::Train:
      out += fmt::format("  {} train\n", at);
      printArgs(out, s.args);
      break;
    }
  }
  return out;
}

} // namespace nnc
