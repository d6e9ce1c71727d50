// Lexer and diagnostics tests: every literal form (both quotes, Python's True/False), keywords,
// comments, newline suppression inside brackets, token locations, the token dump, and lexical
// errors with their rendering.
#include "frontend/Lexer.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace nnc;

namespace {

/// Lexes `src` and returns the tokens; `out` receives the rendered diagnostics.
std::vector<Token> lexAll(const std::string &src, std::string *out = nullptr,
                          size_t *errors = nullptr) {
  DiagEngine d("t.nn", src);
  std::vector<Token> toks = lex(src, d);
  if (out) *out = d.render();
  if (errors) *errors = d.errorCount();
  return toks;
}

std::vector<Tok> kinds(const std::vector<Token> &toks) {
  std::vector<Tok> k;
  for (const Token &t : toks) k.push_back(t.kind);
  return k;
}

bool contains(const std::string &hay, const std::string &needle) {
  return hay.find(needle) != std::string::npos;
}

size_t occurrences(const std::string &hay, const std::string &needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

/// The source line and caret line rendered for an error at 1-based `col` of one-line `src`.
std::string shownAt(const std::string &src, uint32_t col) {
  DiagEngine d("m.nn", src);
  d.error({1, col}, "here");
  std::string out = d.render();
  return out.substr(out.find('\n') + 1);
}

} // namespace

TEST_CASE("fe lexer: integer literals, including negative and int64 limits") {
  std::string diags;
  auto t = lexAll("16 -1 0 9223372036854775807 -9223372036854775808", &diags);
  REQUIRE(t.size() == 6);
  CHECK(diags.empty());
  CHECK(t[0].kind == Tok::Int);
  CHECK(t[0].intValue == 16);
  CHECK(t[1].kind == Tok::Int);
  CHECK(t[1].intValue == -1);
  CHECK(t[1].text == "-1");
  CHECK(t[2].intValue == 0);
  CHECK(t[3].intValue == INT64_MAX);
  CHECK(t[4].intValue == INT64_MIN);
  CHECK(t[5].kind == Tok::Eof);
}

TEST_CASE("fe lexer: float literals") {
  std::string diags;
  auto t = lexAll("0.001 1e-7 1.5e3 -2.5 1E+2 1e-400", &diags);
  CHECK(diags.empty());
  REQUIRE(t.size() == 7);
  for (int i = 0; i < 6; ++i) CHECK(t[i].kind == Tok::Float);
  CHECK(t[0].floatValue == doctest::Approx(0.001));
  CHECK(t[1].floatValue == doctest::Approx(1e-7).epsilon(1e-12));
  CHECK(t[2].floatValue == 1500.0);
  CHECK(t[3].floatValue == -2.5);
  CHECK(t[4].floatValue == 100.0);
  CHECK(t[5].floatValue == 0.0);
}

TEST_CASE("fe lexer: strings, identifiers, keywords and punctuation") {
  auto t = lexAll("model input output loss train true false same _x9 \"enc1\" ( ) [ ] , : =");
  std::vector<Tok> want = {Tok::KwModel, Tok::KwInput, Tok::KwOutput, Tok::KwLoss,   Tok::KwTrain,
                           Tok::KwTrue,  Tok::KwFalse, Tok::Ident,    Tok::Ident,    Tok::String,
                           Tok::LParen,  Tok::RParen,  Tok::LBracket, Tok::RBracket, Tok::Comma,
                           Tok::Colon,   Tok::Equal,   Tok::Eof};
  CHECK(kinds(t) == want);
  CHECK(t[7].text == "same");
  CHECK(t[8].text == "_x9");
  CHECK(t[9].text == "\"enc1\"");
  CHECK(lexAll("modelx")[0].kind == Tok::Ident);
}

TEST_CASE("fe lexer: single-quoted strings are strings, as in Python") {
  std::string diags;
  auto t =
      lexAll("f(activation='relu', padding=\"same\", a='say \"hi\"', b=\"it's\", c='')", &diags);
  CHECK(diags.empty());
  REQUIRE(t.size() == 23);
  CHECK(t[4].kind == Tok::String);
  CHECK(t[4].text == "'relu'");
  CHECK(t[4].loc.col == 14);
  CHECK(t[8].kind == Tok::String);
  CHECK(t[8].text == "\"same\"");
  CHECK(t[12].text == "'say \"hi\"'");
  CHECK(t[12].kind == Tok::String);
  CHECK(t[16].text == "\"it's\"");
  CHECK(t[16].kind == Tok::String);
  CHECK(t[20].kind == Tok::String);
  CHECK(t[20].text == "''");
}

TEST_CASE("fe lexer: Python's True and False are the booleans") {
  auto t = lexAll("True False true false TRUE false_ Truex");
  std::vector<Tok> want = {Tok::KwTrue, Tok::KwFalse, Tok::KwTrue, Tok::KwFalse,
                           Tok::Ident,  Tok::Ident,   Tok::Ident,  Tok::Eof};
  CHECK(kinds(t) == want);
  CHECK(t[0].text == "True");
  CHECK(t[1].text == "False");
}

TEST_CASE("fe lexer: token locations are 1-based line:col in bytes") {
  auto t = lexAll("model m\n\th = f(x)\n");
  REQUIRE(t.size() >= 9);
  CHECK(t[0].loc.line == 1);
  CHECK(t[0].loc.col == 1);
  CHECK(t[1].loc.col == 7);
  CHECK(t[2].kind == Tok::Newline);
  CHECK(t[2].loc.col == 8);
  CHECK(t[3].text == "h");
  CHECK(t[3].loc.line == 2);
  CHECK(t[3].loc.col == 2); // a tab is one byte
  CHECK(t[5].text == "f");
  CHECK(t[5].loc.col == 6);
}

TEST_CASE("fe lexer: comments and blank lines") {
  auto t = lexAll("# header\n\nmodel m # trailing\n\n\n# only a comment\ninput x: [1]\n");
  std::vector<Tok> want = {Tok::KwModel,  Tok::Ident,   Tok::Newline,  Tok::KwInput,
                           Tok::Ident,    Tok::Colon,   Tok::LBracket, Tok::Int,
                           Tok::RBracket, Tok::Newline, Tok::Eof};
  CHECK(kinds(t) == want);
  CHECK(t[3].loc.line == 7);
}

TEST_CASE("fe lexer: newlines inside ( or [ do not end the statement") {
  auto t = lexAll("h = f(x,\n  k=3,  # comment\n  s=[1,\n 2])\ny = g(h)");
  int newlines = 0;
  for (const Token &tok : t) newlines += tok.kind == Tok::Newline;
  CHECK(newlines == 1);
  CHECK(t[t.size() - 5].text == "g");
  CHECK(t[t.size() - 5].loc.line == 5);
}

TEST_CASE("fe lexer: a ')' closing nothing is lexed and does not break later lines") {
  auto t = lexAll(")\nx\n");
  std::vector<Tok> want = {Tok::RParen, Tok::Newline, Tok::Ident, Tok::Newline, Tok::Eof};
  CHECK(kinds(t) == want);
}

TEST_CASE("fe lexer: a statement start ends brackets left open") {
  auto t = lexAll("h = f(x,\nk = g(h)\n");
  std::vector<Tok> want = {Tok::Ident,  Tok::Equal,   Tok::Ident,  Tok::LParen,  Tok::Ident,
                           Tok::Comma,  Tok::Newline, Tok::Ident,  Tok::Equal,   Tok::Ident,
                           Tok::LParen, Tok::Ident,   Tok::RParen, Tok::Newline, Tok::Eof};
  CHECK(kinds(t) == want);
  CHECK(t[6].loc.line == 1);
  auto u = lexAll("h = f(x,\n  k = 3)\noutput h");
  int newlines = 0;
  for (const Token &tok : u) newlines += tok.kind == Tok::Newline;
  CHECK(newlines == 1);
}

TEST_CASE("fe lexer: CRLF line endings and a UTF-8 byte order mark") {
  std::string diags;
  auto t = lexAll("\xEF\xBB\xBFmodel m\r\ninput x: [1]\r\n", &diags);
  CHECK(diags.empty());
  CHECK(t[0].kind == Tok::KwModel);
  CHECK(t[0].loc.col == 1); // columns start after the byte order mark
  CHECK(t[2].kind == Tok::Newline);
  CHECK(t[3].loc.line == 2);
  CHECK(t[3].loc.col == 1);
  DiagEngine d("t.nn", "\xEF\xBB\xBFmodel m\n");
  d.error({1, 7}, "here");
  CHECK(d.render() == "t.nn:1:7: error: here\nmodel m\n      ^\n");
}

TEST_CASE("fe lexer: printTokens prints one token per line") {
  DiagEngine d("t.nn", "");
  std::string s = printTokens(lex("model m\nh = f(-1, 1e-7)", d));
  CHECK(contains(s, "1:1 KwModel 'model'\n1:7 Ident 'm'\n1:8 Newline '\\n'\n"));
  CHECK(contains(s, "2:7 Int '-1'\n"));
  CHECK(contains(s, "2:11 Float '1e-7'\n"));
  CHECK(contains(s, "2:16 Eof ''\n"));
}

TEST_CASE("fe lexer: integer overflow is reported with its location") {
  std::string out;
  auto t = lexAll("x = 9223372036854775808", &out);
  CHECK(t[2].kind == Tok::Error);
  CHECK(contains(out, "t.nn:1:5: error: integer literal '9223372036854775808' is too large"));
  lexAll("-9223372036854775809", &out);
  CHECK(contains(out, "t.nn:1:1: error: integer literal '-9223372036854775809' is too large"));
}

TEST_CASE("fe lexer: malformed numbers and strings") {
  std::string out;
  lexAll("a 1.5.2 1e 3x", &out);
  CHECK(contains(out, "t.nn:1:3: error: invalid number '1.5.2'"));
  CHECK(contains(out, "t.nn:1:9: error: invalid number '1e'"));
  CHECK(contains(out, "t.nn:1:12: error: invalid number '3x'"));
  lexAll("f(\"abc\n", &out);
  CHECK(contains(out, "t.nn:1:3: error: unterminated string literal: expected a closing \" but "
                      "found end of line\nf(\"abc\n  ^\n"
                      "hint: a string ends with the quote it starts with, on the same line\n"));
  lexAll("x = 'relu\ny = 1", &out);
  CHECK(contains(out, "t.nn:1:5: error: unterminated string literal: expected a closing ' but "
                      "found end of line\n"));
  lexAll("x = 'relu\"", &out);
  CHECK(contains(out, "t.nn:1:5: error: unterminated string literal: expected a closing ' but "
                      "found end of file\n"));
  size_t errors = 0;
  auto t = lexAll("f(a='x, b=2)\ny = g(c=3)", &out, &errors);
  CHECK(errors == 1);
  CHECK(t[3].kind == Tok::Equal);
  CHECK(t[4].kind == Tok::Error);
  CHECK(t[4].text == "'x, b=2)");
  CHECK(t[5].kind == Tok::Newline);
  CHECK(t[6].text == "y");
  lexAll("x = 1e999", &out);
  CHECK(contains(out, "t.nn:1:5: error: floating-point literal '1e999' is too large"));
}

TEST_CASE("fe lexer: a run of invalid characters is one error") {
  std::string out;
  size_t errors = 0;
  auto t = lexAll("h = f($%& x) @", &out, &errors);
  CHECK(errors == 2);
  CHECK(contains(out, "t.nn:1:7: error: invalid characters '$%&'\nh = f($%& x) @\n      ^\n"));
  CHECK(contains(out, "t.nn:1:14: error: invalid character '@'"));
  CHECK(t[4].kind == Tok::Error);
  CHECK(t[5].text == "x");
  lexAll("x = - 1", &out);
  CHECK(contains(out, "t.nn:1:5: error: invalid character '-'"));
  CHECK(contains(out, "hint: '-' may only appear directly before a number"));
  lexAll("x = \xC3\xA9", &out);
  CHECK(contains(out, "error: invalid character '\xC3\xA9'"));
  t = lexAll("f($'a')", &out, &errors);
  CHECK(errors == 1);
  CHECK(contains(out, "t.nn:1:3: error: invalid character '$'\n"));
  CHECK(t[3].kind == Tok::String); // a quote ends a run of invalid characters
}

TEST_CASE("fe lexer: invalid UTF-8 is reported once per run, shown escaped") {
  std::string out;
  size_t errors = 0;
  lexAll("model m\nx = \xFF\xFE y\n", &out, &errors);
  CHECK(errors == 1);
  CHECK(contains(out,
                 "t.nn:2:5: error: invalid bytes '\\xFF\\xFE' (a .nn file must be UTF-8 text)\n"
                 "x = <FF><FE> y\n    ^\n"));
}

TEST_CASE("fe lexer: errors past the limit are counted, and lexing goes on to the end") {
  std::string src;
  for (int i = 0; i < 100; ++i) src += "$ x\n";
  std::string out;
  size_t errors = 0;
  auto t = lexAll(src, &out, &errors);
  CHECK(errors == 100);
  CHECK(occurrences(out, ": error: ") == DiagEngine::kMaxErrors);
  CHECK(contains(out, "t.nn:20:1: error: invalid character '$'"));
  CHECK(out.ends_with("t.nn: note: 80 more errors not shown\n"));
  CHECK(t.size() == 301); // $, x and the end of line on each line, then the end of file
  CHECK(t.back().kind == Tok::Eof);
}

TEST_CASE("fe diagnostics: rendering with caret, tabs, notes and hints") {
  DiagEngine d("m.nn", "model m\n\t\tx = 1\n");
  Diagnostic &e = d.error({2, 7}, "bad value");
  e.notes.push_back("computed 3 - 4");
  e.notes.push_back("hint: use a positive number");
  d.warning({1, 1}, "just saying");
  d.error({}, "no location");
  CHECK(d.errorCount() == 2);
  CHECK(d.hasErrors());
  CHECK(d.render() == "m.nn:2:7: error: bad value\n"
                      "\t\tx = 1\n"
                      "\t\t    ^\n"
                      "note: computed 3 - 4\n"
                      "hint: use a positive number\n"
                      "m.nn:1:1: warning: just saying\n"
                      "model m\n"
                      "^\n"
                      "m.nn: error: no location\n");
  CHECK(d.lineText(2) == "\t\tx = 1");
  CHECK(d.lineText(3) == "");
  CHECK(d.lineText(99) == "");
}

TEST_CASE("fe diagnostics: a caret past the end of the line") {
  DiagEngine d("m.nn", "ab");
  d.error({1, 5}, "here");
  CHECK(d.render() == "m.nn:1:5: error: here\nab\n    ^\n");
}

TEST_CASE("fe diagnostics: at most 20 errors are kept; the others are counted") {
  DiagEngine d("m.nn", "model m\n");
  for (int i = 1; i <= 25; ++i)
    d.error({}, fmt::format("error {}", i)).notes.push_back(fmt::format("note {}", i));
  CHECK(d.errorCount() == 25);
  CHECK(d.errorsNotShown() == 5);
  CHECK(d.diagnostics().size() == DiagEngine::kMaxErrors);
  std::string out = d.render();
  CHECK(occurrences(out, ": error: ") == 20);
  CHECK(
      out.ends_with("m.nn: error: error 20\nnote: note 20\nm.nn: note: 5 more errors not shown\n"));
  CHECK(!contains(out, "error 21"));
  CHECK(!contains(out, "note 21"));
  DiagEngine one("m.nn", "");
  for (int i = 0; i < 21; ++i) one.error({}, "e");
  CHECK(one.render().ends_with("m.nn: error: e\nm.nn: note: 1 more error not shown\n"));
  DiagEngine exact("m.nn", "");
  for (int i = 0; i < 20; ++i) exact.error({}, "e");
  CHECK(!contains(exact.render(), "not shown"));
}

TEST_CASE("fe diagnostics: a long line is shown as 80 columns either side of the caret") {
  std::string a(150, 'a'), b(149, 'b');
  std::string line = a + "X" + b; // 300 columns
  CHECK(shownAt(line, 151) == "..." + std::string(80, 'a') + "X" + std::string(80, 'b') + "...\n" +
                                  std::string(83, ' ') + "^\n");
  CHECK(shownAt(line, 1) == line.substr(0, 81) + "...\n^\n");
  CHECK(shownAt(line, 301) == "..." + line.substr(220) + "\n" + std::string(83, ' ') + "^\n");
  CHECK(shownAt(line, 303) == "..." + line.substr(220) + "\n" + std::string(85, ' ') + "^\n");
  std::string limit(DiagEngine::kLongLine, 'c');
  CHECK(shownAt(limit, 150) == limit + "\n" + std::string(149, ' ') + "^\n");
  CHECK(shownAt(limit + "c", 150).starts_with("..."));
}

TEST_CASE("fe diagnostics: an elided line keeps tabs, UTF-8 and escaped bytes aligned") {
  std::string e = "\xC3\xA9"; // é: two bytes, one column
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += e;
  std::string line = accents + "\tX" + std::string(150, 'b');
  std::string kept;
  for (int i = 0; i < 79; ++i) kept += e;
  CHECK(shownAt(line, 202) ==
        "..." + kept + "\tX" + std::string(80, 'b') + "...\n" + std::string(82, ' ') + "\t^\n");
  std::string bytes(300, '\xFF'); // each shown as <FF>: four columns
  std::string twenty;
  for (int i = 0; i < 20; ++i) twenty += "<FF>";
  CHECK(shownAt(bytes, 151) ==
        "..." + twenty + "<FF>" + twenty + "...\n" + std::string(83, ' ') + "^\n");
}
