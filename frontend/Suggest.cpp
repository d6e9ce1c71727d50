// Optimal-string-alignment distance over three rows, and the typo thresholds: words of up to
// 2 letters only match by letter case, up to 5 letters allow one edit, longer words two.
// Words longer than kMaxWordLength get no suggestion, which bounds the work on hostile input.
#include "frontend/Suggest.h"

#include <algorithm>
#include <fmt/format.h>

namespace nnc {
namespace {

constexpr size_t kMaxWordLength = 64;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
}

/// The largest distance at which a candidate still counts as a typo of an n-letter word.
size_t typoDistance(size_t n) {
  return n <= 2 ? 0 : n <= 5 ? 1 : 2;
}

} // namespace

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t replace = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + replace});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1]))
        cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string closestMatch(std::string_view word, const std::vector<std::string> &candidates) {
  if (word.size() > kMaxWordLength) return "";
  size_t limit = typoDistance(word.size());
  std::string best;
  size_t bestDistance = limit + 1;
  for (const std::string &c : candidates) {
    size_t gap = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
    if (c == word || gap > limit) continue;
    size_t d = editDistance(word, c);
    if (d < bestDistance) bestDistance = d, best = c;
  }
  return best;
}

std::string didYouMean(std::string_view word, const std::vector<std::string> &candidates) {
  std::string best = closestMatch(word, candidates);
  return best.empty() ? "" : fmt::format("; did you mean '{}'?", best);
}

} // namespace nnc
