// Confusion matrices and top-k classes (see Classifier.h).
#include "runtime/Classifier.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace nnc {

int argmax(const float *values, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (values[i] > values[best] || (values[best] != values[best] && values[i] == values[i]))
      best = i;
  return best;
}

std::vector<int> topClasses(const float *values, int n, int k) {
  std::vector<int> idx(size_t(std::max(n, 0)));
  std::iota(idx.begin(), idx.end(), 0);
  auto key = [&](int i) { return values[i] == values[i] ? values[i] : -INFINITY; };
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return key(a) > key(b); });
  idx.resize(size_t(std::clamp(k, 0, n)));
  return idx;
}

std::vector<std::string> classNames(bool fashion, int classes) {
  static const char *kFashion[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  std::vector<std::string> names;
  for (int c = 0; c < classes; ++c)
    names.push_back(fashion && classes == 10 ? kFashion[c] : std::to_string(c));
  return names;
}

ConfusionMatrix::ConfusionMatrix(int classes)
    : classes_(std::max(classes, 0)), counts_(size_t(classes_) * size_t(classes_), 0) {}

bool ConfusionMatrix::add(int truth, int predicted) {
  if (truth < 0 || predicted < 0 || truth >= classes_ || predicted >= classes_) return false;
  ++counts_[size_t(truth) * size_t(classes_) + size_t(predicted)];
  return true;
}

int64_t ConfusionMatrix::count(int truth, int predicted) const {
  return counts_[size_t(truth) * size_t(classes_) + size_t(predicted)];
}

int64_t ConfusionMatrix::examples(int truth) const {
  int64_t n = 0;
  for (int p = 0; p < classes_; ++p) n += count(truth, p);
  return n;
}

int64_t ConfusionMatrix::total() const {
  return std::accumulate(counts_.begin(), counts_.end(), int64_t(0));
}

int64_t ConfusionMatrix::correct() const {
  int64_t n = 0;
  for (int c = 0; c < classes_; ++c) n += count(c, c);
  return n;
}

std::optional<double> ConfusionMatrix::classAccuracy(int truth) const {
  int64_t n = examples(truth);
  if (n == 0) return std::nullopt;
  return double(count(truth, truth)) / double(n);
}

namespace {

/// The widest of `names`, at least `least`.
size_t widest(const std::vector<std::string> &names, size_t least) {
  for (const std::string &n : names) least = std::max(least, n.size());
  return least;
}

/// The name of class c, or its number when `names` has none for it.
std::string nameOf(const std::vector<std::string> &names, int c) {
  return size_t(c) < names.size() ? names[size_t(c)] : std::to_string(c);
}

} // namespace

std::string perClassTable(const ConfusionMatrix &m, const std::vector<std::string> &names) {
  size_t w = widest(names, 5);
  std::string out = fmt::format("{:>5}  {:<{}}  {:>8}  {:>8}  {:>8}\n", "class", "name", w,
                                "examples", "correct", "accuracy");
  auto accuracyText = [](std::optional<double> a) {
    return a ? fmt::format("{:.4f}", *a) : std::string("-");
  };
  for (int c = 0; c < m.classes(); ++c)
    out += fmt::format("{:>5}  {:<{}}  {:>8}  {:>8}  {:>8}\n", c, nameOf(names, c), w,
                       m.examples(c), m.count(c, c), accuracyText(m.classAccuracy(c)));
  std::optional<double> all;
  if (m.total() > 0) all = double(m.correct()) / double(m.total());
  out += fmt::format("{:>5}  {:<{}}  {:>8}  {:>8}  {:>8}\n", "all", "", w, m.total(), m.correct(),
                     accuracyText(all));
  return out;
}

std::string confusionText(const ConfusionMatrix &m, const std::vector<std::string> &names) {
  int64_t most = 0;
  for (int t = 0; t < m.classes(); ++t)
    for (int p = 0; p < m.classes(); ++p) most = std::max(most, m.count(t, p));
  size_t w = std::max<size_t>(std::to_string(most).size(), std::to_string(m.classes() - 1).size());
  w = std::max<size_t>(w, 3);
  std::string out = "Confusion matrix (rows: true class, columns: predicted class)\n";
  out += fmt::format("{:>{}}", "true", 6);
  for (int p = 0; p < m.classes(); ++p) out += fmt::format(" {:>{}}", p, w);
  out += "\n";
  for (int t = 0; t < m.classes(); ++t) {
    out += fmt::format("{:>6}", t);
    for (int p = 0; p < m.classes(); ++p) out += fmt::format(" {:>{}}", m.count(t, p), w);
    out += fmt::format("  {}\n", nameOf(names, t));
  }
  return out;
}

} // namespace nnc
