// The parser: recursive descent over the token vector, one function per grammar rule (the rule
// is written above each function). Every failure reports "expected X but found Y" once and
// returns false; the statement loop then skips to the next end of line and goes on, so one
// mistake costs one error per line. Literal nesting is limited to kMaxNesting levels, which
// bounds the recursion depth whatever the input. Structure checks done here: `model` comes
// first and only once; a line that starts with a near miss of a statement keyword gets a
// "did you mean" hint. Names, operators, keywords and ranks are checked by the lowering.
#include "frontend/Parser.h"
#include "frontend/Suggest.h"

#include <fmt/format.h>
#include <optional>

namespace nnc {
namespace {

/// Deepest nesting of tuples and shapes inside one literal.
constexpr int kMaxNesting = 64;
/// Longest token text quoted after "but found".
constexpr size_t kMaxTokenShown = 40;

const char *const kStatementList =
    "a statement (model, input, output, loss, train, or NAME = OP(...))";

bool isKeyword(Tok k) {
  return k == Tok::KwModel || k == Tok::KwInput || k == Tok::KwOutput || k == Tok::KwLoss ||
         k == Tok::KwTrain || k == Tok::KwTrue || k == Tok::KwFalse;
}

class Parser {
public:
  Parser(std::string_view source, DiagEngine &diags) : tokens_(source, diags), diags_(diags) {
    cur_ = tokens_.next();
  }

  // file ::= { NEWLINE } [ statement { NEWLINE { NEWLINE } statement } ] [ NEWLINE ] EOF
  Module parseFile(const std::string &file) {
    Module m;
    m.file = file;
    while (cur().kind != Tok::Eof) {
      if (cur().kind == Tok::Newline) {
        advance();
        continue;
      }
      if (!sawStatement_) {
        sawStatement_ = true;
        if (!checkFirstStatement()) {
          sync();
          continue;
        }
      }
      Stmt s;
      if (!parseStatement(s)) {
        sync();
        continue;
      }
      if (cur().kind != Tok::Newline && cur().kind != Tok::Eof) {
        fail("end of line after the statement", kerasCallHint(s));
        sync();
        continue;
      }
      m.stmts.push_back(std::move(s));
    }
    if (!sawStatement_)
      error({}, "expected 'model NAME' as the first statement (the file has no statements)",
            {"hint: a .nn file starts with a line like: model autoencoder"});
    return m;
  }

private:
  const Token &cur() const { return cur_; }
  /// The token after the current one (lexed on first use).
  const Token &peek() {
    if (!next_) next_ = cur_.kind == Tok::Eof ? cur_ : tokens_.next();
    return *next_;
  }
  void advance() {
    if (cur_.kind == Tok::Eof) return;
    prev_ = std::move(cur_);
    cur_ = next_ ? std::move(*next_) : tokens_.next();
    next_.reset();
  }
  bool at(Tok k) const { return cur().kind == k; }
  bool atLineEnd() const { return at(Tok::Newline) || at(Tok::Eof); }

  /// Skips the rest of the current statement, including its end of line.
  void sync() {
    while (!atLineEnd()) advance();
    advance();
  }

  /// Records an error (past the error limit it is only counted). Returns false for chaining.
  bool error(SourceLoc loc, std::string msg, std::vector<std::string> notes = {}) {
    diags_.error(loc, std::move(msg)).notes = std::move(notes);
    return false;
  }

  /// How a token is named after "but found".
  static std::string describe(const Token &t) {
    if (t.kind == Tok::Newline || t.kind == Tok::Eof) return tokName(t.kind);
    return "'" + clip(t.text, kMaxTokenShown) + "'";
  }

  /// Where an "expected X" error points: at the found token, or just after the previous
  /// token when the line ended (as clang does for a missing ';').
  SourceLoc errorLoc() const {
    if (atLineEnd() && prev_.loc.valid() && prev_.kind != Tok::Newline)
      return {prev_.loc.line, static_cast<uint32_t>(prev_.loc.col + prev_.text.size())};
    return cur().loc;
  }

  /// Reports "expected WHAT but found CUR" (silently if CUR is an already reported bad token).
  bool fail(const std::string &what, std::vector<std::string> notes = {}) {
    if (at(Tok::Error)) return false;
    if (isKeyword(cur().kind) && what.find("name") != std::string::npos)
      notes.push_back(
          fmt::format("hint: '{}' is a keyword and cannot be used as a name", cur().text));
    return error(errorLoc(), fmt::format("expected {} but found {}", what, describe(cur())),
                 std::move(notes));
  }

  /// Reports a missing closing bracket for the opener at `open`.
  bool failClose(char close, char openCh, SourceLoc open) {
    std::string note =
        fmt::format("the '{}' is at line {}, column {}", openCh, open.line, open.col);
    if (atLineEnd()) return fail(fmt::format("'{}' to close '{}'", close, openCh), {note});
    return fail(fmt::format("',' or '{}' after an element", close), {note});
  }

  /// For Keras's `Conv2D(16, 3)(x)`: the hint that a layer's input goes inside its call.
  std::vector<std::string> kerasCallHint(const Stmt &s) const {
    if (s.kind != Stmt::Assign || !at(Tok::LParen)) return {};
    return {fmt::format("hint: a layer's input goes first inside its call, as in {} = {}(x, ...), "
                        "not {}(...)(x) as in Keras",
                        s.name, s.op, s.op)};
  }

  /// Complains unless the first statement is `model NAME`; false if the line is not a statement.
  bool checkFirstStatement() {
    if (at(Tok::KwModel) || at(Tok::Error)) return true;
    std::vector<std::string> notes;
    if (at(Tok::Ident)) notes = keywordHint(cur().text);
    notes.push_back("hint: a .nn file starts with a line like: model autoencoder");
    fail("'model NAME' as the first statement", std::move(notes));
    return at(Tok::KwInput) || at(Tok::KwOutput) || at(Tok::KwLoss) || at(Tok::KwTrain) ||
           (at(Tok::Ident) && peek().kind == Tok::Equal);
  }

  // statement ::= modelStmt | inputStmt | assignStmt | outputStmt | lossStmt | trainStmt
  bool parseStatement(Stmt &s) {
    s.loc = cur().loc;
    switch (cur().kind) {
    case Tok::KwModel:
      return parseModel(s);
    case Tok::KwInput:
      return parseInput(s);
    case Tok::KwOutput:
      return parseOutput(s);
    case Tok::KwLoss:
      return parseLoss(s);
    case Tok::KwTrain:
      return parseTrain(s);
    case Tok::Ident:
      return parseAssign(s);
    default:
      return fail(kStatementList);
    }
  }

  /// Parses a NAME token into `name`/`loc`; `what` describes it for the error.
  bool parseName(std::string &name, SourceLoc &loc, const std::string &what) {
    if (!at(Tok::Ident)) return fail(what);
    name = cur().text;
    loc = cur().loc;
    advance();
    return true;
  }

  // modelStmt ::= 'model' IDENT
  bool parseModel(Stmt &s) {
    s.kind = Stmt::Model;
    if (modelLoc_.valid())
      error(s.loc, "duplicate 'model' statement: a file describes exactly one model",
            {fmt::format("the first 'model' statement is at line {}, column {}", modelLoc_.line,
                         modelLoc_.col)});
    else
      modelLoc_ = s.loc;
    advance();
    return parseName(s.name, s.nameLoc, "a model name after 'model'");
  }

  // inputStmt ::= 'input' IDENT ':' shape
  bool parseInput(Stmt &s) {
    s.kind = Stmt::Input;
    advance();
    if (!parseName(s.name, s.nameLoc, "an input name after 'input'")) return false;
    if (!at(Tok::Colon))
      return fail(fmt::format("':' after 'input {}'", s.name),
                  {fmt::format("hint: inputs are declared as: input {}: [28, 28, 1]", s.name)});
    advance();
    if (!at(Tok::LBracket))
      return fail(fmt::format("a shape like [28, 28, 1] after 'input {}:'", s.name));
    return parseLiteral(s.shape, 0, "");
  }

  /// A hint naming the statement keyword `word` was probably meant to be.
  static std::vector<std::string> keywordHint(const std::string &word) {
    std::string kw = closestMatch(word, {"model", "input", "output", "loss", "train"});
    if (kw.empty()) return {};
    return {fmt::format("hint: did you mean the keyword '{}'?", kw)};
  }

  // assignStmt ::= IDENT '=' call
  bool parseAssign(Stmt &s) {
    s.kind = Stmt::Assign;
    s.name = cur().text;
    s.nameLoc = cur().loc;
    advance();
    if (!at(Tok::Equal)) {
      std::vector<std::string> hint = keywordHint(s.name);
      if (hint.empty())
        return fail(fmt::format("'=' after '{}' (a layer is written NAME = OP(...))", s.name));
      return error(s.loc, fmt::format("expected {} but found '{}'", kStatementList, s.name),
                   std::move(hint));
    }
    advance();
    return parseCall(s, "an operator name after '='");
  }

  // call ::= IDENT '(' [ arg { ',' arg } [ ',' ] ] ')'
  bool parseCall(Stmt &s, const std::string &what) {
    if (!parseName(s.op, s.opLoc, what)) return false;
    if (!at(Tok::LParen)) return fail(fmt::format("'(' after '{}'", s.op));
    SourceLoc open = cur().loc;
    advance();
    while (!at(Tok::RParen)) {
      if (atLineEnd()) return failClose(')', '(', open);
      Arg a;
      if (!parseArg(a)) return false;
      s.args.push_back(std::move(a));
      if (at(Tok::Comma)) {
        advance();
        continue;
      }
      if (!at(Tok::RParen))
        return atLineEnd()
                   ? failClose(')', '(', open)
                   : fail("',' or ')' after an argument",
                          {fmt::format("the '(' is at line {}, column {}", open.line, open.col)});
    }
    advance();
    return true;
  }

  // arg ::= IDENT '=' literal | literal
  bool parseArg(Arg &a) {
    if (at(Tok::Ident) && peek().kind == Tok::Equal) {
      a.key = cur().text;
      a.keyLoc = cur().loc;
      advance();
      advance();
      return parseLiteral(a.value, 0, fmt::format("a value after '{}='", a.key));
    }
    return parseLiteral(a.value, 0, "an argument");
  }

  // outputStmt ::= 'output' IDENT { ',' IDENT }
  bool parseOutput(Stmt &s) {
    s.kind = Stmt::Output;
    advance();
    std::string what = "an output name after 'output'";
    for (;;) {
      std::pair<std::string, SourceLoc> out;
      if (!parseName(out.first, out.second, what)) return false;
      s.outputs.push_back(std::move(out));
      if (!at(Tok::Comma)) return true;
      advance();
      what = "an output name after ','";
    }
  }

  // lossStmt ::= 'loss' call
  bool parseLoss(Stmt &s) {
    s.kind = Stmt::Loss;
    advance();
    return parseCall(s, "a loss function after 'loss' (e.g. loss mse(y, x))");
  }

  // trainStmt ::= 'train' IDENT '=' literal { ',' IDENT '=' literal }
  bool parseTrain(Stmt &s) {
    s.kind = Stmt::Train;
    advance();
    std::string what = "'key=value' after 'train'";
    for (;;) {
      Arg a;
      if (!at(Tok::Ident))
        return fail(what, {"hint: for example: train optimizer=adam, epochs=10, batch=256"});
      a.key = cur().text;
      a.keyLoc = cur().loc;
      advance();
      if (!at(Tok::Equal))
        return fail(fmt::format("'=' after '{}' (train settings are key=value)", a.key));
      advance();
      if (!parseLiteral(a.value, 0, fmt::format("a value after '{}='", a.key))) return false;
      s.args.push_back(std::move(a));
      if (!at(Tok::Comma)) return true;
      advance();
      what = "'key=value' after ','";
    }
  }

  // literal ::= INT | FLOAT | 'true' | 'false' | IDENT | STRING | tuple | shape
  bool parseLiteral(Literal &l, int depth, const std::string &what) {
    l.loc = cur().loc;
    const Token &t = cur();
    switch (t.kind) {
    case Tok::Int:
      l.kind = Literal::Int;
      l.i = t.intValue;
      break;
    case Tok::Float:
      l.kind = Literal::Float;
      l.f = t.floatValue;
      break;
    case Tok::KwTrue:
    case Tok::KwFalse:
      l.kind = Literal::Bool;
      l.b = t.kind == Tok::KwTrue;
      break;
    case Tok::Ident:
      l.kind = Literal::Ident;
      l.s = t.text;
      break;
    case Tok::String:
      l.kind = Literal::String;
      l.s = t.text.substr(1, t.text.size() - 2);
      break;
    case Tok::LParen:
    case Tok::LBracket:
      return parseList(l, depth);
    default:
      return fail(what.empty() ? "a value (number, name, string, (...) or [...])" : what);
    }
    advance();
    return true;
  }

  // tuple ::= '(' [ literal { ',' literal } [ ',' ] ] ')'
  // shape ::= '[' [ literal { ',' literal } [ ',' ] ] ']'
  bool parseList(Literal &l, int depth) {
    bool tuple = at(Tok::LParen);
    char openCh = tuple ? '(' : '[', closeCh = tuple ? ')' : ']';
    Tok close = tuple ? Tok::RParen : Tok::RBracket;
    if (depth >= kMaxNesting)
      return error(cur().loc, fmt::format("nesting too deep: more than {} levels of '(' and '['",
                                          kMaxNesting));
    l.kind = tuple ? Literal::Tuple : Literal::Shape;
    SourceLoc open = cur().loc;
    advance();
    while (!at(close)) {
      if (atLineEnd()) return failClose(closeCh, openCh, open);
      Literal e;
      if (!parseLiteral(e, depth + 1, "")) return false;
      l.elems.push_back(std::move(e));
      if (at(Tok::Comma)) {
        advance();
        continue;
      }
      if (!at(close)) return failClose(closeCh, openCh, open);
    }
    advance();
    return true;
  }

  TokenStream tokens_;
  DiagEngine &diags_;
  Token cur_, prev_;
  std::optional<Token> next_;
  bool sawStatement_ = false;
  SourceLoc modelLoc_;
};

} // namespace

Module parse(std::string_view source, const std::string &file, DiagEngine &diags) {
  return Parser(source, diags).parseFile(file);
}

} // namespace nnc
