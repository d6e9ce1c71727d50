// DiagEngine: collects diagnostics and renders them clang-style. A located diagnostic prints
// `file:line:col: error: message`, the source line, and a caret line that copies the line's
// tabs so the caret stays aligned; bytes that are not printable UTF-8 are shown as `<XX>`
// in both lines. A line longer than kLongLine columns is cut to kLineContext columns on each
// side of the caret, with `...` where text was left out. Notes follow, one per line. Errors
// past kMaxErrors are only counted (a count and one scratch diagnostic, whatever the input),
// and the rendering ends with how many were not shown.
#include "frontend/Diagnostics.h"

#include <fmt/format.h>

#include <algorithm>

namespace nnc {

DiagEngine::DiagEngine(std::string file, std::string source)
    : file_(std::move(file)), source_(std::move(source)) {}

Diagnostic &DiagEngine::error(SourceLoc loc, std::string message) {
  bool kept = !tooManyErrors();
  ++errors_;
  if (!kept) {
    discarded_ = {Severity::Error, loc, {}, {}};
    return discarded_;
  }
  diags_.push_back({Severity::Error, loc, std::move(message), {}});
  return diags_.back();
}

Diagnostic &DiagEngine::warning(SourceLoc loc, std::string message) {
  diags_.push_back({Severity::Warning, loc, std::move(message), {}});
  return diags_.back();
}

bool DiagEngine::hasErrors() const {
  return errors_ != 0;
}

size_t DiagEngine::errorCount() const {
  return errors_;
}

size_t DiagEngine::errorsNotShown() const {
  return errors_ > kMaxErrors ? errors_ - kMaxErrors : 0;
}

std::string_view DiagEngine::lineView(uint32_t line) const {
  if (line == 0) return {};
  std::string_view src = source_;
  size_t begin = 0;
  for (uint32_t l = 1; l < line; ++l) {
    size_t nl = src.find('\n', begin);
    if (nl == std::string_view::npos) return {};
    begin = nl + 1;
  }
  size_t end = src.find('\n', begin);
  if (end == std::string_view::npos) end = src.size();
  if (end > begin && src[end - 1] == '\r') --end;
  if (line == 1 && src.substr(0, 3) == "\xEF\xBB\xBF" && end >= 3)
    begin = 3; // columns are counted after a byte order mark
  return src.substr(begin, end - begin);
}

std::string DiagEngine::lineText(uint32_t line) const {
  return std::string(lineView(line));
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

std::string clip(std::string_view text, size_t maxBytes) {
  if (text.size() <= maxBytes) return std::string(text);
  size_t end = maxBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end)) + "...";
}

namespace {

/// True if the character at text[i] is shown as it is (a tab, printable ASCII, valid UTF-8).
bool shownAsIs(std::string_view text, size_t i) {
  unsigned char c = text[i];
  return c == '\t' || (c >= 0x20 && c < 0x7F) || (c >= 0x80 && utf8Length(text, i) != 0);
}

/// Bytes of the character at text[i]: a UTF-8 sequence's length, else 1.
size_t charBytes(std::string_view text, size_t i) {
  size_t n = static_cast<unsigned char>(text[i]) >= 0x80 ? utf8Length(text, i) : 1;
  return n == 0 ? 1 : n;
}

/// Columns the character at text[i] takes when shown: 4 for `<XX>`, else 1.
size_t charColumns(std::string_view text, size_t i) {
  return shownAsIs(text, i) ? 1 : 4;
}

/// The characters [first, last) of a long line to show around the character `caret`: up to
/// kLineContext columns on each side; all of them when the line is not long.
std::pair<size_t, size_t> window(std::string_view text, const std::vector<size_t> &starts,
                                 size_t caret) {
  size_t columns = 0;
  for (size_t s : starts) columns += charColumns(text, s);
  if (columns <= DiagEngine::kLongLine) return {0, starts.size()};
  size_t first = caret, last = std::min(caret + 1, starts.size());
  for (size_t w = 0;
       first > 0 && w + charColumns(text, starts[first - 1]) <= DiagEngine::kLineContext;)
    w += charColumns(text, starts[--first]);
  for (size_t w = 0;
       last < starts.size() && w + charColumns(text, starts[last]) <= DiagEngine::kLineContext;)
    w += charColumns(text, starts[last++]);
  return {first, last};
}

/// Builds the displayed source line and the caret line for 1-based byte column `col`.
std::pair<std::string, std::string> showLine(std::string_view text, uint32_t col) {
  size_t target = col == 0 ? 0 : col - 1;
  std::vector<size_t> starts; // the first byte of each character
  for (size_t i = 0; i < text.size(); i += charBytes(text, i)) starts.push_back(i);
  size_t caret = std::lower_bound(starts.begin(), starts.end(), target) - starts.begin();
  auto [first, last] = window(text, starts, caret);
  std::string shown, caretLine;
  if (first > 0) shown += "...", caretLine += "   ";
  for (size_t k = first; k < last; ++k) {
    size_t i = starts[k];
    if (shownAsIs(text, i))
      shown.append(text.substr(i, charBytes(text, i)));
    else
      shown += fmt::format("<{:02X}>", static_cast<unsigned char>(text[i]));
    if (k < caret) caretLine += text[i] == '\t' ? "\t" : std::string(charColumns(text, i), ' ');
  }
  if (last < starts.size()) shown += "...";
  if (target > text.size()) caretLine.append(target - text.size(), ' ');
  caretLine += '^';
  return {shown, caretLine};
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
    auto [shown, caret] = showLine(lineView(d.loc.line), d.loc.col);
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
  if (size_t n = errorsNotShown())
    out += fmt::format("{}: note: {} more error{} not shown\n", file_.empty() ? "<input>" : file_,
                       n, n == 1 ? "" : "s");
  return out;
}

} // namespace nnc
