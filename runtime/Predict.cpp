// Batched prediction and raw output files (see Predict.h).
#include "runtime/Predict.h"

#include "runtime/Npz.h"
#include "runtime/Safetensors.h"
#include "support/FileUtil.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

namespace nnc {

namespace {

/// Runs n examples in batches: `inputsFor(start, count)` gives a batch's inputs.
Result<Predictions> runBatches(Backend &b, int64_t n, int64_t batch, const std::string &output,
                               const std::function<TensorMap(int64_t, int64_t)> &inputsFor) {
  Predictions p;
  double sum = 0;
  for (int64_t s = 0; s < n; s += batch) {
    int64_t count = std::min(batch, n - s);
    TensorMap outputs;
    Result<double> loss = b.evaluate(inputsFor(s, count), count, &outputs);
    if (!loss) return Error{loss.error()};
    auto it = outputs.find(output);
    if (it == outputs.end()) return Error{"the backend returned no value for '" + output + "'"};
    if (p.output.shape.empty()) {
      p.output.shape = it->second.shape;
      p.output.shape[0] = n;
      p.output.data.reserve(size_t(p.output.elements()));
    }
    p.output.data.insert(p.output.data.end(), it->second.data.begin(), it->second.data.end());
    sum += *loss * double(count);
  }
  p.loss = n > 0 ? sum / double(n) : 0;
  return p;
}

} // namespace

Result<std::pair<int64_t, int64_t>> imageSizeOf(const Graph &g) {
  if (g.inputs.empty()) return Error{"model '" + g.name + "' has no input to feed images to"};
  const Node &x = g[g.inputs[0]];
  const std::vector<int64_t> &d = x.type.dims;
  if (d.size() == 3 && d[2] == 1) return std::pair{d[0], d[1]};
  if (d.size() == 2) return std::pair{d[0], d[1]};
  if (d.size() == 1) {
    auto side = int64_t(std::lround(std::sqrt(double(d[0]))));
    if (side * side == d[0]) return std::pair{side, side};
  }
  std::string why = d.size() == 3
                        ? fmt::format("{} channels; nnc feeds gray images (1 channel)", d[2])
                        : std::string("not an image shape ([H, W, 1], [H, W] or a square [H*W])");
  return Error{"input '" + x.name + "' has shape " + x.type.str() + ": " + why};
}

Result<Predictions> predictExamples(Backend &b, const InputBinding &in, const DataView &v,
                                    const std::vector<uint32_t> &idx, int64_t batch,
                                    const std::string &output) {
  return runBatches(b, int64_t(idx.size()), batch, output,
                    [&](int64_t s, int64_t count) { return in.batch(v, idx.data() + s, count); });
}

Result<Predictions> predictImages(Backend &b, const Graph &g, const InputBinding &in,
                                  const std::vector<float> &images, int64_t n, int64_t batch,
                                  const std::string &output) {
  int64_t px = n > 0 ? int64_t(images.size()) / n : 0;
  return runBatches(b, n, batch, output, [&](int64_t s, int64_t count) {
    TensorMap m;
    for (ValueId id : g.inputs) { // the loss's other inputs (labels) get zeros
      Tensor &t = m[g[id].name];
      t.shape = {count};
      t.shape.insert(t.shape.end(), g[id].type.dims.begin(), g[id].type.dims.end());
      t.data.assign(size_t(t.elements()), 0.f);
    }
    Tensor &x = m.at(in.images);
    std::copy(images.begin() + s * px, images.begin() + (s + count) * px, x.data.begin());
    return m;
  });
}

ConfusionMatrix confusionOf(const Tensor &outputs, const std::vector<int> &labels) {
  int64_t n = outputs.shape.empty() ? 0 : outputs.shape[0];
  int classes = n > 0 ? int(outputs.elements() / n) : 0;
  ConfusionMatrix m(classes);
  for (int64_t i = 0; i < n && size_t(i) < labels.size(); ++i)
    m.add(labels[size_t(i)], argmax(outputs.data.data() + i * classes, classes));
  return m;
}

std::vector<int> labelsOf(const Dataset &d, const std::vector<uint32_t> &idx) {
  std::vector<int> labels;
  for (uint32_t i : idx) labels.push_back(d.labels[i]);
  return labels;
}

namespace {

/// Whether `path` ends with `ext`.
bool endsWith(const std::string &path, const std::string &ext) {
  return path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
}

/// The outputs as CSV text: a header, then one row per example.
std::string outputsCsv(const Tensor &outputs, const std::vector<std::string> &names) {
  int64_t n = outputs.shape.empty() ? 0 : outputs.shape[0];
  int64_t per = n > 0 ? outputs.elements() / n : 0;
  std::string out = "image";
  for (int64_t k = 0; k < per; ++k) out += fmt::format(",{}", k);
  out += "\n";
  for (int64_t i = 0; i < n; ++i) {
    std::string name = size_t(i) < names.size() ? names[size_t(i)] : std::to_string(i);
    if (name.find_first_of(",\"\n") != std::string::npos) {
      std::string quoted = "\"";
      for (char c : name) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      name = quoted + "\"";
    }
    out += name;
    for (int64_t k = 0; k < per; ++k)
      out += fmt::format(",{:.9g}", outputs.data[size_t(i * per + k)]);
    out += "\n";
  }
  return out;
}

} // namespace

Status checkOutputsExtension(const std::string &path) {
  for (const char *ext : {".npy", ".csv", ".safetensors"})
    if (endsWith(path, ext)) return okStatus();
  return Error{"cannot tell the format of '" + path +
               "': the file name must end in .npy, .csv or .safetensors"};
}

Status writeOutputs(const std::string &path, const Tensor &outputs,
                    const std::vector<std::string> &names, const std::string &tensorName) {
  if (Status s = checkOutputsExtension(path); !s) return s;
  if (endsWith(path, ".safetensors")) return writeSafetensors(path, {{tensorName, outputs}});
  if (endsWith(path, ".csv")) return writeFileAtomic(path, outputsCsv(outputs, names));
  Result<std::string> npy = encodeNpyF32(outputs.shape, outputs.data);
  if (!npy) return Error{"cannot write '" + path + "': " + npy.error()};
  return writeFileAtomic(path, *npy);
}

} // namespace nnc
