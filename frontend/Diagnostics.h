// Source locations and clang-style diagnostics: `file:line:col: error: message`, the source
// line, and a caret under the column. Errors are collected, never thrown or fatal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
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

/// Collects diagnostics for one source buffer and renders them with the source line.
class DiagEngine {
public:
  DiagEngine() = default;
  DiagEngine(std::string file, std::string source);

  /// Records an error and returns it so callers can append notes.
  Diagnostic &error(SourceLoc loc, std::string message);
  /// Records a warning.
  Diagnostic &warning(SourceLoc loc, std::string message);
  /// True once any error was recorded.
  bool hasErrors() const;
  /// Number of errors recorded.
  size_t errorCount() const;
  const std::vector<Diagnostic> &diagnostics() const { return diags_; }
  const std::string &file() const { return file_; }
  const std::string &source() const { return source_; }
  /// Renders every diagnostic as `file:line:col: error: msg`, source line, caret, notes.
  std::string render() const;
  /// Renders one diagnostic.
  std::string render(const Diagnostic &d) const;
  /// Returns the text of 1-based line `line` (without newline), or "" if out of range.
  std::string lineText(uint32_t line) const;

  /// The frontend stops reporting after this many errors.
  static constexpr size_t kMaxErrors = 20;
  /// True once kMaxErrors errors were recorded.
  bool tooManyErrors() const { return errorCount() >= kMaxErrors; }
  /// Records an error unless the limit was reached (then returns nullptr); the error that
  /// reaches the limit gets a final "too many errors" note after `notes`.
  Diagnostic *boundedError(SourceLoc loc, std::string message, std::vector<std::string> notes = {});

private:
  std::string file_;
  std::string source_;
  std::vector<Diagnostic> diags_;
  size_t errors_ = 0;
};

/// Length of the valid UTF-8 sequence at s[i] (a non-ASCII lead byte), or 0 if invalid.
size_t utf8Length(std::string_view s, size_t i);

/// A value or an error message: the error type used across the compiler core and runtime.
struct Error {
  std::string message;
};

/// Either a T or an Error; never throws.
template <typename T> class Result {
public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error e) : v_(std::move(e)) {}
  explicit operator bool() const { return v_.index() == 0; }
  bool ok() const { return v_.index() == 0; }
  T &operator*() { return std::get<0>(v_); }
  const T &operator*() const { return std::get<0>(v_); }
  T *operator->() { return &std::get<0>(v_); }
  const T *operator->() const { return &std::get<0>(v_); }
  const std::string &error() const { return std::get<1>(v_).message; }
  T take() { return std::move(std::get<0>(v_)); }

private:
  std::variant<T, Error> v_;
};

/// Result for operations with no value.
struct Unit {};
using Status = Result<Unit>;
/// The success value of a Status.
inline Status okStatus() {
  return Unit{};
}

} // namespace nnc
