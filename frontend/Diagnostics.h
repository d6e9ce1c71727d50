// Source locations and clang-style diagnostics: `file:line:col: error: message`, the source
// line (elided around the caret when it is long), and a caret under the column. Errors are
// collected, never thrown or fatal; past kMaxErrors they are only counted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// A 1-based line and column in a `.nn` file; line 0 means "no location".
struct SourceLoc {
  uint32_t line = 0;
  uint32_t col = 0;
  bool valid() const { return line != 0; }
};

enum class Severity { Error, Warning, Note };

/// One message with its location and optional notes (arithmetic, hints) printed below it.
struct Diagnostic {
  Severity severity = Severity::Error;
  SourceLoc loc;
  std::string message;
  std::vector<std::string> notes;
};

/// Collects diagnostics for one source buffer and renders them with the source line. The first
/// kMaxErrors errors are kept; later ones are only counted, and the rendering ends with
/// "N more errors not shown".
class DiagEngine {
public:
  DiagEngine() = default;
  DiagEngine(std::string file, std::string source);

  /// Records an error and returns it so callers can append notes; past kMaxErrors the error is
  /// only counted, and the returned diagnostic is a scratch one that is never shown.
  Diagnostic &error(SourceLoc loc, std::string message);
  /// Records a warning.
  Diagnostic &warning(SourceLoc loc, std::string message);
  /// True once any error was found.
  bool hasErrors() const;
  /// Number of errors found, shown or not.
  size_t errorCount() const;
  /// Number of errors found past kMaxErrors: counted, not kept, not shown.
  size_t errorsNotShown() const;
  const std::vector<Diagnostic> &diagnostics() const { return diags_; }
  const std::string &file() const { return file_; }
  const std::string &source() const { return source_; }
  /// Renders every kept diagnostic as `file:line:col: error: msg`, source line, caret, notes,
  /// then "FILE: note: N more errors not shown" if errors were only counted.
  std::string render() const;
  /// Renders one diagnostic.
  std::string render(const Diagnostic &d) const;
  /// Returns the text of 1-based line `line` (without newline), or "" if out of range.
  std::string lineText(uint32_t line) const;

  /// At most this many errors are kept and shown.
  static constexpr size_t kMaxErrors = 20;
  /// Source lines longer than this many columns are shown elided around the caret.
  static constexpr size_t kLongLine = 200;
  /// Columns of a long line shown on each side of the caret.
  static constexpr size_t kLineContext = 80;
  /// True once kMaxErrors errors were kept: later errors are only counted, so work that only a
  /// shown error needs (a "did you mean" search) can be skipped.
  bool tooManyErrors() const { return errorCount() >= kMaxErrors; }

private:
  std::string file_;
  std::string source_;
  std::vector<Diagnostic> diags_;
  size_t errors_ = 0;
  Diagnostic discarded_; // what error() returns past kMaxErrors

  std::string_view lineView(uint32_t line) const;
};

/// `text` cut to at most `maxBytes` bytes (never inside a UTF-8 sequence), with "..." when cut.
std::string clip(std::string_view text, size_t maxBytes);

/// Length of the valid UTF-8 sequence at s[i] (a non-ASCII lead byte), or 0 if invalid.
size_t utf8Length(std::string_view s, size_t i);

} // namespace nnc
