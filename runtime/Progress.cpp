// Keras 2's progress-bar formatting: bar width 30 with '>' at the head, ETA from the mean time
// per finished step, times rounded to whole seconds (m:ss past a minute), per-step times in
// s/ms/us. The live line is redrawn at most ten times a second and padded with spaces so a
// shorter line fully covers a longer one.
#include "runtime/Progress.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace nnc {

std::string formatSeconds(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  auto s = static_cast<int64_t>(std::nearbyint(seconds)); // half to even, as Python's %.0f
  char buf[64];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%" PRId64 ":%02d:%02d", s / 3600, int(s % 3600 / 60),
                  int(s % 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%" PRId64 ":%02d", s / 60, int(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%" PRId64 "s", s);
  return buf;
}

std::string formatPerStep(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  char buf[64];
  if (seconds >= 1)
    std::snprintf(buf, sizeof buf, "%.0fs/step", seconds);
  else if (seconds >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.0fms/step", seconds * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0fus/step", seconds * 1e6);
  return buf;
}

std::string progressBar(int64_t done, int64_t total) {
  constexpr int64_t kWidth = 30;
  int64_t filled = total > 0 ? kWidth * std::min(done, total) / total : kWidth;
  std::string bar = "[";
  if (filled > 0) {
    bar += std::string(size_t(filled - 1), '=');
    bar += done < total ? '>' : '=';
  }
  bar += std::string(size_t(kWidth - filled), '.');
  return bar + "]";
}

static std::string lossText(const char *name, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " - %s: %.4f", name, v);
  return buf;
}

static std::string counts(int64_t done, int64_t steps) {
  std::string total = std::to_string(steps);
  std::string d = std::to_string(done);
  return std::string(total.size() - std::min(total.size(), d.size()), ' ') + d + "/" + total;
}

std::string Progress::epochLine(int64_t steps, int64_t timedSteps, double elapsed, double loss,
                                std::optional<double> valLoss, bool bar,
                                std::optional<double> accuracy, std::optional<double> valAccuracy) {
  std::string line = counts(steps, steps);
  if (bar) line += " " + progressBar(steps, steps);
  line += " - " + formatSeconds(elapsed) + " " +
          formatPerStep(timedSteps > 0 ? elapsed / double(timedSteps) : 0);
  line += lossText("loss", loss);
  if (accuracy) line += lossText("accuracy", *accuracy);
  if (valLoss) line += lossText("val_loss", *valLoss);
  if (valAccuracy) line += lossText("val_accuracy", *valAccuracy);
  return line;
}

std::string Progress::liveLine(int64_t done, int64_t steps, double eta, double loss,
                               std::optional<double> accuracy) {
  return counts(done, steps) + " " + progressBar(done, steps) + " - ETA: " + formatSeconds(eta) +
         lossText("loss", loss) + (accuracy ? lossText("accuracy", *accuracy) : "");
}

void Progress::beginEpoch(int64_t epoch, int64_t epochs, int64_t steps, int64_t firstStep,
                          double priorSeconds) {
  steps_ = steps;
  firstStep_ = firstStep;
  priorSeconds_ = priorSeconds;
  lastDraw_ = -1;
  lastWidth_ = 0;
  drawn_ = false;
  out_ << "Epoch " << epoch << "/" << epochs << "\n";
  out_.flush();
}

void Progress::step(int64_t done, double elapsed, double loss, std::optional<double> accuracy) {
  if (!interactive_) return;
  if (done < steps_ && lastDraw_ >= 0 && elapsed - lastDraw_ < 0.1) return;
  lastDraw_ = elapsed;
  int64_t timed = done - firstStep_;
  double eta = timed > 0 ? elapsed / double(timed) * double(steps_ - done) : 0;
  std::string line = liveLine(done, steps_, eta, loss, accuracy);
  size_t width = line.size();
  if (width < lastWidth_) line += std::string(lastWidth_ - width, ' ');
  lastWidth_ = width;
  out_ << "\r" << line;
  out_.flush();
  drawn_ = true;
}

void Progress::endEpoch(double elapsed, double loss, std::optional<double> valLoss,
                        std::optional<double> accuracy, std::optional<double> valAccuracy) {
  // A resumed epoch reports all its steps in their whole time, the part before the resume too.
  std::string line = epochLine(steps_, steps_, priorSeconds_ + elapsed, loss, valLoss, interactive_,
                               accuracy, valAccuracy);
  if (interactive_) {
    if (line.size() < lastWidth_) line += std::string(lastWidth_ - line.size(), ' ');
    out_ << "\r";
  }
  out_ << line << "\n";
  out_.flush();
  drawn_ = false;
}

void Progress::abandon() {
  if (drawn_) out_ << "\n";
  out_.flush();
  drawn_ = false;
}

} // namespace nnc
