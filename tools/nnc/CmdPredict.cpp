// nnc predict | evaluate: run a trained model. predict shows what it makes of chosen test images
// or of the learner's own (--input): the reconstructions under the originals for an autoencoder,
// the top classes with their probabilities for a classifier, the raw outputs for any model
// (--outputs). evaluate prints the loss and accuracy on the whole test split as Keras's
// model.evaluate does, and for a classifier a per-class table and a confusion matrix (--out
// draws it). Flags are checked before anything is compiled, loaded or written.
#include "tools/nnc/Driver.h"
#include "tools/nnc/ModelFlags.h"

#include "passes/Summary.h"
#include "runtime/BackendFactory.h"
#include "runtime/Classifier.h"
#include "runtime/ImageInput.h"
#include "runtime/Png.h"
#include "runtime/Predict.h"
#include "runtime/Progress.h"
#include "runtime/Trainer.h"
#include "support/FileUtil.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <thread>
#include <tuple>

namespace cl = llvm::cl;
using namespace nnc;
using namespace nnc::driver;

namespace {

cl::SubCommand PredictCmd("predict", "Run a model on test images or your own (--input): "
                                     "reconstructions, or the top classes with probabilities");
cl::SubCommand EvaluateCmd("evaluate", "Loss and accuracy on the test split; per-class accuracy "
                                       "and a confusion matrix for a classifier");

cl::opt<std::string> PredictFile(cl::Positional, cl::desc("<file.nn>"), cl::Required,
                                 cl::sub(PredictCmd), cl::cat(driver::category()));
cl::list<std::string> MoreInputs(cl::Positional, cl::desc("[image...]"), cl::sub(PredictCmd),
                                 cl::cat(driver::category()));
cl::opt<std::string> EvaluateFile(cl::Positional, cl::desc("<file.nn>"), cl::Required,
                                  cl::sub(EvaluateCmd), cl::cat(driver::category()));
cl::opt<std::string> Weights("weights", cl::desc("Safetensors weights or a checkpoint directory"),
                             cl::Required, cl::sub(PredictCmd), cl::sub(EvaluateCmd),
                             cl::cat(driver::category()));
cl::opt<std::string> Data("data",
                          cl::desc("Dataset whose test split is used (default: the one the "
                                   "checkpoint was trained on, else mnist)"),
                          cl::sub(PredictCmd), cl::sub(EvaluateCmd), cl::cat(driver::category()));
cl::opt<std::string> Threads("threads", cl::desc("Worker threads, 1 to 1024 (default: all cores)"),
                             cl::value_desc("integer"), cl::sub(PredictCmd), cl::sub(EvaluateCmd),
                             cl::cat(driver::category()));
cl::opt<std::string> BackendName("backend",
                                 cl::desc("Execution backend (default: the first of the known "
                                          "ones)"),
                                 cl::sub(PredictCmd), cl::sub(EvaluateCmd),
                                 cl::cat(driver::category()));
cl::opt<bool> NoFuse("no-fuse",
                     cl::desc("JIT backend: compile every op as its own kernel (no fusion)"),
                     cl::sub(PredictCmd), cl::sub(EvaluateCmd), cl::cat(driver::category()));
cl::opt<std::string> First("first", cl::desc("Predict the first N test images (default: 10)"),
                           cl::value_desc("N"), cl::sub(PredictCmd), cl::cat(driver::category()));
cl::opt<std::string> Count("count", cl::desc("The same as --first"), cl::value_desc("N"),
                           cl::sub(PredictCmd), cl::cat(driver::category()));
cl::opt<std::string> Index("index",
                           cl::desc("Predict these test images: indices separated by commas, "
                                    "e.g. 0,5,17"),
                           cl::sub(PredictCmd), cl::cat(driver::category()));
cl::list<std::string> Input("input",
                            cl::desc("Predict your own PNG or PGM images (made gray, resized to "
                                     "the model's input and scaled to [0, 1]); more images may "
                                     "follow the first"),
                            cl::value_desc("image"), cl::sub(PredictCmd),
                            cl::cat(driver::category()));
cl::opt<bool> Invert("invert",
                     cl::desc("--input images are dark on a light background: invert them (the "
                              "training images are light on dark)"),
                     cl::sub(PredictCmd), cl::cat(driver::category()));
cl::opt<std::string> Top("top", cl::desc("Classes listed per image (default: 3)"),
                         cl::value_desc("integer"), cl::sub(PredictCmd),
                         cl::cat(driver::category()));
cl::opt<std::string> Outputs("outputs",
                             cl::desc("Write the raw outputs to FILE.npy, FILE.csv or "
                                      "FILE.safetensors"),
                             cl::value_desc("file"), cl::sub(PredictCmd),
                             cl::cat(driver::category()));
cl::opt<std::string> PredictOut("out",
                                cl::desc("Output PNG (default: recon.png for an autoencoder, "
                                         "predictions.png for a classifier)"),
                                cl::sub(PredictCmd), cl::cat(driver::category()));
cl::opt<std::string> EvaluateOut("out", cl::desc("Draw the confusion matrix as a PNG"),
                                 cl::sub(EvaluateCmd), cl::cat(driver::category()));
cl::opt<std::string> EvaluateBatch("batch",
                                   cl::desc("Examples per step, 1 to 1000000 (default: 32, as "
                                            "Keras)"),
                                   cl::value_desc("integer"), cl::sub(EvaluateCmd),
                                   cl::cat(driver::category()));

/// Batch size of predict's forward passes.
constexpr int64_t kPredictBatch = 256;

/// Images per row of a picture of n images: ten, or about the square root of n when that is
/// more, so that a grid of the whole test split stays within PNG's 65536 pixels each way.
int64_t gridColumns(int64_t n) {
  return std::max<int64_t>(10, int64_t(std::ceil(std::sqrt(double(n)))));
}

/// The flags of predict and evaluate, read and checked before any work.
struct RunFlags {
  int threads = 0; // 0: one per core
  int64_t batch = 32, first = 10, top = 3;
  std::vector<int64_t> index; // --index, not yet checked against the test split
  std::vector<std::string> inputs;
};

/// The indices of --index, each 0 or more.
Result<std::vector<int64_t>> readIndex() {
  std::vector<int64_t> out;
  std::string text = Index;
  for (size_t start = 0; start <= text.size();) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::optional<int64_t> v = toInteger(text.substr(start, comma - start));
    if (!v || *v < 0) return badFlag(Index, "test image numbers of 0 or more separated by commas");
    out.push_back(*v);
    start = comma + 1;
  }
  return out;
}

/// Which images predict runs: the checks that need no model or data.
Status checkImageChoice(RunFlags &f) {
  std::optional<int64_t> first, count;
  if (Status s = readInteger(First, 1, INT64_MAX, first); !s) return s;
  if (Status s = readInteger(Count, 1, INT64_MAX, count); !s) return s;
  if (first && count) return Error{"--count is another name for --first: give one of them"};
  if (first || count) f.first = first ? *first : *count;
  if (Index.getNumOccurrences()) {
    if (first || count) return Error{"--index and --first pick test images two ways: give one"};
    Result<std::vector<int64_t>> idx = readIndex();
    if (!idx) return Error{idx.error()};
    f.index = idx.take();
  }
  f.inputs.assign(Input.begin(), Input.end());
  if (!MoreInputs.empty() && Input.empty())
    return Error{"unexpected argument '" + MoreInputs.front() +
                 "' (images of your own follow --input)"};
  f.inputs.insert(f.inputs.end(), MoreInputs.begin(), MoreInputs.end());
  if (Invert && f.inputs.empty()) return Error{"--invert applies to --input images only"};
  if (!f.inputs.empty() && (first || count || Index.getNumOccurrences()))
    return Error{"--input predicts your own images; --first and --index pick test images: "
                 "give one of them"};
  return okStatus();
}

/// Every flag of predict, checked; the first bad one is the error.
Result<RunFlags> readPredictFlags() {
  RunFlags f;
  std::optional<int64_t> threads, top;
  if (Status s = readInteger(Threads, 1, 1024, threads); !s) return Error{s.error()};
  if (Status s = readInteger(Top, 1, 1000, top); !s) return Error{s.error()};
  if (Status s = checkImageChoice(f); !s) return Error{s.error()};
  if (Status s = checkPathFlag(PredictOut, checkWritableFile); !s) return Error{s.error()};
  if (Status s = checkPathFlag(Outputs, checkWritableFile); !s) return Error{s.error()};
  if (Outputs.getNumOccurrences())
    if (Status s = checkOutputsExtension(Outputs); !s) return Error{"--outputs: " + s.error()};
  if (threads) f.threads = int(*threads);
  if (top) f.top = *top;
  return f;
}

/// Every flag of evaluate, checked; the first bad one is the error.
Result<RunFlags> readEvaluateFlags() {
  RunFlags f;
  std::optional<int64_t> threads, batch;
  if (Status s = readInteger(Threads, 1, 1024, threads); !s) return Error{s.error()};
  if (Status s = readInteger(EvaluateBatch, 1, 1000000, batch); !s) return Error{s.error()};
  if (Status s = checkPathFlag(EvaluateOut, checkWritableFile); !s) return Error{s.error()};
  if (threads) f.threads = int(*threads);
  if (batch) f.batch = *batch;
  return f;
}

/// A model ready to run: its training graph with weights in a backend, what its first input
/// takes, and which output answers.
struct Model {
  Graph graph;
  std::unique_ptr<Backend> backend;
  InputBinding binding;
  int64_t rows = 0, cols = 0;
  std::optional<Accuracy> accuracy; // the loss's prediction and target, when it has one
  bool classifier = false;          // categorical crossentropy: outputs are class probabilities
  std::string output;               // the output predict and evaluate read
  std::string trainedOn;            // the dataset of its checkpoint ("" for plain weights)
};

/// Compiles `file`, loads its weights (--weights) and makes its backend.
Result<Model> loadRunnable(const std::string &file, const RunFlags &f) {
  std::string source;
  std::optional<Graph> g = loadModel(file, source);
  if (!g) return Error{""};
  if (g->outputs.empty()) return Error{"model '" + g->name + "' has no output"};
  Model m;
  if (Result<Accuracy> acc = Accuracy::of(*g)) m.accuracy = *acc;
  m.classifier = m.accuracy && m.accuracy->categorical;
  m.output = m.classifier ? m.accuracy->pred : (*g)[g->outputs[0]].name;
  ValueId out = g->find(m.output);
  if (std::find(g->outputs.begin(), g->outputs.end(), out) == g->outputs.end())
    g->outputs.push_back(out);
  Result<LoadedWeights> w = loadWeights(*g, Weights, file, source);
  if (!w) return Error{w.error()};
  Result<std::pair<int64_t, int64_t>> size = imageSizeOf(*g);
  if (!size) return Error{size.error()};
  std::tie(m.rows, m.cols) = *size;
  m.trainedOn = w->data;
  Dataset shape;
  shape.rows = m.rows;
  shape.cols = m.cols;
  Result<InputBinding> in = InputBinding::make(*g, shape);
  if (!in) return Error{in.error()};
  m.binding = *in;
  std::string backend = BackendName.empty() ? backendNames().front() : std::string(BackendName);
  int threads = f.threads > 0 ? f.threads : std::max(1, int(std::thread::hardware_concurrency()));
  Result<std::unique_ptr<Backend>> b = makeBackend(backend, *g, threads, !NoFuse);
  if (!b) return Error{b.error()};
  m.backend = b.take();
  if (Status s = setBackendState(*m.backend, w->tensors); !s) return Error{s.error()};
  m.graph = std::move(*g);
  return m;
}

/// The dataset to use: --data, else the checkpoint's, else mnist.
std::string dataName(const Model &m) {
  if (Data.getNumOccurrences()) return Data;
  return m.trainedOn.empty() ? std::string("mnist") : m.trainedOn;
}

/// The test split of the dataset, checked to have the model's image size.
Result<DataSplit> loadTestData(const Model &m) {
  Result<DataSplit> d = loadDataset(dataName(m));
  if (!d) return d;
  if (d->test.rows != m.rows || d->test.cols != m.cols)
    return Error{fmt::format("model '{}' takes {}x{} images, but the test images of {} are {}x{}",
                             m.graph.name, m.rows, m.cols, dataName(m), d->test.rows,
                             d->test.cols)};
  return d;
}

/// Whether the classes are Fashion-MNIST's garments: the dataset is named fashion-mnist, or its
/// directory's path says fashion.
bool fashionData(const Model &m, const DataSplit *d) {
  std::string name = dataName(m);
  return name == "fashion-mnist" || (d && d->dir.find("fashion") != std::string::npos);
}

/// The test images predict runs: --index (checked against the split) or the first N.
Result<std::vector<uint32_t>> chosenExamples(const RunFlags &f, const Dataset &test,
                                             const std::string &data) {
  std::vector<uint32_t> idx;
  for (int64_t i : f.index) {
    if (i >= test.count)
      return Error{fmt::format("--index: {} is out of range: the test split of {} has {} images "
                               "(0 to {})",
                               i, data, test.count, test.count - 1)};
    idx.push_back(uint32_t(i));
  }
  if (f.index.empty())
    for (int64_t i = 0; i < std::min(f.first, test.count); ++i) idx.push_back(uint32_t(i));
  return idx;
}

/// The images of examples idx, scaled to [0, 1].
std::vector<float> pixelsOf(const Dataset &d, const std::vector<uint32_t> &idx) {
  int64_t px = d.rows * d.cols;
  std::vector<float> out;
  out.reserve(idx.size() * size_t(px));
  for (uint32_t i : idx)
    for (int64_t j = 0; j < px; ++j) out.push_back(float(d.pixels[size_t(i * px + j)]) / 255.f);
  return out;
}

/// What predict runs on: test examples (with labels) or the learner's images.
struct Batch {
  std::vector<float> pixels;
  std::vector<std::string> names; // "test image 17" or the file name
  std::vector<int> labels;        // empty for --input
  std::optional<double> loss;     // on test examples only
  Tensor outputs;
};

/// The --input images, read and made gray (before any other work).
Result<std::vector<GrayImage>> readInputs(const RunFlags &f) {
  std::vector<GrayImage> images;
  for (const std::string &path : f.inputs) {
    Result<GrayImage> img = readGrayImage(path);
    if (!img) return Error{"--input: " + img.error()};
    images.push_back(img.take());
  }
  return images;
}

/// The learner's images, resized to the model's input, and the model's outputs for them.
Result<Batch> ownImages(const RunFlags &f, const std::vector<GrayImage> &images, const Model &m) {
  Batch b;
  for (size_t i = 0; i < images.size(); ++i) {
    std::vector<float> px = resizeToUnit(images[i], m.rows, m.cols);
    if (Invert)
      for (float &v : px) v = 1.f - v;
    b.pixels.insert(b.pixels.end(), px.begin(), px.end());
    b.names.push_back(f.inputs[i]);
  }
  Result<Predictions> p = predictImages(*m.backend, m.graph, m.binding, b.pixels,
                                        int64_t(f.inputs.size()), kPredictBatch, m.output);
  if (!p) return Error{p.error()};
  b.outputs = std::move(p->output);
  return b;
}

/// The chosen test examples and the model's outputs for them.
Result<Batch> testImages(const RunFlags &f, const Model &m, const DataSplit &d) {
  Result<std::vector<uint32_t>> idx = chosenExamples(f, d.test, dataName(m));
  if (!idx) return Error{idx.error()};
  Batch b;
  b.pixels = pixelsOf(d.test, *idx);
  for (uint32_t i : *idx) b.names.push_back(fmt::format("test image {}", i));
  b.labels = labelsOf(d.test, *idx);
  Result<Predictions> p = predictExamples(*m.backend, m.binding, {&d.test, 0, d.test.count}, *idx,
                                          kPredictBatch, m.output);
  if (!p) return Error{p.error()};
  b.loss = p->loss;
  b.outputs = std::move(p->output);
  return b;
}

/// "9 Ankle boot" (or "9" when the class has no other name).
std::string classLabel(int c, const std::vector<std::string> &names) {
  const std::string &name = names[size_t(c)];
  return name == std::to_string(c) ? name : std::to_string(c) + " " + name;
}

/// "9 Ankle boot 0.9923, 7 Sneaker 0.0051": the top classes of one output.
std::string topText(const float *probs, int classes, int64_t top,
                    const std::vector<std::string> &names) {
  std::string out;
  for (int c : topClasses(probs, classes, int(top)))
    out += fmt::format("{}{} {:.4f}", out.empty() ? "" : ", ", classLabel(c, names), probs[c]);
  return out;
}

/// Prints each image's top classes (and, for test images, how many are right) and draws them.
Status showClasses(const Batch &b, const RunFlags &f, const std::vector<std::string> &names,
                   const Model &m) {
  int64_t n = int64_t(b.names.size()), right = 0;
  int classes = int(b.outputs.elements() / std::max<int64_t>(n, 1));
  std::vector<GridCaption> captions;
  for (int64_t i = 0; i < n; ++i) {
    const float *p = b.outputs.data.data() + i * classes;
    int best = argmax(p, classes);
    GridCaption cap{fmt::format("{} {:.0f}%", names[size_t(best)], 100.0 * p[best]), "", {}};
    std::string line = b.names[size_t(i)];
    if (!b.labels.empty()) {
      int truth = b.labels[size_t(i)];
      cap.correct = best == truth;
      right += best == truth;
      cap.bottom = "true: " + names[size_t(truth)];
      line += " (true: " + classLabel(truth, names) + ")" + (best == truth ? "" : " WRONG");
    } else {
      cap.bottom = b.names[size_t(i)].substr(b.names[size_t(i)].find_last_of('/') + 1);
    }
    std::cout << line << ": " << topText(p, classes, f.top, names) << "\n";
    captions.push_back(cap);
  }
  if (!b.labels.empty())
    std::cout << fmt::format("{} of {} right (accuracy {:.4f}); loss on them {:.4f}\n", right, n,
                             double(right) / double(n), *b.loss);
  std::string out = PredictOut.empty() ? "predictions.png" : std::string(PredictOut);
  if (Status s = writeLabeledGrid(out, b.pixels, n, m.rows, m.cols, captions, gridColumns(n)); !s)
    return s;
  std::cout << "Wrote " << out << ": " << n << (n == 1 ? " image" : " images")
            << " with the predicted class"
            << (b.labels.empty() ? "" : " (green: right, red: wrong) and the true class") << "\n";
  return okStatus();
}

/// Draws the originals above the model's reconstructions.
Status showReconstructions(const Batch &b, const Model &m) {
  int64_t n = int64_t(b.names.size());
  std::string out = PredictOut.empty() ? "recon.png" : std::string(PredictOut);
  if (Status s = writeReconstructionGrid(out, b.pixels, b.outputs.data, n, m.rows, m.cols, 4,
                                         gridColumns(n));
      !s)
    return s;
  std::cout << "Wrote " << out << ": " << n << (b.labels.empty() ? " images" : " test images")
            << " (top) and their reconstructions (bottom)";
  if (b.loss) std::cout << fmt::format("; loss on them {:.4f}", *b.loss);
  std::cout << "\n";
  return okStatus();
}

/// Prints the outputs of a model that is neither a classifier nor an autoencoder.
void showValues(const Batch &b) {
  int64_t n = int64_t(b.names.size()), per = b.outputs.elements() / std::max<int64_t>(n, 1);
  for (int64_t i = 0; i < n; ++i) {
    std::string values;
    for (int64_t k = 0; k < std::min<int64_t>(per, 8); ++k)
      values += fmt::format("{}{:.4f}", k ? " " : "", b.outputs.data[size_t(i * per + k)]);
    std::cout << b.names[size_t(i)] << ": " << values << (per > 8 ? " ..." : "") << "\n";
  }
}

/// nnc predict: flags, inputs, model, the images' outputs, then text, picture and --outputs.
int runPredict() {
  Result<RunFlags> f = readPredictFlags();
  if (!f) return fail(f.error());
  Result<std::vector<GrayImage>> images = readInputs(*f);
  if (!images) return fail(images.error());
  Result<Model> m = loadRunnable(PredictFile, *f);
  if (!m) return fail(m.error());
  std::optional<DataSplit> data;
  if (f->inputs.empty()) {
    Result<DataSplit> d = loadTestData(*m);
    if (!d) return fail(d.error());
    data = d.take();
  }
  Result<Batch> b = f->inputs.empty() ? testImages(*f, *m, *data) : ownImages(*f, *images, *m);
  if (!b) return fail(b.error());
  int64_t n = int64_t(b->names.size()), per = b->outputs.elements() / std::max<int64_t>(n, 1);
  Status shown = okStatus();
  if (m->classifier)
    shown = showClasses(*b, *f, classNames(fashionData(*m, data ? &*data : nullptr), int(per)), *m);
  else if (per == m->rows * m->cols)
    shown = showReconstructions(*b, *m);
  else
    showValues(*b);
  if (!shown) return fail(shown.error());
  if (Outputs.getNumOccurrences()) {
    if (Status s = writeOutputs(Outputs, b->outputs, b->names, m->output); !s)
      return fail(s.error());
    std::cout << "Wrote " << Outputs << ": the outputs '" << m->output << "', shape ["
              << fmt::format("{}", fmt::join(b->outputs.shape, ", ")) << "]\n";
  }
  return 0;
}

/// Prints the per-class table and the confusion matrix; draws it with --out.
Status showConfusion(const ConfusionMatrix &cm, const std::vector<std::string> &names) {
  std::cout << "\nPer-class accuracy:\n"
            << perClassTable(cm, names) << "\n"
            << confusionText(cm, names);
  if (EvaluateOut.empty()) return okStatus();
  if (Status s = writeConfusionPng(EvaluateOut, cm, names); !s) return s;
  std::cout << "Wrote " << EvaluateOut << "\n";
  return okStatus();
}

/// What evaluate measures on a test split.
struct Score {
  double loss = 0;
  std::optional<double> accuracy;
  std::optional<ConfusionMatrix> confusion; // for a classifier
};

/// Loss and accuracy on all of `test` (and a classifier's confusion matrix), in batches.
Result<Score> scoreTestSplit(const Model &m, const Dataset &test, int64_t batch) {
  DataView all{&test, 0, test.count};
  Score sc;
  if (!m.classifier) {
    bool metrics = m.accuracy && !m.graph.train.metrics.empty();
    Result<Evaluation> e =
        evaluateView(*m.backend, m.binding, all, batch, metrics ? &*m.accuracy : nullptr);
    if (!e) return Error{e.error()};
    sc.loss = e->loss;
    sc.accuracy = e->accuracy;
    return sc;
  }
  std::vector<uint32_t> idx(size_t(test.count));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = uint32_t(i);
  Result<Predictions> p = predictExamples(*m.backend, m.binding, all, idx, batch, m.output);
  if (!p) return Error{p.error()};
  sc.loss = p->loss;
  sc.confusion = confusionOf(p->output, labelsOf(test, idx));
  int64_t total = sc.confusion->total();
  sc.accuracy = total ? double(sc.confusion->correct()) / double(total) : 0.0;
  return sc;
}

/// nnc evaluate: flags, model, test split, the Keras-style line and a classifier's tables.
int runEvaluate() {
  Result<RunFlags> f = readEvaluateFlags();
  if (!f) return fail(f.error());
  Result<Model> m = loadRunnable(EvaluateFile, *f);
  if (!m) return fail(m.error());
  if (!EvaluateOut.empty() && !m->classifier)
    return fail("--out: a confusion matrix needs a classifier (a softmax output with "
                "categorical_crossentropy); model '" +
                m->graph.name + "' is not one");
  Result<DataSplit> d = loadTestData(*m);
  if (!d) return fail(d.error());
  const Dataset &test = d->test;
  std::cout << "Evaluating " << m->graph.name << " (" << withCommas(m->graph.paramCount())
            << " params) on " << d->description << ": " << test.count << " test images\n";
  std::cout.flush();
  auto t0 = std::chrono::steady_clock::now();
  Result<Score> sc = scoreTestSplit(*m, test, f->batch);
  if (!sc) return fail(sc.error());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t steps = (test.count + f->batch - 1) / f->batch;
  std::cout << Progress::epochLine(steps, steps, seconds, sc->loss, std::nullopt, false,
                                   sc->accuracy)
            << "\n";
  if (sc->confusion)
    if (Status s = showConfusion(*sc->confusion,
                                 classNames(fashionData(*m, &*d), sc->confusion->classes()));
        !s)
      return fail(s.error());
  return 0;
}

const bool registeredPredict = driver::registerCommand(PredictCmd, runPredict);
const bool registeredEvaluate = driver::registerCommand(EvaluateCmd, runEvaluate);

} // namespace
