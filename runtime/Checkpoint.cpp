// Checkpoint files and the `latest` pointer. Saving: write the safetensors file atomically,
// then the pointer atomically, then prune; a reader follows the pointer, so it only ever sees
// a file whose write (and directory entry) was synced before the pointer named it. Pruning
// removes only files before the one the (already durable) pointer names. Without a pointer
// (or with one naming a removed file) the reader takes the newest file that loads completely:
// files only get their final name by a rename after their fsync. Leftover temporaries of
// killed writers (".ckpt-*.tmp-*", ".latest.tmp-*") are removed on save; the run directory's
// lock (see FileUtil.h) keeps a second writer out. Each tensor's XXH3-64 hash is computed over
// its bytes as stored (F32 or F64, little-endian) and kept under "xxh3.NAME" (16 hex digits).
// Doubles in the metadata are stored as C99 hex floats so a resumed run restores them exactly;
// every field is parsed as exactly one number or token of its format, within its range.
#include "runtime/Checkpoint.h"

#include "support/FileUtil.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <limits>
#include <sstream>
#include <sys/stat.h>
#include <tuple>

namespace nnc {

namespace {

constexpr const char *kFormat = "nnc-checkpoint-2";
constexpr const char *kHashPrefix = "xxh3.";
constexpr const char *kPrefix = "ckpt-epoch-";
constexpr const char *kSuffix = ".safetensors";
/// Largest `latest` pointer file (it holds one file name).
constexpr uint64_t kMaxPointerBytes = 4096;

std::string hexDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

std::string joinPath(const std::string &dir, const std::string &name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

/// A whole number written in decimal digits only, within [lo, hi].
std::optional<uint64_t> parseWhole(const std::string &s, uint64_t lo, uint64_t hi) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = uint64_t(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

/// A finite number (decimal or C99 hex float) that is the whole of `s`.
std::optional<double> parseFinite(const std::string &s) {
  if (s.empty() || !(std::isdigit(uint8_t(s[0])) || s[0] == '-' || s[0] == '+' || s[0] == '.'))
    return std::nullopt;
  char *end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

/// True when `s` is `prefix` followed by exactly 16 lowercase hex digits.
bool isHex64(const std::string &s, const std::string &prefix) {
  return s.size() == prefix.size() + 16 && s.compare(0, prefix.size(), prefix) == 0 &&
         std::all_of(s.begin() + long(prefix.size()), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

/// `s` quoted for a message, cut after 40 characters.
std::string quoted(const std::string &s) {
  return "\"" + (s.size() > 40 ? s.substr(0, 40) + "..." : s) + "\"";
}

/// Parses "ckpt-epoch-EEEE[-step-SSSSSS].safetensors" into (epoch, step).
bool parseFileName(const std::string &name, int64_t &epoch, int64_t &step) {
  size_t pl = std::strlen(kPrefix), sl = std::strlen(kSuffix);
  if (name.size() <= pl + sl || name.compare(0, pl, kPrefix) != 0 ||
      name.compare(name.size() - sl, sl, kSuffix) != 0)
    return false;
  std::string mid = name.substr(pl, name.size() - pl - sl);
  auto digits = [](const std::string &s) {
    return !s.empty() && s.size() <= 12 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  size_t dash = mid.find("-step-");
  std::string e = dash == std::string::npos ? mid : mid.substr(0, dash);
  std::string s = dash == std::string::npos ? "0" : mid.substr(dash + 6);
  if (!digits(e) || !digits(s)) return false;
  epoch = std::stoll(e);
  step = std::stoll(s);
  return true;
}

bool isStaleTemporary(const std::string &name) {
  return (name.rfind(".ckpt-epoch-", 0) == 0 || name.rfind(".latest.tmp-", 0) == 0) &&
         name.find(".tmp-") != std::string::npos;
}

std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  DIR *d = ::opendir(dir.c_str());
  if (!d) return names;
  while (dirent *e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  return names;
}

} // namespace

std::string textHash(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016" PRIx64, h);
  return buf;
}

std::string graphHash(const Graph &g) {
  Graph anonymous = g;
  anonymous.file.clear();
  for (Node &n : anonymous.nodes) n.loc = SourceLoc{};
  return textHash(printGraph(anonymous));
}

std::string checkpointFileName(int64_t epoch, int64_t step) {
  char buf[96];
  if (step > 0)
    std::snprintf(buf, sizeof buf, "%s%04" PRId64 "-step-%06" PRId64 "%s", kPrefix, epoch, step,
                  kSuffix);
  else
    std::snprintf(buf, sizeof buf, "%s%04" PRId64 "%s", kPrefix, epoch, kSuffix);
  return buf;
}

SafetensorsMetadata checkpointMetadata(const CheckpointInfo &info) {
  SafetensorsMetadata m;
  m["format"] = kFormat;
  m["model"] = info.modelName;
  m["model_hash"] = info.modelHash;
  m["optimizer"] = info.optimizer;
  m["epoch"] = std::to_string(info.epoch);
  m["step"] = std::to_string(info.step);
  m["global_step"] = std::to_string(info.globalStep);
  m["seed"] = std::to_string(info.seed);
  m["batch"] = std::to_string(info.batch);
  m["rng"] = info.rngState;
  m["partial_loss_sum"] = hexDouble(info.partialLossSum);
  m["partial_count"] = std::to_string(info.partialCount);
  m["history"] = info.history;
  m["data"] = info.data;
  m["epochs"] = std::to_string(info.epochs);
  m["lr"] = info.lr ? hexDouble(*info.lr) : "";
  m["shuffle"] = info.shuffle ? "true" : "false";
  m["validation_split"] = info.validationSplit ? hexDouble(*info.validationSplit) : "";
  m["partial_seconds"] = hexDouble(info.partialSeconds);
  std::string metrics;
  for (const std::string &name : info.metrics) metrics += (metrics.empty() ? "" : ",") + name;
  m["metrics"] = metrics;
  m["partial_correct"] = std::to_string(info.partialCorrect);
  m["partial_compared"] = std::to_string(info.partialCompared);
  return m;
}

bool isCheckpointMetadata(const SafetensorsMetadata &m) {
  auto it = m.find("format");
  return it != m.end() && it->second == kFormat;
}

namespace {

/// Reads checkpoint metadata field by field, collecting one message per bad field.
class MetadataReader {
public:
  MetadataReader(const SafetensorsMetadata &m, const std::string &what) : m_(m), what_(what) {}

  /// The field's text, or nullopt (and a message) when it is missing.
  std::optional<std::string> text(const char *key) {
    auto it = m_.find(key);
    if (it != m_.end()) return it->second;
    problem(key, "is missing");
    return std::nullopt;
  }
  /// The field as a whole number in [lo, hi].
  std::optional<uint64_t> whole(const char *key, uint64_t lo, uint64_t hi) {
    std::optional<std::string> s = text(key);
    if (!s) return std::nullopt;
    std::optional<uint64_t> v = parseWhole(*s, lo, hi);
    if (!v)
      problem(key, "is " + quoted(*s) + ", expected a whole number from " + std::to_string(lo) +
                       " to " + std::to_string(hi));
    return v;
  }
  /// The field as text `prefix` + 16 lowercase hex digits.
  std::optional<std::string> hex64(const char *key, const std::string &prefix) {
    std::optional<std::string> s = text(key);
    if (s && !isHex64(*s, prefix)) {
      problem(key, "is " + quoted(*s) + ", expected \"" + prefix + "\" and 16 hex digits");
      return std::nullopt;
    }
    return s;
  }
  /// Records a message about field `key`.
  void problem(const std::string &key, const std::string &msg) {
    add(what_ + ": metadata \"" + key + "\" " + msg);
  }
  /// Records a complete message.
  void add(const std::string &msg) { errors_ += (errors_.empty() ? "" : "\n") + msg; }
  const std::string &errors() const { return errors_; }

private:
  const SafetensorsMetadata &m_;
  const std::string &what_;
  std::string errors_;
};

/// An optional number field: "" (unset) or a finite number that `inRange` accepts; `what`
/// names the range in the message.
std::optional<double> readOptionalNumber(MetadataReader &r, const char *key,
                                         bool (*inRange)(double), const char *what) {
  std::optional<std::string> s = r.text(key);
  if (!s || s->empty()) return std::nullopt;
  std::optional<double> v = parseFinite(*s);
  if (v && inRange(*v)) return v;
  r.problem(key, "is " + quoted(*s) + ", expected \"\" or " + what);
  return std::nullopt;
}

/// Reads the run's configuration fields into `info`, recording a message per bad field.
void readConfig(MetadataReader &r, CheckpointInfo &info) {
  std::optional<std::string> data = r.text("data"), shuffle = r.text("shuffle"),
                             seconds = r.text("partial_seconds");
  std::optional<uint64_t> epochs = r.whole("epochs", 1, kMaxCheckpointEpoch);
  info.lr = readOptionalNumber(
      r, "lr", [](double v) { return v > 0 && v <= 1e6; }, "a number above 0 and at most 1e6");
  info.validationSplit = readOptionalNumber(
      r, "validation_split", [](double v) { return v > 0 && v < 1; },
      "a fraction above 0 and below 1");
  if (data && data->empty()) r.problem("data", "is empty");
  if (data) info.data = *data;
  if (epochs) info.epochs = int64_t(*epochs);
  if (shuffle && *shuffle != "true" && *shuffle != "false")
    r.problem("shuffle", "is " + quoted(*shuffle) + ", expected \"true\" or \"false\"");
  if (shuffle) info.shuffle = *shuffle == "true";
  const uint64_t anyI64 = uint64_t(std::numeric_limits<int64_t>::max());
  std::optional<uint64_t> correct = r.whole("partial_correct", 0, anyI64),
                          compared = r.whole("partial_compared", 0, anyI64);
  if (correct && compared && *correct > *compared)
    r.problem("partial_correct", "is " + std::to_string(*correct) + ", more than the " +
                                     std::to_string(*compared) + " predictions compared");
  if (correct) info.partialCorrect = int64_t(*correct);
  if (compared) info.partialCompared = int64_t(*compared);
  if (std::optional<std::string> metrics = r.text("metrics")) {
    if (!metrics->empty() && *metrics != "accuracy")
      r.problem("metrics", "is " + quoted(*metrics) + ", expected \"\" or \"accuracy\"");
    else if (!metrics->empty())
      info.metrics = {*metrics};
  }
  std::optional<double> s = seconds ? parseFinite(*seconds) : std::nullopt;
  if (seconds && (!s || *s < 0))
    r.problem("partial_seconds", "is " + quoted(*seconds) + ", expected a finite number >= 0");
  if (s) info.partialSeconds = *s;
}

/// Checks the fields that must agree with each other (all individually valid).
void checkAgreement(const CheckpointInfo &info, MetadataReader &r, const std::string &what) {
  if (uint64_t(info.partialCount) != uint64_t(info.step) * uint64_t(info.batch))
    r.problem("partial_count", "is " + std::to_string(info.partialCount) + ", but " +
                                   std::to_string(info.step) + " steps of batch " +
                                   std::to_string(info.batch) + " hold " +
                                   std::to_string(info.step * info.batch) + " examples");
  if (info.step == 0 && info.partialLossSum != 0)
    r.problem("partial_loss_sum", "is not 0 at the start of an epoch (\"step\" is 0)");
  if (info.step == 0 && info.partialCompared != 0)
    r.problem("partial_compared", "is not 0 at the start of an epoch (\"step\" is 0)");
  if (info.step == 0 && info.partialSeconds != 0)
    r.problem("partial_seconds", "is not 0 at the start of an epoch (\"step\" is 0)");
  if (info.globalStep < info.epoch + info.step)
    r.problem("global_step", "is " + std::to_string(info.globalStep) + ", fewer than the " +
                                 std::to_string(info.epoch) + " epochs and " +
                                 std::to_string(info.step) + " steps it records");
  Result<std::vector<EpochRecord>> h =
      parseHistoryCsv(info.history, what + ": metadata \"history\"");
  if (!h) {
    r.add(h.error());
    return;
  }
  if (int64_t(h->size()) != info.epoch || (!h->empty() && h->back().epoch != info.epoch))
    r.problem("history", "has " + std::to_string(h->size()) + " rows, expected one per " +
                             "finished epoch (1 to " + std::to_string(info.epoch) + ")");
}

} // namespace

Result<CheckpointInfo> parseCheckpointMetadata(const SafetensorsMetadata &m,
                                               const std::string &what) {
  if (!isCheckpointMetadata(m)) {
    auto f = m.find("format");
    if (f != m.end() && f->second.rfind("nnc-checkpoint-", 0) == 0)
      return Error{what + ": a checkpoint of another nnc version (metadata \"format\" is " +
                   quoted(f->second) + ", this nnc reads \"" + kFormat +
                   "\"); predict and eval still take it as plain weights"};
    return Error{what + ": not an nnc training checkpoint (metadata \"format\" is not \"" +
                 kFormat + "\")"};
  }
  MetadataReader r(m, what);
  CheckpointInfo info;
  const uint64_t anyU64 = std::numeric_limits<uint64_t>::max();
  const uint64_t anyI64 = uint64_t(std::numeric_limits<int64_t>::max());
  std::optional<std::string> model = r.text("model"), hash = r.hex64("model_hash", "fnv1a64:"),
                             optimizer = r.text("optimizer"), rng = r.hex64("rng", "splitmix64:"),
                             history = r.text("history"), sum = r.text("partial_loss_sum");
  std::optional<uint64_t> epoch = r.whole("epoch", 0, kMaxCheckpointEpoch),
                          step = r.whole("step", 0, kMaxCheckpointEpoch),
                          globalStep = r.whole("global_step", 0, anyI64),
                          seed = r.whole("seed", 0, anyU64),
                          batch = r.whole("batch", 1, kMaxCheckpointBatch),
                          count = r.whole("partial_count", 0, anyI64);
  if (model && model->empty()) r.problem("model", "is empty");
  auto isWord = [](const std::string &s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
  };
  if (optimizer && !isWord(*optimizer))
    r.problem("optimizer", "is " + quoted(*optimizer) + ", expected an optimizer name");
  std::optional<double> lossSum = sum ? parseFinite(*sum) : std::nullopt;
  if (sum && !lossSum)
    r.problem("partial_loss_sum", "is " + quoted(*sum) + ", expected a finite number");
  readConfig(r, info);
  if (!r.errors().empty()) return Error{r.errors()};
  info.modelName = *model;
  info.modelHash = *hash;
  info.optimizer = *optimizer;
  info.epoch = int64_t(*epoch);
  info.step = int64_t(*step);
  info.globalStep = int64_t(*globalStep);
  info.seed = *seed;
  info.batch = int64_t(*batch);
  info.rngState = *rng;
  info.partialLossSum = *lossSum;
  info.partialCount = int64_t(*count);
  info.history = *history;
  checkAgreement(info, r, what);
  if (!r.errors().empty()) return Error{r.errors()};
  return info;
}

std::string historyCsv(const std::vector<EpochRecord> &history) {
  bool accuracy = std::any_of(history.begin(), history.end(),
                              [](const EpochRecord &r) { return r.accuracy.has_value(); });
  std::string out = accuracy ? "epoch,loss,val_loss,seconds,accuracy,val_accuracy\n"
                             : "epoch,loss,val_loss,seconds\n";
  auto optional = [](std::optional<double> v) {
    return v ? fmt::format("{:.9g}", *v) : std::string();
  };
  for (const EpochRecord &r : history) {
    out += fmt::format("{},{:.9g},{},{:.3f}", r.epoch, r.loss, optional(r.valLoss), r.seconds);
    if (accuracy) out += "," + optional(r.accuracy) + "," + optional(r.valAccuracy);
    out += "\n";
  }
  return out;
}

namespace {

/// Splits one CSV line at its commas.
std::vector<std::string> csvFields(const std::string &line) {
  std::vector<std::string> f;
  size_t start = 0;
  for (;;) {
    size_t comma = line.find(',', start);
    f.push_back(line.substr(start, comma - start));
    if (comma == std::string::npos) return f;
    start = comma + 1;
  }
}

/// Parses the four (or six, with accuracies) fields of one history row; returns what is wrong with
/// them, if anything.
std::optional<std::string> parseHistoryRow(const std::vector<std::string> &f, int64_t previous,
                                           EpochRecord &r) {
  std::optional<uint64_t> epoch = parseWhole(f[0], 1, kMaxCheckpointEpoch);
  if (!epoch)
    return "epoch " + quoted(f[0]) + " is not a whole number from 1 to " +
           std::to_string(kMaxCheckpointEpoch);
  r.epoch = int64_t(*epoch);
  if (r.epoch <= previous)
    return "epoch " + std::to_string(r.epoch) + " does not follow epoch " +
           std::to_string(previous) + " (epochs must increase)";
  std::optional<double> loss = parseFinite(f[1]);
  if (!loss) return "loss " + quoted(f[1]) + " is not a finite number";
  r.loss = *loss;
  if (!f[2].empty()) {
    std::optional<double> val = parseFinite(f[2]);
    if (!val) return "val_loss " + quoted(f[2]) + " is not a finite number (or empty)";
    r.valLoss = *val;
  }
  std::optional<double> seconds = parseFinite(f[3]);
  if (!seconds || *seconds < 0) return "seconds " + quoted(f[3]) + " is not a finite number >= 0";
  r.seconds = *seconds;
  const char *names[] = {"accuracy", "val_accuracy"};
  std::optional<double> *accuracies[] = {&r.accuracy, &r.valAccuracy};
  for (size_t k = 4; k < f.size(); ++k) {
    if (f[k].empty()) continue;
    std::optional<double> a = parseFinite(f[k]);
    if (!a || *a < 0 || *a > 1)
      return std::string(names[k - 4]) + " " + quoted(f[k]) + " is not a number from 0 to 1";
    *accuracies[k - 4] = a;
  }
  return std::nullopt;
}

} // namespace

Result<std::vector<EpochRecord>> parseHistoryCsv(const std::string &text, const std::string &what) {
  std::vector<EpochRecord> out;
  std::istringstream in(text);
  std::string line;
  int64_t lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (lineNo == 1 && line.rfind("epoch,", 0) == 0)) continue;
    std::string where = what + ": line " + std::to_string(lineNo);
    std::vector<std::string> f = csvFields(line);
    if (f.size() != 4 && f.size() != 6)
      return Error{where + " is not 'epoch,loss,val_loss,seconds'"};
    EpochRecord r;
    if (std::optional<std::string> bad = parseHistoryRow(f, out.empty() ? 0 : out.back().epoch, r))
      return Error{where + ": " + *bad};
    out.push_back(r);
  }
  return out;
}

std::vector<std::string> listCheckpoints(const std::string &dir) {
  std::vector<std::tuple<int64_t, int64_t, std::string>> found;
  for (const std::string &name : listDir(dir)) {
    int64_t e, s;
    if (parseFileName(name, e, s)) found.emplace_back(e, s, name);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto &f : found) out.push_back(std::get<2>(f));
  return out;
}

namespace {

/// The bytes of a tensor as a safetensors file stores it: F64 doubles, or F32 floats.
std::string storedBytes(const TensorD &t, bool f64) {
  if (f64) return std::string(reinterpret_cast<const char *>(t.data.data()), t.data.size() * 8);
  std::vector<float> narrow(t.data.begin(), t.data.end());
  return std::string(reinterpret_cast<const char *>(narrow.data()), narrow.size() * 4);
}

std::string hashText(uint64_t hash) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, hash);
  return buf;
}

/// Checks every tensor against its "xxh3.NAME" metadata field (and that no field names a
/// tensor the file lacks); the error names the tensor.
Status checkHashes(const SafetensorsD &file, const std::string &path) {
  for (const auto &[name, t] : file.tensors) {
    auto it = file.metadata.find(kHashPrefix + name);
    if (it == file.metadata.end())
      return Error{path + ": tensor '" + name + "' has no hash (metadata \"" + kHashPrefix + name +
                   "\" is missing)"};
    auto dtype = file.dtypes.find(name);
    bool f64 = dtype != file.dtypes.end() && dtype->second == "F64";
    std::string actual = hashText(contentHash(storedBytes(t, f64)));
    if (it->second != actual)
      return Error{path + ": tensor '" + name + "' is corrupt: its bytes hash to " + actual +
                   " (XXH3-64), the checkpoint recorded " + quoted(it->second)};
  }
  for (auto it = file.metadata.lower_bound(kHashPrefix);
       it != file.metadata.end() && it->first.rfind(kHashPrefix, 0) == 0; ++it)
    if (!file.tensors.count(it->first.substr(std::strlen(kHashPrefix))))
      return Error{path + ": metadata \"" + it->first + "\" names a tensor the file does not hold"};
  return okStatus();
}

} // namespace

void addTensorHashes(SafetensorsMetadata &metadata, const TensorMapD &tensors, bool f64) {
  for (const auto &[name, t] : tensors)
    metadata[kHashPrefix + name] = hashText(contentHash(storedBytes(t, f64)));
}

bool holdsCheckpoints(const std::string &dir) {
  struct stat st;
  return !listCheckpoints(dir).empty() || ::lstat(joinPath(dir, "latest").c_str(), &st) == 0;
}

void pruneCheckpoints(const std::string &dir, int keep) {
  Result<std::string> latest = latestCheckpointPath(dir);
  if (!latest) return;
  int64_t le = 0, ls = 0;
  std::string latestName = latest->substr(latest->find_last_of('/') + 1);
  parseFileName(latestName, le, ls);
  std::vector<std::string> older;
  for (const std::string &f : listCheckpoints(dir)) {
    int64_t e = 0, st = 0;
    parseFileName(f, e, st);
    if (std::make_pair(e, st) < std::make_pair(le, ls)) older.push_back(f);
  }
  int64_t excess = int64_t(older.size()) - std::max(keep - 1, 0);
  for (int64_t i = 0; i < excess; ++i) std::remove(joinPath(dir, older[size_t(i)]).c_str());
}

Result<std::string> saveCheckpoint(const std::string &dir, const TensorMapD &tensors,
                                   const CheckpointInfo &info, bool f64, int keep) {
  if (Status s = createDirectories(dir); !s) return Error{s.error()};
  for (const std::string &name : listDir(dir))
    if (isStaleTemporary(name)) std::remove(joinPath(dir, name).c_str());

  std::string name = checkpointFileName(info.epoch, info.step);
  std::string path = joinPath(dir, name);
  SafetensorsMetadata metadata = checkpointMetadata(info);
  addTensorHashes(metadata, tensors, f64);
  Status written = okStatus();
  if (f64) {
    written = writeSafetensorsD(path, tensors, metadata);
  } else {
    TensorMap narrow;
    for (const auto &[tensor, t] : tensors) {
      Tensor &n = narrow[tensor];
      n.shape = t.shape;
      n.data.assign(t.data.begin(), t.data.end());
    }
    written = writeSafetensors(path, narrow, metadata);
  }
  if (!written) return Error{written.error()};
  if (Status s = writeFileAtomic(joinPath(dir, "latest"), name + "\n"); !s) return Error{s.error()};
  pruneCheckpoints(dir, keep);
  return path;
}

Result<std::string> latestCheckpointPath(const std::string &dir) {
  std::string pointer = joinPath(dir, "latest");
  Result<std::string> bytes = readFileBytes(pointer, kMaxPointerBytes, "checkpoint pointers");
  if (!bytes) return Error{"no checkpoint to load in '" + dir + "': " + bytes.error()};
  std::string name = *bytes;
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  int64_t e, s;
  if (!parseFileName(name, e, s))
    return Error{"'" + pointer + "' does not name a checkpoint file (it reads '" + name + "')"};
  return joinPath(dir, name);
}

Result<Checkpoint> checkpointFrom(SafetensorsD file, const std::string &path) {
  Result<CheckpointInfo> info = parseCheckpointMetadata(file.metadata, path);
  if (!info) return Error{info.error()};
  if (Status s = checkHashes(file, path); !s) return Error{s.error()};
  if (Status s = checkFinite(file.tensors, path); !s) return Error{s.error()};
  Checkpoint c;
  c.path = path;
  c.tensors = std::move(file.tensors);
  c.f64 = !file.dtypes.empty() && file.dtypes.begin()->second == "F64";
  c.info = info.take();
  return c;
}

Result<Checkpoint> readCheckpoint(const std::string &path) {
  Result<SafetensorsD> st = readSafetensorsD(path);
  if (!st) return Error{st.error()};
  return checkpointFrom(st.take(), path);
}

namespace {

/// The newest checkpoint file in `dir` that loads completely; `why` says why `latest` was
/// not followed and starts the note (or the error when no file loads).
Result<Checkpoint> newestComplete(const std::string &dir, const std::string &why) {
  std::vector<std::string> files = listCheckpoints(dir);
  if (files.empty())
    return Error{"no checkpoint to load in '" + dir + "': " + why +
                 " and there is no ckpt-epoch-*.safetensors file"};
  std::string failures;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    Result<Checkpoint> c = readCheckpoint(joinPath(dir, *it));
    if (c) {
      c->note = why + "; using the newest complete checkpoint '" + c->path + "'";
      return c;
    }
    failures += "\n  " + c.error().substr(0, c.error().find('\n'));
  }
  return Error{"no checkpoint to load in '" + dir + "': " + why +
               " and no checkpoint file loads:" + failures};
}

} // namespace

Result<Checkpoint> loadLatestCheckpoint(const std::string &dir) {
  std::string pointer = joinPath(dir, "latest");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    return Error{"no checkpoint to load in '" + dir + "': " + std::strerror(errno)};
  if (::lstat(pointer.c_str(), &st) != 0 && errno == ENOENT)
    return newestComplete(dir, "'" + pointer + "' is missing");
  Result<std::string> path = latestCheckpointPath(dir);
  if (!path) return Error{path.error()};
  if (::stat(path->c_str(), &st) != 0 && errno == ENOENT)
    return newestComplete(dir, "'" + pointer + "' names '" + *path + "', which does not exist");
  return readCheckpoint(*path);
}

std::map<std::string, std::vector<int64_t>> checkpointShapes(const Graph &g) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const std::vector<ValueId> *list : {&g.params, &g.states})
    for (ValueId v : *list) shapes[g[v].name] = g[v].type.dims;
  return shapes;
}

Status checkCheckpointTensors(const TensorMapD &tensors, const Graph &g, const std::string &what) {
  std::map<std::string, std::vector<int64_t>> actual;
  for (const auto &[name, t] : tensors) actual[name] = t.shape;
  return checkShapes(actual, checkpointShapes(g), what);
}

Status checkSameModel(const Checkpoint &c, const std::string &modelName,
                      const std::string &modelHash, const std::string &modelFile) {
  if (c.info.modelHash == modelHash) return okStatus();
  return Error{"checkpoint '" + c.path + "' was written by model '" + c.info.modelName +
               "' (graph " + c.info.modelHash + "), not by model '" + modelName + "' of '" +
               modelFile + "' (graph " + modelHash +
               "): its layers, shapes or parameter names differ; start a new run with --new "
               "(or another --checkpoint directory)"};
}

} // namespace nnc
