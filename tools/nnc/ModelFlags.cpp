// Flags, model loading and weights shared by nnc train, predict and evaluate (ModelFlags.h).
#include "tools/nnc/ModelFlags.h"

#include "passes/Pipeline.h"
#include "runtime/Checkpoint.h"
#include "runtime/Safetensors.h"
#include "tools/nnc/Driver.h"

#include <fmt/format.h>
#include <llvm/Support/raw_ostream.h>

#include <charconv>
#include <iostream>
#include <map>
#include <sys/stat.h>

namespace nnc::driver {

namespace {

/// A checkpoint (from a directory's latest file or a file with checkpoint metadata) or plain
/// safetensors weights, read and checked to be finite.
Result<Checkpoint> readWeights(const std::string &where) {
  struct stat st;
  if (::stat(where.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return loadLatestCheckpoint(where);
  Result<SafetensorsD> f = readSafetensorsD(where);
  if (!f) return Error{f.error()};
  if (isCheckpointMetadata(f->metadata)) return checkpointFrom(f.take(), where);
  if (Status s = checkFinite(f->tensors, where); !s) return Error{s.error()};
  Checkpoint plain;
  plain.path = where;
  plain.tensors = std::move(f->tensors);
  return plain;
}

} // namespace

/// Prints "nnc: error: MSG" and returns 1; an empty MSG stands for diagnostics already printed.
int fail(const std::string &msg) {
  std::cout.flush();
  if (!msg.empty()) llvm::errs() << "nnc: error: " << msg << "\n";
  return 1;
}

/// The whole of `text` as a number (inf and nan included), or nullopt.
std::optional<double> toNumber(const std::string &text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

/// The whole of `text` as a 64-bit integer, or nullopt.
std::optional<int64_t> toInteger(const std::string &text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

/// "--FLAG: expected WHAT, found 'TEXT'".
Error badFlag(const llvm::cl::opt<std::string> &flag, const std::string &what) {
  return Error{
      fmt::format("--{}: expected {}, found '{}'", flag.ArgStr.str(), what, flag.getValue())};
}

/// Reads integer flag `flag` into `out` if it was given; it must lie in [lo, hi].
Status readInteger(const llvm::cl::opt<std::string> &flag, int64_t lo, int64_t hi,
                   std::optional<int64_t> &out) {
  if (!flag.getNumOccurrences()) return okStatus();
  std::optional<int64_t> v = toInteger(flag);
  if (v && *v >= lo && *v <= hi) {
    out = v;
    return okStatus();
  }
  if (hi != INT64_MAX) return badFlag(flag, fmt::format("an integer from {} to {}", lo, hi));
  return badFlag(flag, fmt::format("an integer of {} or more", lo));
}

/// "--FLAG: " and the problem of the path it gives, if it gives one.
Status checkPathFlag(const llvm::cl::opt<std::string> &flag, Status (*check)(const std::string &)) {
  if (!flag.getNumOccurrences()) return okStatus();
  if (Status s = check(flag); !s) return Error{"--" + flag.ArgStr.str() + ": " + s.error()};
  return okStatus();
}

/// Reads and compiles FILE, printing diagnostics; returns the analysed graph.
std::optional<Graph> loadModel(const std::string &file, std::string &source) {
  if (!readFile(file, source, "model files")) return std::nullopt;
  DiagEngine diags(file, source);
  std::optional<Graph> g = compileSource(source, file, diags);
  if (!diags.diagnostics().empty()) llvm::errs() << diags.render();
  return g;
}

/// Runs decompose and autodiff on `g` (with its train settings already chosen). Diagnostics
/// with a source location are printed here and come back as an empty error (see fail()).
Status toTrainingGraph(Graph &g, const std::string &file, const std::string &source) {
  if (g.loss == kNoValue)
    return Error{"model '" + g.name + "' in '" + file +
                 "' needs a training objective: add a 'loss' statement"};
  DiagEngine diags(file, source);
  PassContext ctx;
  ctx.diags = &diags;
  Status s = runPasses(g, ctx, trainingPasses());
  if (!s && !diags.diagnostics().empty()) {
    llvm::errs() << diags.render();
    return Error{""};
  }
  return s;
}

Result<LoadedWeights> loadWeights(Graph &g, const std::string &where, const std::string &file,
                                  const std::string &source) {
  Result<Checkpoint> c = readWeights(where);
  if (!c) return Error{c.error()};
  if (!c->note.empty()) llvm::errs() << "note: " << c->note << "\n";
  bool checkpoint = !c->info.optimizer.empty();
  if (checkpoint) g.train.optimizer = c->info.optimizer;
  if (Status s = toTrainingGraph(g, file, source); !s) return Error{s.error()};
  if (checkpoint) {
    if (Status s = checkCheckpointTensors(c->tensors, g, c->path); !s) return Error{s.error()};
    return LoadedWeights{std::move(c->tensors), c->info.data};
  }
  std::map<std::string, std::vector<int64_t>> shapes, expected;
  TensorMapD params;
  for (ValueId p : g.params) {
    const Node &n = g[p];
    expected[n.name] = n.type.dims;
    auto it = c->tensors.find(n.name);
    if (it == c->tensors.end()) continue;
    params[n.name] = it->second;
    shapes[n.name] = it->second.shape;
  }
  if (Status s = checkShapes(shapes, expected, c->path); !s) return Error{s.error()};
  return LoadedWeights{std::move(params), ""};
}

} // namespace nnc::driver
