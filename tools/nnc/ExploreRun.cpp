// The training run of `nnc explore --run DIR`: the latest checkpoint of a directory written by
// `nnc train --checkpoint DIR` (refused if another model wrote it), its loss history (the
// checkpoint carries every finished epoch, with the accuracy when the model has that metric), the
// model's reconstructions (or outputs) of the first test images, computed by the JIT from the
// checkpoint's weights, and the first convolution's or dense layer's learned filters, each
// normalised to its own range. Pictures are PNGs inlined as data: URLs.
#include "tools/nnc/Explore.h"

#include "passes/Pipeline.h"
#include "runtime/BackendFactory.h"
#include "runtime/Checkpoint.h"
#include "runtime/Png.h"
#include "runtime/Trainer.h"

#include <llvm/Support/Base64.h>

#include <algorithm>

namespace json = llvm::json;

namespace nnc::driver {

namespace {

Result<std::string> pngDataUrl(uint32_t width, uint32_t height, const std::vector<uint8_t> &px) {
  Result<std::string> png = encodePng(width, height, 1, px);
  if (!png) return Error{png.error()};
  return "data:image/png;base64," + llvm::encodeBase64(*png);
}

uint8_t grey(double v) {
  return uint8_t(std::clamp(v, 0.0, 1.0) * 255.0 + 0.5);
}

json::Object historyJson(const std::vector<EpochRecord> &history) {
  json::Array epochs, loss, valLoss, seconds, accuracy, valAccuracy;
  auto orNull = [](const std::optional<double> &v) { return v ? json::Value(*v) : nullptr; };
  bool metric = false;
  for (const EpochRecord &r : history) {
    epochs.push_back(r.epoch);
    loss.push_back(r.loss);
    valLoss.push_back(orNull(r.valLoss));
    seconds.push_back(r.seconds);
    accuracy.push_back(orNull(r.accuracy));
    valAccuracy.push_back(orNull(r.valAccuracy));
    metric = metric || r.accuracy || r.valAccuracy;
  }
  json::Object out{{"epoch", std::move(epochs)},
                   {"loss", std::move(loss)},
                   {"val_loss", std::move(valLoss)},
                   {"seconds", std::move(seconds)}};
  if (metric) {
    out["accuracy"] = std::move(accuracy);
    out["val_accuracy"] = std::move(valAccuracy);
  }
  return out;
}

/// Largest filter image drawn (a dense layer on a large input has too many weights per unit).
constexpr int64_t kMaxFilterPixels = 4096;

/// The first layer's kernel: a conv2d kernel (kh, kw, cin, cout) gives one kh x (kw * cin)
/// image per filter; a dense kernel (in, units) one column per unit; at most 64 filters.
Result<json::Object> filtersJson(const Graph &g, const TensorMapD &tensors) {
  for (ValueId p : g.params) {
    const Node &n = g[p];
    auto it = tensors.find(n.name);
    if (it == tensors.end() || n.name.size() < 7 ||
        n.name.compare(n.name.size() - 7, 7, ".kernel") != 0)
      continue;
    const TensorD &k = it->second;
    bool conv = k.shape.size() == 4;
    int64_t h = k.shape[0], w = conv ? k.shape[1] * k.shape[2] : 1, count = k.shape.back();
    if (h * w > kMaxFilterPixels) return json::Object{};
    json::Array images;
    for (int64_t f = 0; f < count && f < 64; ++f) {
      std::vector<double> v;
      for (int64_t i = 0; i < k.elements() / count; ++i) v.push_back(k.data[size_t(i * count + f)]);
      auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      double range = *hi - *lo > 0 ? *hi - *lo : 1;
      std::vector<uint8_t> px;
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          // conv: pixel (y, x) is kernel (y, x / cin, x % cin); dense: row y of column f
          int64_t i = conv ? (y * k.shape[1] + x / k.shape[2]) * k.shape[2] + x % k.shape[2] : y;
          px.push_back(grey((v[size_t(i)] - *lo) / range));
        }
      Result<std::string> url = pngDataUrl(uint32_t(w), uint32_t(h), px);
      if (!url) return Error{url.error()};
      images.push_back(*url);
    }
    return json::Object{{"layer", n.layer}, {"tensor", n.name}, {"images", std::move(images)}};
  }
  return json::Object{};
}

/// Originals (top row) above the model's outputs (bottom row) for the first `count` test
/// images, when the output is an image of the input's size.
Result<json::Object> reconstructionsJson(Graph g, const Checkpoint &c, const std::string &data,
                                         int64_t count) {
  if (g.outputs.empty()) return json::Object{};
  PassContext ctx;
  g.train.optimizer = c.info.optimizer;
  if (Status s = runPasses(g, ctx, trainingPasses()); !s) return Error{s.error()};
  if (Status s = checkCheckpointTensors(c.tensors, g, c.path); !s) return Error{s.error()};
  Result<DataSplit> split = loadDataset(data);
  if (!split) return Error{split.error()};
  const Dataset &test = split->test;
  const Node &out = g[g.outputs[0]];
  if (out.type.elements() != test.rows * test.cols) return json::Object{};
  Result<InputBinding> in = InputBinding::make(g, test);
  if (!in) return Error{in.error()};
  Result<std::unique_ptr<Backend>> backend = makeBackend("jit", g, 0, true);
  if (!backend) return Error{backend.error()};
  if (Status s = setBackendState(**backend, c.tensors); !s) return Error{s.error()};
  int64_t n = std::min(count, test.count);
  std::vector<uint32_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = uint32_t(i);
  TensorMap inputs = in->batch({&test, 0, test.count}, idx.data(), n);
  TensorMap outputs;
  Result<double> loss = (*backend)->evaluate(inputs, n, &outputs);
  if (!loss) return Error{loss.error()};
  const int64_t rows = test.rows, cols = test.cols, gap = 2;
  const int64_t width = n * cols + (n - 1) * gap, height = 2 * rows + gap;
  std::vector<uint8_t> px(size_t(width * height), 128);
  const std::vector<float> *images[2] = {&inputs.at(in->images).data, &outputs.at(out.name).data};
  for (int row = 0; row < 2; ++row)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t y = 0; y < rows; ++y)
        for (int64_t x = 0; x < cols; ++x)
          px[size_t((row * (rows + gap) + y) * width + i * (cols + gap) + x)] =
              grey((*images[row])[size_t((i * rows + y) * cols + x)]);
  Result<std::string> url = pngDataUrl(uint32_t(width), uint32_t(height), px);
  if (!url) return Error{url.error()};
  return json::Object{{"image", *url}, {"count", n}, {"loss", *loss}};
}

} // namespace

Result<json::Object> exploreRun(const std::string &file, const std::string &source,
                                const std::string &dir, const std::string &data) {
  DiagEngine diags(file, source);
  std::optional<Graph> g = compileSource(source, file, diags);
  if (!g) return Error{diags.render()};
  Result<Checkpoint> c = loadLatestCheckpoint(dir);
  if (!c) return Error{c.error()};
  if (Status s = checkSameModel(*c, g->name, graphHash(*g), file); !s) return Error{s.error()};
  Result<std::vector<EpochRecord>> history = parseHistoryCsv(c->info.history, c->path);
  if (!history) return Error{history.error()};
  Result<json::Object> filters = filtersJson(*g, c->tensors);
  if (!filters) return Error{filters.error()};
  Result<json::Object> recon = reconstructionsJson(*g, *c, data, 10);
  if (!recon) return Error{recon.error()};
  return json::Object{{"dir", dir},
                      {"checkpoint", c->path},
                      {"note", c->note},
                      {"optimizer", c->info.optimizer},
                      {"epoch", c->info.epoch},
                      {"step", c->info.step},
                      {"batch", c->info.batch},
                      {"data", data},
                      {"history", historyJson(*history)},
                      {"filters", filters.take()},
                      {"reconstructions", recon.take()}};
}

} // namespace nnc::driver
