// The lexer: turns `.nn` text into tokens with line:column locations. Newlines are tokens
// except inside an open `(` or `[`, where statements continue.
#pragma once

#include "frontend/Diagnostics.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

enum class Tok {
  Eof,
  Newline,
  Ident,
  Int,
  Float,
  String,
  KwModel,
  KwInput,
  KwOutput,
  KwLoss,
  KwTrain,
  KwTrue,
  KwFalse,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Equal,
  Error
};

/// One token; `text` is the exact source spelling.
struct Token {
  Tok kind = Tok::Eof;
  std::string text;
  SourceLoc loc;
  int64_t intValue = 0;
  double floatValue = 0;
};

/// Name of a token kind for messages ("identifier", "')'", "end of line").
const char *tokName(Tok k);

/// Lexes a whole buffer; errors go to `diags` and produce Tok::Error tokens.
std::vector<Token> lex(std::string_view source, DiagEngine &diags);

/// Lexes on demand, one token per call, so lexer and parser errors come out in source order.
class TokenStream {
public:
  TokenStream(std::string_view source, DiagEngine &diags);
  ~TokenStream();
  TokenStream(const TokenStream &) = delete;
  TokenStream &operator=(const TokenStream &) = delete;
  /// Returns the next token; Eof forever at the end.
  Token next();

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Prints tokens one per line (for `nnc dump --emit=tokens`).
std::string printTokens(const std::vector<Token> &toks);

} // namespace nnc
