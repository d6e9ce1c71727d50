// What a classifier got right and wrong: the top classes of one prediction, a confusion matrix
// over a test split (true class by predicted class) with its per-class accuracy, both as text
// tables, and the class names of the datasets nnc knows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

/// Index of the largest of `n` values (the first one on ties; NaN never wins).
int argmax(const float *values, int n);

/// The `k` (at most n) largest values' indices, largest first (lower index first on ties).
std::vector<int> topClasses(const float *values, int n, int k);

/// Class names for a dataset: Fashion-MNIST's ten garments when `fashion`, else "0".."9";
/// beyond ten classes (or for other counts) the class numbers.
std::vector<std::string> classNames(bool fashion, int classes);

/// Counts of (true class, predicted class) pairs.
class ConfusionMatrix {
public:
  /// An empty matrix of `classes` x `classes` counts.
  explicit ConfusionMatrix(int classes);
  /// Counts one example; classes out of range are ignored and return false.
  bool add(int truth, int predicted);
  /// Number of classes.
  int classes() const { return classes_; }
  /// Examples of class `truth` predicted as `predicted`.
  int64_t count(int truth, int predicted) const;
  /// Examples of class `truth`.
  int64_t examples(int truth) const;
  /// Examples counted in all.
  int64_t total() const;
  /// Examples whose prediction is their class.
  int64_t correct() const;
  /// The share of class `truth`'s examples predicted right; none without examples.
  std::optional<double> classAccuracy(int truth) const;

private:
  int classes_;
  std::vector<int64_t> counts_;
};

/// The per-class accuracy as a text table: one row per class (number, name, examples,
/// correct, accuracy) and a total row.
std::string perClassTable(const ConfusionMatrix &m, const std::vector<std::string> &names);

/// The confusion matrix as text: true classes down, predicted classes across, counts right
/// aligned, with a legend line and the class names after the rows.
std::string confusionText(const ConfusionMatrix &m, const std::vector<std::string> &names);

} // namespace nnc
