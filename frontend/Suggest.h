// "Did you mean" support shared by the parser (statement keywords) and the lowering (operators,
// argument names, enum values, names, losses, train settings): an edit distance that ignores
// letter case and counts a swap of two neighbouring letters as one edit, and the nearest of a
// list of candidates when it is close enough to be a typo.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nnc {

/// Edits (insert, delete, replace, swap two neighbours) turning `a` into `b`, case ignored.
size_t editDistance(std::string_view a, std::string_view b);

/// True if `a` and `b` are the same word up to ASCII letter case ("Conv2D", "conv2d").
bool equalsIgnoringCase(std::string_view a, std::string_view b);

/// The candidate nearest to `word` if it is close enough to be a typo of it, else "".
std::string closestMatch(std::string_view word, const std::vector<std::string> &candidates);

/// "; did you mean 'X'?" for closestMatch(word, candidates), or "" when nothing is close.
std::string didYouMean(std::string_view word, const std::vector<std::string> &candidates);

} // namespace nnc
