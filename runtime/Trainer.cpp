// The training loop. Each epoch starts from the identity order of the training examples and
// Fisher-Yates shuffles it with the run's generator, whose state at the epoch's start is what
// checkpoints store: a resumed run regenerates the same order and skips the finished steps.
// Losses are averaged weighted by batch size (the last batch may be partial), as Keras does.
#include "runtime/Trainer.h"

#include "runtime/Checkpoint.h"
#include "runtime/Interpreter.h"
#include "runtime/Progress.h"
#include "support/FileUtil.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <numeric>

namespace nnc {

ShuffleRng::ShuffleRng(uint64_t seed) : s_(seed ^ 0x5eed5415ffe5a11dull) {}

uint64_t ShuffleRng::next() {
  uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t ShuffleRng::below(uint64_t bound) {
  uint64_t threshold = (0 - bound) % bound; // 2^64 mod bound
  for (;;) {
    uint64_t r = next();
    if (r >= threshold) return r % bound;
  }
}

void ShuffleRng::shuffle(std::vector<uint32_t> &v) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(below(i))]);
}

std::string ShuffleRng::state() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "splitmix64:%016" PRIx64, s_);
  return buf;
}

std::optional<ShuffleRng> ShuffleRng::fromState(const std::string &text) {
  const std::string prefix = "splitmix64:";
  if (text.size() != prefix.size() + 16 || text.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  uint64_t v = 0;
  for (size_t i = prefix.size(); i < text.size(); ++i) {
    char c = text[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    v = v << 4 | uint64_t(d);
  }
  ShuffleRng r;
  r.s_ = v;
  return r;
}

Result<InputBinding> InputBinding::make(const Graph &g, const Dataset &d) {
  if (g.inputs.empty()) return Error{"model '" + g.name + "' has no input to feed images to"};
  if (g.inputs.size() > 2)
    return Error{"model '" + g.name + "' has " + std::to_string(g.inputs.size()) +
                 " inputs; nnc train feeds at most two (images, then one-hot labels)"};
  InputBinding b;
  const Node &img = g[g.inputs[0]];
  b.images = img.name;
  b.imageDims = img.type.dims;
  if (!img.type.batched || img.type.elements() != d.rows * d.cols)
    return Error{"input '" + img.name + "' has shape " + img.type.str() + ", but the data's " +
                 "images are " + std::to_string(d.rows) + "x" + std::to_string(d.cols) +
                 " pixels (" + std::to_string(d.rows * d.cols) + " values each)"};
  if (g.inputs.size() == 2) {
    const Node &lab = g[g.inputs[1]];
    if (!lab.type.batched || lab.type.dims != std::vector<int64_t>{10})
      return Error{"second input '" + lab.name + "' has shape " + lab.type.str() +
                   "; nnc train feeds one-hot labels to a second input of shape [10]"};
    b.labels = lab.name;
  }
  return b;
}

TensorMap InputBinding::batch(const DataView &v, const uint32_t *idx, int64_t n) const {
  TensorMap m;
  Tensor &x = m[images];
  x.shape = {n};
  x.shape.insert(x.shape.end(), imageDims.begin(), imageDims.end());
  int64_t px = v.data->rows * v.data->cols;
  x.data.resize(size_t(n * px));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t *src = v.data->pixels.data() + (v.begin + int64_t(idx[i])) * px;
    float *dst = x.data.data() + i * px;
    for (int64_t j = 0; j < px; ++j) dst[j] = float(src[j]) / 255.0f;
  }
  if (!labels.empty()) {
    Tensor &y = m[labels];
    y.shape = {n, 10};
    y.data.assign(size_t(n * 10), 0.0f);
    for (int64_t i = 0; i < n; ++i)
      y.data[size_t(i * 10 + v.data->labels[size_t(v.begin + idx[i])])] = 1.0f;
  }
  return m;
}

Result<Accuracy> Accuracy::of(const Graph &g) {
  if (g.loss == kNoValue) return Error{"metrics=accuracy needs a loss statement"};
  const Node &loss = g[g.loss];
  Accuracy a;
  if (loss.op == OpKind::CategoricalCrossentropy ||
      loss.op == OpKind::CategoricalCrossentropyLogits)
    a.categorical = true;
  else if (loss.op == OpKind::BinaryCrossentropyLogits)
    a.threshold = 0;
  else if (loss.op != OpKind::BinaryCrossentropy)
    return Error{"metrics=accuracy needs a crossentropy loss (categorical_crossentropy or "
                 "binary_crossentropy), not " +
                 std::string(opName(loss.op))};

  if (loss.inputs.size() < 2) return Error{"metrics=accuracy: the loss has no target"};
  const Node &target = g[loss.inputs[1]];
  if (target.op != OpKind::Input)
    return Error{"metrics=accuracy compares with the loss's target, which must be an input; '" +
                 target.name + "' is computed"};
  a.pred = g[loss.inputs[0]].name;
  a.target = target.name;
  return a;
}

void Accuracy::count(const TensorMap &outputs, const TensorMap &inputs, int64_t n, int64_t &correct,
                     int64_t &compared) const {
  const std::vector<float> &p = outputs.at(pred).data, &t = inputs.at(target).data;
  size_t per = n > 0 ? p.size() / size_t(n) : 0;
  for (size_t i = 0; i < size_t(n) && per > 0; ++i) {
    const float *pi = p.data() + i * per, *ti = t.data() + i * per;
    if (categorical) {
      correct += std::max_element(pi, pi + per) - pi == std::max_element(ti, ti + per) - ti;
      ++compared;
      continue;
    }
    for (size_t k = 0; k < per; ++k) correct += (pi[k] > threshold) == (ti[k] > 0.5f);
    compared += int64_t(per);
  }
}

Result<Evaluation> evaluateView(Backend &b, const InputBinding &in, const DataView &v,
                                int64_t batch, const Accuracy *acc) {
  std::vector<uint32_t> idx(size_t(v.count));
  std::iota(idx.begin(), idx.end(), 0u);
  double sum = 0;
  int64_t correct = 0, compared = 0;
  for (int64_t s = 0; s < v.count; s += batch) {
    int64_t n = std::min(batch, v.count - s);
    TensorMap inputs = in.batch(v, idx.data() + s, n), outputs;
    Result<double> l = b.evaluate(inputs, n, acc ? &outputs : nullptr);
    if (!l) return Error{l.error()};
    sum += *l * double(n);
    if (acc) acc->count(outputs, inputs, n, correct, compared);
  }
  Evaluation e;
  e.loss = v.count > 0 ? sum / double(v.count) : 0.0;
  if (acc && compared > 0) e.accuracy = double(correct) / double(compared);
  return e;
}

Result<double> validationLoss(Backend &b, const InputBinding &in, const DataView &v,
                              int64_t batch) {
  Result<Evaluation> e = evaluateView(b, in, v, batch, nullptr);
  if (!e) return Error{e.error()};
  return e->loss;
}

TensorMapD backendState(const Backend &b, bool *f64) {
  if (const auto *interp = dynamic_cast<const Interpreter *>(&b)) {
    if (f64) *f64 = true;
    return interp->tensorsD();
  }
  if (f64) *f64 = false;
  TensorMapD out;
  for (const auto &[name, t] : b.tensors()) {
    TensorD &d = out[name];
    d.shape = t.shape;
    d.data.assign(t.data.begin(), t.data.end());
  }
  return out;
}

Status setBackendState(Backend &b, const TensorMapD &t) {
  if (auto *interp = dynamic_cast<Interpreter *>(&b)) return interp->setTensorsD(t);
  TensorMap narrow;
  for (const auto &[name, d] : t) {
    Tensor &n = narrow[name];
    n.shape = d.shape;
    n.data.assign(d.data.begin(), d.data.end());
  }
  return b.setTensors(narrow);
}

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::string lossValueText(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// The first parameter or state tensor holding a NaN or infinity ("" if none).
std::string firstNonFinite(const TensorMapD &t) {
  for (const auto &[name, tensor] : t)
    for (double f : tensor.data)
      if (!std::isfinite(f)) return name;
  return "";
}

/// The training loop's state, kept together so checkpoints can be written from any point.
struct Run {
  const Graph &g;
  Backend &b;
  const TrainOptions &o;
  TrainOutcome out;
  InputBinding in;
  DataView train, val;
  ShuffleRng epochRng{0}; // state at the start of the current epoch
  int64_t epoch = 0;      // completed epochs
  int64_t step = 0;       // completed steps in the current epoch
  int64_t globalStep = 0;
  double lossSum = 0; // loss * examples over this epoch's completed steps
  int64_t lossCount = 0;
  double partialSeconds = 0;         // time of this epoch's steps done before a resume, plus since
  int64_t correct = 0, compared = 0; // this epoch's accuracy counts (metrics=accuracy)

  std::optional<double> runningAccuracy() const {
    if (!o.accuracy || compared == 0) return std::nullopt;
    return double(correct) / double(compared);
  }

  std::string keepNote() const {
    return out.lastCheckpoint.empty()
               ? std::string("no checkpoint was written")
               : "the last good checkpoint '" + out.lastCheckpoint + "' is kept";
  }

  std::string where(int64_t steps) const {
    return "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs) + ", step " +
           std::to_string(step + 1) + "/" + std::to_string(steps);
  }

  Status checkpoint() {
    if (o.checkpointDir.empty()) return okStatus();
    bool f64 = false;
    TensorMapD t = backendState(b, &f64);
    if (std::string bad = firstNonFinite(t); !bad.empty())
      return Error{"tensor '" + bad + "' holds a NaN or infinity after epoch " +
                   std::to_string(epoch) + (step ? ", step " + std::to_string(step) : "") +
                   "; not writing a checkpoint (" + keepNote() + ")"};
    CheckpointInfo info;
    info.modelName = o.modelName;
    info.modelHash = o.modelHash;
    info.optimizer = o.optimizer;
    info.data = o.data;
    info.epochs = o.epochs;
    info.lr = o.lr;
    info.shuffle = o.shuffle;
    info.validationSplit = o.validationSplit;
    info.partialSeconds = step ? partialSeconds : 0;
    info.partialCorrect = step ? correct : 0;
    info.partialCompared = step ? compared : 0;
    if (o.accuracy) info.metrics = {"accuracy"};
    info.epoch = epoch;
    info.step = step;
    info.globalStep = globalStep;
    info.seed = o.seed;
    info.batch = o.batch;
    info.rngState = epochRng.state();
    info.partialLossSum = lossSum;
    info.partialCount = lossCount;
    std::string h = historyCsv(out.history);
    info.history = h.substr(h.find('\n') + 1);
    Clock::time_point saveStart = Clock::now();
    Result<std::string> path = saveCheckpoint(o.checkpointDir, t, info, f64, o.keep);
    out.checkpointSeconds += since(saveStart);
    if (!path) return Error{path.error()};
    out.lastCheckpoint = *path;
    return okStatus();
  }

  Status resume(int64_t steps) {
    Result<Checkpoint> c =
        o.resumeFrom ? Result<Checkpoint>(*o.resumeFrom) : loadLatestCheckpoint(o.checkpointDir);
    if (!c) return Error{c.error()};
    if (Status s = checkSameModel(*c, o.modelName, o.modelHash, o.modelFile); !s) return s;
    const CheckpointInfo &info = c->info;
    if (info.optimizer != o.optimizer)
      return Error{"checkpoint '" + c->path + "' holds " + info.optimizer +
                   " optimizer state; this run uses " + o.optimizer + " (pass --optimizer " +
                   info.optimizer + " to resume it)"};
    if (info.step > 0 && info.batch != o.batch)
      return Error{"checkpoint '" + c->path + "' stopped inside an epoch trained with batch " +
                   std::to_string(info.batch) + "; resume it with --batch " +
                   std::to_string(info.batch)};
    if (info.step >= steps)
      return Error{c->path + ": metadata \"step\" is " + std::to_string(info.step) +
                   ", but an epoch of " + std::to_string(train.count) + " examples in batches of " +
                   std::to_string(o.batch) + " has only " + std::to_string(steps) +
                   (steps == 1 ? " step" : " steps")};
    if (Status s = checkCheckpointTensors(c->tensors, g, c->path); !s) return s;
    std::optional<ShuffleRng> rng = ShuffleRng::fromState(info.rngState);
    if (!rng) return Error{c->path + ": metadata \"rng\" is not a shuffle generator state"};
    Result<std::vector<EpochRecord>> h =
        parseHistoryCsv(info.history, c->path + ": metadata \"history\"");
    if (!h) return Error{h.error()};
    if (Status s = setBackendState(b, c->tensors); !s)
      return Error{"cannot restore '" + c->path + "': " + s.error()};
    epochRng = *rng;
    epoch = info.epoch;
    step = info.step;
    globalStep = info.globalStep;
    lossSum = info.partialLossSum;
    lossCount = info.partialCount;
    partialSeconds = info.partialSeconds;
    correct = info.partialCorrect;
    compared = info.partialCompared;
    out.history = h.take();
    out.lastCheckpoint = c->path;
    out.resumedEpoch = epoch;
    out.resumedStep = step;
    pruneCheckpoints(o.checkpointDir, o.keep); // what a run killed before its prune left
    if (o.warnings && !c->note.empty()) {
      if (o.log) o.log->flush();
      *o.warnings << "note: " << c->note << "\n";
    }
    if (o.log)
      *o.log << "Resuming from " << c->path << " (epoch " << epoch
             << (step ? ", step " + std::to_string(step) : std::string()) << ")\n";
    return okStatus();
  }

  Status writeCsv() {
    if (o.csvPath.empty()) return okStatus();
    return writeFileAtomic(o.csvPath, historyCsv(out.history));
  }
};

} // namespace

Result<TrainOutcome> trainModel(const Graph &g, Backend &b, const DataSplit &data,
                                const TrainOptions &o) {
  if (g.loss == kNoValue)
    return Error{"model '" + g.name + "' has no loss statement; nnc train needs one"};
  if (o.epochs < 1) return Error{"--epochs must be at least 1"};
  if (o.batch < 1) return Error{"--batch must be at least 1"};
  Result<InputBinding> in = InputBinding::make(g, data.train);
  if (!in) return Error{in.error()};

  Run r{g, b, o, {}, in.take(), {}, {}};
  const Dataset &tr = data.train;
  if (o.validationSplit) {
    double f = *o.validationSplit;
    if (!(f > 0 && f < 1)) return Error{"--validation-split must be between 0 and 1"};
    int64_t split = int64_t(double(tr.count) * (1 - f));
    r.train = {&tr, 0, split};
    r.val = {&tr, split, tr.count - split};
  } else {
    r.train = {&tr, 0, tr.count};
    if (data.test.rows != tr.rows || data.test.cols != tr.cols)
      return Error{"the test split's images are not the training images' size"};
    r.val = {&data.test, 0, data.test.count};
  }
  if (r.train.count < 1) return Error{"no training examples"};
  if (r.train.count > int64_t(UINT32_MAX)) return Error{"too many training examples"};

  r.epochRng = ShuffleRng(o.seed);
  const int64_t steps = (r.train.count + o.batch - 1) / o.batch;
  if (o.resume) {
    if (o.checkpointDir.empty()) return Error{"--resume needs a checkpoint directory"};
    if (Status s = r.resume(steps); !s) return Error{s.error()};
  }

  if (r.epoch >= o.epochs && o.log)
    *o.log << "Already trained for " << r.epoch << " epochs; pass a larger --epochs to continue\n";
  Progress progress(o.log ? *o.log : std::cerr, o.interactive);
  std::vector<uint32_t> order(size_t(r.train.count));

  while (r.epoch < o.epochs) {
    ShuffleRng rng = r.epochRng;
    std::iota(order.begin(), order.end(), 0u);
    if (o.shuffle) rng.shuffle(order);
    if (o.log) progress.beginEpoch(r.epoch + 1, o.epochs, steps, r.step, r.partialSeconds);
    Clock::time_point start = Clock::now();
    const double before = r.partialSeconds; // this epoch's time before a resume

    while (r.step < steps) {
      int64_t first = r.step * o.batch;
      int64_t n = std::min(o.batch, r.train.count - first);
      TensorMap inputs = r.in.batch(r.train, order.data() + first, n);
      if (o.accuracy) {
        // The step's own predictions (before its update), as Keras scores training batches.
        TensorMap outputs;
        Result<double> before = b.evaluate(inputs, n, &outputs);
        if (!before) {
          if (o.log) progress.abandon();
          return Error{"training stopped at " + r.where(steps) + ": " + before.error() + "; " +
                       r.keepNote()};
        }
        o.accuracy->count(outputs, inputs, n, r.correct, r.compared);
      }
      Result<double> loss = b.trainStep(inputs, n);
      if (!loss || !std::isfinite(*loss)) {
        if (o.log) progress.abandon();
        std::string what =
            !loss ? loss.error() : "the loss is not finite (" + lossValueText(*loss) + ")";
        return Error{"training stopped at " + r.where(steps) + ": " + what + "; " + r.keepNote()};
      }
      r.lossSum += *loss * double(n);
      r.lossCount += n;
      ++r.step;
      ++r.globalStep;
      if (o.log)
        progress.step(r.step, since(start), r.lossSum / double(r.lossCount), r.runningAccuracy());
      if (o.stop && o.stop->load() && r.step < steps) {
        if (o.log) progress.abandon();
        r.partialSeconds = before + since(start);
        r.out.stepSeconds += since(start);
        if (Status s = r.checkpoint(); !s) return Error{s.error()};
        r.out.interrupted = true;
        return r.out;
      }
    }

    r.out.stepSeconds += since(start);
    std::optional<double> val, valAccuracy;
    if (r.val.count > 0) {
      Clock::time_point valStart = Clock::now();
      Result<Evaluation> v =
          evaluateView(b, r.in, r.val, o.batch, o.accuracy ? &*o.accuracy : nullptr);
      r.out.validationSeconds += since(valStart);
      if (!v || !std::isfinite(v->loss)) {
        if (o.log) progress.abandon();
        std::string what =
            !v ? v.error() : "the validation loss is not finite (" + lossValueText(v->loss) + ")";
        return Error{"training stopped after epoch " + std::to_string(r.epoch + 1) + ": " + what +
                     "; " + r.keepNote()};
      }
      val = v->loss;
      valAccuracy = v->accuracy;
    }
    double epochLoss = r.lossSum / double(r.lossCount);
    double seconds = before + since(start);
    std::optional<double> accuracy = r.runningAccuracy();
    if (o.log) progress.endEpoch(since(start), epochLoss, val, accuracy, valAccuracy);
    r.out.history.push_back({r.epoch + 1, epochLoss, val, seconds, accuracy, valAccuracy});
    ++r.epoch;
    r.step = 0;
    r.lossSum = 0;
    r.lossCount = 0;
    r.partialSeconds = 0;
    r.correct = 0;
    r.compared = 0;
    r.epochRng = rng;
    if (Status s = r.checkpoint(); !s) return Error{s.error()};
    if (Status s = r.writeCsv(); !s) return Error{s.error()};
    if (o.stop && o.stop->load() && r.epoch < o.epochs) {
      r.out.interrupted = true;
      return r.out;
    }
  }
  if (Status s = r.writeCsv(); !s) return Error{s.error()};
  return r.out;
}

} // namespace nnc
