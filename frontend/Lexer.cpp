// The lexer: one left-to-right pass over the bytes with a small state (position, line, bracket
// depth). Newlines become tokens only at bracket depth 0, so a statement continues while a `(`
// or `[` is open. To recover from a forgotten `)`, a continuation line that can only be the
// start of a new statement (a statement keyword, or `NAME = OP(`) ends the open brackets.
// A `-` directly before a digit belongs to the number (the language has no subtraction).
// Strings take either quote, as in Python; `True`/`False` are the booleans' Python spellings.
// Each run of bytes that cannot start a token is one error.
#include "frontend/Lexer.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>

namespace nnc {

const char *tokName(Tok k) {
  switch (k) {
  case Tok::Eof:
    return "end of file";
  case Tok::Newline:
    return "end of line";
  case Tok::Ident:
    return "identifier";
  case Tok::Int:
    return "integer";
  case Tok::Float:
    return "float";
  case Tok::String:
    return "string";
  case Tok::KwModel:
    return "'model'";
  case Tok::KwInput:
    return "'input'";
  case Tok::KwOutput:
    return "'output'";
  case Tok::KwLoss:
    return "'loss'";
  case Tok::KwTrain:
    return "'train'";
  case Tok::KwTrue:
    return "'true'";
  case Tok::KwFalse:
    return "'false'";
  case Tok::LParen:
    return "'('";
  case Tok::RParen:
    return "')'";
  case Tok::LBracket:
    return "'['";
  case Tok::RBracket:
    return "']'";
  case Tok::Comma:
    return "','";
  case Tok::Colon:
    return "':'";
  case Tok::Equal:
    return "'='";
  case Tok::Error:
    return "invalid token";
  }
  return "token";
}

namespace {

/// The enum spelling of a token kind, for token dumps.
const char *tokKindName(Tok k) {
  static const char *const names[] = {
      "Eof",     "Newline",  "Ident",    "Int",     "Float",  "String",  "KwModel",
      "KwInput", "KwOutput", "KwLoss",   "KwTrain", "KwTrue", "KwFalse", "LParen",
      "RParen",  "LBracket", "RBracket", "Comma",   "Colon",  "Equal",   "Error"};
  return names[static_cast<int>(k)];
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isIdentChar(char c) {
  return isIdentStart(c) || isDigit(c);
}
bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/// Shows bytes for a message: printable text as is, other bytes as \xNN, long runs cut.
std::string escapeBytes(std::string_view s, size_t maxBytes = 32) {
  std::string out;
  size_t i = 0;
  for (; i < s.size() && i < maxBytes;) {
    unsigned char c = s[i];
    size_t n = c >= 0x80 ? utf8Length(s, i) : 0;
    if (c >= 0x20 && c < 0x7F) {
      out += char(c);
      ++i;
    } else if (n != 0) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += c == '\n' ? std::string("\\n") : c == '\t' ? "\\t" : fmt::format("\\x{:02X}", c);
      ++i;
    }
  }
  if (i < s.size()) out += "...";
  return out;
}

Tok keywordKind(std::string_view w) {
  if (w == "model") return Tok::KwModel;
  if (w == "input") return Tok::KwInput;
  if (w == "output") return Tok::KwOutput;
  if (w == "loss") return Tok::KwLoss;
  if (w == "train") return Tok::KwTrain;
  if (w == "true" || w == "True") return Tok::KwTrue;
  if (w == "false" || w == "False") return Tok::KwFalse;
  return Tok::Ident;
}

} // namespace

struct TokenStream::Impl {
  Impl(std::string_view src, DiagEngine &diags) : src_(src), diags_(diags) {
    if (src_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = lineStart_ = 3;
  }

  Token next() {
    Token t = scan();
    last_ = t.kind;
    return t;
  }

private:
  /// Skips blanks, comments and suppressed newlines, then lexes one token.
  Token scan() {
    while (pos_ < src_.size()) {
      char c = src_[pos_];
      if (c == '\n') {
        SourceLoc loc = here();
        ++pos_;
        ++line_;
        lineStart_ = pos_;
        if (depth_ > 0) {
          continuation_ = true;
          pendingNewline_ = loc;
        } else if (last_ != Tok::Newline && last_ != Tok::Eof) {
          return make(Tok::Newline, "\n", loc);
        }
        continue;
      }
      if (isBlank(c)) {
        ++pos_;
        continue;
      }
      if (c == '#') {
        while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
        continue;
      }
      if (continuation_) {
        continuation_ = false;
        if (depth_ > 0 && looksLikeStatementStart(pos_)) {
          depth_ = 0;
          return make(Tok::Newline, "\n", pendingNewline_);
        }
      }
      return lexToken();
    }
    return make(Tok::Eof, "", here());
  }

  SourceLoc here() const { return {line_, static_cast<uint32_t>(pos_ - lineStart_ + 1)}; }

  void error(SourceLoc loc, std::string msg, std::vector<std::string> notes = {}) {
    diags_.error(loc, std::move(msg)).notes = std::move(notes);
  }

  static Token make(Tok kind, std::string text, SourceLoc loc) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    t.loc = loc;
    return t;
  }

  /// The token of kind `kind` spanning [begin, pos_).
  Token made(Tok kind, size_t begin, SourceLoc loc) const {
    return make(kind, std::string(src_.substr(begin, pos_ - begin)), loc);
  }

  /// True if a token can start at `p` (so `p` does not continue a run of invalid bytes).
  bool startsToken(size_t p) const {
    char c = src_[p];
    if (isIdentStart(c) || isDigit(c) || c == '"' || c == '\'' || c == '#' || c == '\n' ||
        isBlank(c))
      return true;
    if (c == '-') return p + 1 < src_.size() && isDigit(src_[p + 1]);
    return c == '(' || c == ')' || c == '[' || c == ']' || c == ',' || c == ':' || c == '=';
  }

  /// Skips spaces and tabs from `p` on the current line.
  size_t skipBlanks(size_t p) const {
    while (p < src_.size() && (src_[p] == ' ' || src_[p] == '\t')) ++p;
    return p;
  }

  /// Reads an identifier at `p`; returns its end (== p if none).
  size_t identEnd(size_t p) const {
    if (p >= src_.size() || !isIdentStart(src_[p])) return p;
    while (p < src_.size() && isIdentChar(src_[p])) ++p;
    return p;
  }

  /// Tokens that can never continue an argument list: a statement keyword, or `NAME = OP(`.
  bool looksLikeStatementStart(size_t p) const {
    size_t e = identEnd(p);
    if (e == p) return false;
    Tok k = keywordKind(src_.substr(p, e - p));
    if (k != Tok::Ident) return k != Tok::KwTrue && k != Tok::KwFalse;
    size_t q = skipBlanks(e);
    if (q >= src_.size() || src_[q] != '=') return false;
    q = skipBlanks(q + 1);
    size_t opEnd = identEnd(q);
    if (opEnd == q) return false;
    q = skipBlanks(opEnd);
    return q < src_.size() && src_[q] == '(';
  }

  Token lexToken() {
    size_t begin = pos_;
    SourceLoc loc = here();
    char c = src_[pos_];
    if (isIdentStart(c)) {
      pos_ = identEnd(pos_);
      return made(keywordKind(src_.substr(begin, pos_ - begin)), begin, loc);
    }
    if (isDigit(c) || (c == '-' && pos_ + 1 < src_.size() && isDigit(src_[pos_ + 1])))
      return lexNumber();
    if (c == '"' || c == '\'') return lexString(c);
    Tok punct = Tok::Error;
    switch (c) {
    case '(':
      punct = Tok::LParen;
      ++depth_;
      break;
    case '[':
      punct = Tok::LBracket;
      ++depth_;
      break;
    case ')':
      punct = Tok::RParen;
      depth_ = depth_ > 0 ? depth_ - 1 : 0;
      break;
    case ']':
      punct = Tok::RBracket;
      depth_ = depth_ > 0 ? depth_ - 1 : 0;
      break;
    case ',':
      punct = Tok::Comma;
      break;
    case ':':
      punct = Tok::Colon;
      break;
    case '=':
      punct = Tok::Equal;
      break;
    default:
      return lexInvalidRun();
    }
    ++pos_;
    return made(punct, begin, loc);
  }

  /// integer ::= '-'? DIGIT+ ; float ::= '-'? DIGIT+ ('.' DIGIT+)? ([eE] [+-]? DIGIT+)?
  Token lexNumber() {
    size_t begin = pos_;
    SourceLoc loc = here();
    if (src_[pos_] == '-') ++pos_;
    auto digits = [&] {
      while (pos_ < src_.size() && isDigit(src_[pos_])) ++pos_;
    };
    digits();
    bool isFloat = false;
    if (pos_ + 1 < src_.size() && src_[pos_] == '.' && isDigit(src_[pos_ + 1])) {
      isFloat = true;
      ++pos_;
      digits();
    }
    if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
      size_t q = pos_ + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && isDigit(src_[q])) {
        isFloat = true;
        pos_ = q;
        digits();
      }
    }
    if (pos_ < src_.size() && (isIdentChar(src_[pos_]) || src_[pos_] == '.')) {
      while (pos_ < src_.size() && (isIdentChar(src_[pos_]) || src_[pos_] == '.')) ++pos_;
      Token t = made(Tok::Error, begin, loc);
      error(loc, fmt::format("invalid number '{}'", escapeBytes(t.text)),
            {"hint: numbers look like 16, -1, 0.001 or 1e-7"});
      return t;
    }
    Token t = made(isFloat ? Tok::Float : Tok::Int, begin, loc);
    if (isFloat) {
      auto res = std::from_chars(t.text.data(), t.text.data() + t.text.size(), t.floatValue);
      if (res.ec == std::errc::result_out_of_range) {
        t.floatValue = std::strtod(t.text.c_str(), nullptr);
        if (std::isinf(t.floatValue)) {
          t.kind = Tok::Error;
          error(loc, fmt::format("floating-point literal '{}' is too large", escapeBytes(t.text)));
        }
      }
      return t;
    }
    bool negative = t.text[0] == '-';
    uint64_t limit = negative ? uint64_t(1) << 63 : (uint64_t(1) << 63) - 1;
    uint64_t v = 0;
    for (size_t i = negative ? 1 : 0; i < t.text.size(); ++i) {
      uint64_t d = static_cast<uint64_t>(t.text[i] - '0');
      if (v > (limit - d) / 10) {
        t.kind = Tok::Error;
        error(loc, fmt::format("integer literal '{}' is too large", escapeBytes(t.text)),
              {fmt::format("integers must lie in [{}, {}]", INT64_MIN, INT64_MAX)});
        return t;
      }
      v = v * 10 + d;
    }
    t.intValue = negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
    return t;
  }

  /// string ::= '"' (printable UTF-8 but '"' or newline)* '"'
  ///          | "'" (printable UTF-8 but "'" or newline)* "'"
  Token lexString(char quote) {
    size_t begin = pos_;
    SourceLoc loc = here();
    ++pos_;
    bool bad = false;
    SourceLoc badLoc;
    while (pos_ < src_.size() && src_[pos_] != quote && src_[pos_] != '\n') {
      unsigned char c = src_[pos_];
      size_t n = c >= 0x80 ? utf8Length(src_, pos_) : 1;
      if ((n == 0 || (c < 0x20 && c != '\t') || c == 0x7F) && !bad) {
        bad = true;
        badLoc = here();
      }
      pos_ += n == 0 ? 1 : n;
    }
    if (pos_ >= src_.size() || src_[pos_] != quote) {
      Token t = made(Tok::Error, begin, loc);
      error(loc,
            fmt::format("unterminated string literal: expected a closing {} but found {}", quote,
                        tokName(pos_ >= src_.size() ? Tok::Eof : Tok::Newline)),
            {"hint: a string ends with the quote it starts with, on the same line"});
      return t;
    }
    ++pos_;
    Token t = made(bad ? Tok::Error : Tok::String, begin, loc);
    if (bad) error(badLoc, "string literal contains bytes that are not printable UTF-8 text");
    return t;
  }

  /// Consumes a maximal run of bytes that cannot start a token and reports it once.
  Token lexInvalidRun() {
    size_t begin = pos_;
    SourceLoc loc = here();
    while (pos_ < src_.size() && !startsToken(pos_)) ++pos_;
    Token t = made(Tok::Error, begin, loc);
    std::string_view run = src_.substr(begin, pos_ - begin);
    bool text = true;
    size_t chars = 0;
    for (size_t i = 0; i < run.size(); ++chars) {
      unsigned char c = run[i];
      size_t n = c >= 0x80 ? utf8Length(run, i) : (c >= 0x20 && c < 0x7F ? 1 : 0);
      if (n == 0) {
        text = false;
        break;
      }
      i += n;
    }
    std::vector<std::string> notes;
    if (run == "-") notes.push_back("hint: '-' may only appear directly before a number, as in -1");
    if (text)
      error(loc, fmt::format("invalid character{} '{}'", chars == 1 ? "" : "s", escapeBytes(run)),
            std::move(notes));
    else
      error(loc, fmt::format("invalid byte{} '{}' (a .nn file must be UTF-8 text)",
                             run.size() == 1 ? "" : "s", escapeBytes(run)));
    return t;
  }

  std::string_view src_;
  DiagEngine &diags_;
  size_t pos_ = 0;
  size_t lineStart_ = 0;
  uint32_t line_ = 1;
  int depth_ = 0;
  bool continuation_ = false;
  Tok last_ = Tok::Eof; // kind of the last token returned; Eof before the first
  SourceLoc pendingNewline_;
};

TokenStream::TokenStream(std::string_view source, DiagEngine &diags)
    : impl_(std::make_unique<Impl>(source, diags)) {}

TokenStream::~TokenStream() = default;

Token TokenStream::next() {
  return impl_->next();
}

std::vector<Token> lex(std::string_view source, DiagEngine &diags) {
  TokenStream ts(source, diags);
  std::vector<Token> toks;
  do toks.push_back(ts.next());
  while (toks.back().kind != Tok::Eof);
  return toks;
}

std::string printTokens(const std::vector<Token> &toks) {
  std::string out;
  for (const Token &t : toks)
    out += fmt::format("{}:{} {} '{}'\n", t.loc.line, t.loc.col, tokKindName(t.kind),
                       escapeBytes(t.text, t.text.size()));
  return out;
}

} // namespace nnc
