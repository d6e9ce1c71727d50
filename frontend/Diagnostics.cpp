// DiagEngine: collects diagnostics and renders them clang-style. A located diagnostic prints
// `file:line:col: error: message`, the source line, and a caret line that copies the line's
// tabs so the caret stays aligned; bytes that are not printable UTF-8 are shown as `<XX>`
// in both lines. Notes follow, one per line.
#include "frontend/Diagnostics.h"

#include <fmt/format.h>

namespace nnc {

DiagEngine::DiagEngine(std::string file, std::string source)
    : file_(std::move(file)), source_(std::move(source)) {}

Diagnostic &DiagEngine::error(SourceLoc loc, std::string message) {
  ++errors_;
  diags_.push_back({Severity::Error, loc, std::move(message), {}});
  return diags_.back();
}

Diagnostic &DiagEngine::warning(SourceLoc loc, std::string message) {
  diags_.push_back({Severity::Warning, loc, std::move(message), {}});
  return diags_.back();
}

Diagnostic *DiagEngine::boundedError(SourceLoc loc, std::string message,
                                     std::vector<std::string> notes) {
  if (tooManyErrors()) return nullptr;
  Diagnostic &d = error(loc, std::move(message));
  d.notes = std::move(notes);
  if (tooManyErrors())
    d.notes.push_back(fmt::format("too many errors ({}); stopping here", kMaxErrors));
  return &d;
}

bool DiagEngine::hasErrors() const {
  return errors_ != 0;
}

size_t DiagEngine::errorCount() const {
  return errors_;
}

std::string DiagEngine::lineText(uint32_t line) const {
  if (line == 0) return "";
  size_t begin = 0;
  for (uint32_t l = 1; l < line; ++l) {
    size_t nl = source_.find('\n', begin);
    if (nl == std::string::npos) return "";
    begin = nl + 1;
  }
  if (begin > source_.size()) return "";
  size_t end = source_.find('\n', begin);
  if (end == std::string::npos) end = source_.size();
  if (end > begin && source_[end - 1] == '\r') --end;
  if (line == 1 && source_.compare(0, 3, "\xEF\xBB\xBF") == 0 && end >= 3)
    begin = 3; // columns are counted after a byte order mark
  return source_.substr(begin, end - begin);
}

size_t utf8Length(std::string_view s, size_t i) {
  unsigned char c = s[i];
  size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  unsigned char c1 = s[i + 1];
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
      (c == 0xF4 && c1 >= 0x90))
    return 0;
  return len;
}

namespace {

/// Builds the displayed source line and the caret line for 1-based byte column `col`.
std::pair<std::string, std::string> showLine(const std::string &text, uint32_t col) {
  std::string shown, caret;
  size_t target = col == 0 ? 0 : col - 1;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = text[i];
    bool before = i < target;
    size_t n = 1;
    if (c == '\t') {
      shown += '\t';
      if (before) caret += '\t';
    } else if (c >= 0x20 && c < 0x7F) {
      shown += char(c);
      if (before) caret += ' ';
    } else if (c >= 0x80 && (n = utf8Length(text, i)) != 0) {
      shown.append(text, i, n);
      if (before) caret += ' ';
    } else {
      n = 1;
      shown += fmt::format("<{:02X}>", c);
      if (before) caret += "    ";
    }
    i += n;
  }
  if (target > text.size()) caret.append(target - text.size(), ' ');
  caret += '^';
  return {shown, caret};
}

const char *severityName(Severity s) {
  switch (s) {
  case Severity::Error:
    return "error";
  case Severity::Warning:
    return "warning";
  case Severity::Note:
    return "note";
  }
  return "error";
}

} // namespace

std::string DiagEngine::render(const Diagnostic &d) const {
  const std::string &file = file_.empty() ? std::string("<input>") : file_;
  std::string out;
  if (d.loc.valid()) {
    out += fmt::format("{}:{}:{}: {}: {}\n", file, d.loc.line, d.loc.col, severityName(d.severity),
                       d.message);
    auto [shown, caret] = showLine(lineText(d.loc.line), d.loc.col);
    out += shown + "\n" + caret + "\n";
  } else {
    out += fmt::format("{}: {}: {}\n", file, severityName(d.severity), d.message);
  }
  for (const std::string &n : d.notes) out += (n.rfind("hint:", 0) == 0 ? n : "note: " + n) + "\n";
  return out;
}

std::string DiagEngine::render() const {
  std::string out;
  for (const Diagnostic &d : diags_) out += render(d);
  return out;
}

} // namespace nnc
