// Keras-style training progress on a stream: "Epoch 3/50", then either a live bar redrawn in
// place (a terminal: "120/235 [=====>....] - ETA: 1s - loss: 0.6936") or, when the stream is
// a file or pipe, one plain line per epoch ("235/235 - 2s 7ms/step - loss: 0.6936 -
// val_loss: 0.6931"). Times come from the caller, so the output is reproducible in tests.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace nnc {

/// Whole seconds as Keras prints epoch times and ETAs: "2s", "1:05", "1:02:03".
std::string formatSeconds(double seconds);
/// Time per step as Keras prints it: "7ms/step", "512us/step", "2s/step".
std::string formatPerStep(double seconds);
/// The 30-character bar "[=====>........]" for `done` of `total` steps.
std::string progressBar(int64_t done, int64_t total);

/// Prints one training run's progress.
class Progress {
public:
  /// `interactive`: redraw a live bar with carriage returns (stderr is a terminal).
  Progress(std::ostream &out, bool interactive) : out_(out), interactive_(interactive) {}

  /// Starts epoch `epoch` of `epochs` with `steps` steps, of which `firstStep` are already
  /// done (a resumed epoch), in `priorSeconds`: the epoch line then reports the whole epoch.
  void beginEpoch(int64_t epoch, int64_t epochs, int64_t steps, int64_t firstStep = 0,
                  double priorSeconds = 0);
  /// Reports `done` completed steps, `elapsed` seconds into this epoch, running mean `loss`
  /// (and accuracy, with metrics=accuracy).
  void step(int64_t done, double elapsed, double loss, std::optional<double> accuracy = {});
  /// Finishes the epoch line with its time (`elapsed` since beginEpoch, plus the prior
  /// seconds of a resumed epoch), mean loss and validation loss.
  void endEpoch(double elapsed, double loss, std::optional<double> valLoss,
                std::optional<double> accuracy = {}, std::optional<double> valAccuracy = {});
  /// Ends a partly drawn bar (before an error or interruption message).
  void abandon();

  /// The final line of an epoch, e.g. "235/235 - 2s 7ms/step - loss: 0.6936 - val_loss: 0.6931"
  /// (with the bar after the counts when `bar`). `timedSteps` steps took `elapsed` seconds.
  /// Accuracies, when given, follow their losses as Keras prints them: "- loss: 0.3 -
  /// accuracy: 0.9012 - val_loss: 0.4 - val_accuracy: 0.8874".
  static std::string epochLine(int64_t steps, int64_t timedSteps, double elapsed, double loss,
                               std::optional<double> valLoss, bool bar,
                               std::optional<double> accuracy = {},
                               std::optional<double> valAccuracy = {});
  /// The live line "120/235 [=====>....] - ETA: 1s - loss: 0.6936".
  static std::string liveLine(int64_t done, int64_t steps, double eta, double loss,
                              std::optional<double> accuracy = {});

private:
  std::ostream &out_;
  bool interactive_;
  int64_t steps_ = 0, firstStep_ = 0;
  double priorSeconds_ = 0;
  double lastDraw_ = -1;
  size_t lastWidth_ = 0;
  bool drawn_ = false;
};

} // namespace nnc
