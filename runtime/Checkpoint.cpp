// Checkpoint files and the `latest` pointer. Saving: write the safetensors file atomically,
// then the pointer atomically, then prune; a reader follows the pointer, so it only ever sees
// a file whose write (and directory entry) was synced before the pointer named it. Leftover
// temporaries of killed writers (".ckpt-*.tmp-*", ".latest.tmp-*") are removed on save.
// Doubles in the metadata are stored as C99 hex floats so a resumed run restores them exactly.
#include "runtime/Checkpoint.h"

#include "runtime/FileUtil.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>
#include <tuple>

namespace nnc {

namespace {

constexpr const char *kFormat = "nnc-checkpoint-1";
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

Status makeDirs(const std::string &dir) {
  std::string cur;
  size_t i = 0;
  while (i <= dir.size()) {
    size_t slash = dir.find('/', i);
    if (slash == std::string::npos) slash = dir.size();
    cur = dir.substr(0, slash);
    i = slash + 1;
    if (cur.empty()) continue;
    struct stat st;
    if (::stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return Error{"cannot create checkpoint directory '" + dir + "': '" + cur +
                     "' is not a directory"};
      continue;
    }
    if (::mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
      return Error{"cannot create checkpoint directory '" + dir + "': " + std::strerror(errno)};
  }
  return okStatus();
}

} // namespace

std::string sourceHash(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "fnv1a64:%016" PRIx64, h);
  return buf;
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
  return m;
}

Result<CheckpointInfo> parseCheckpointMetadata(const SafetensorsMetadata &m,
                                               const std::string &what) {
  auto get = [&](const char *key, std::string &out) -> bool {
    auto it = m.find(key);
    if (it == m.end()) return false;
    out = it->second;
    return true;
  };
  std::string format;
  if (!get("format", format) || format != kFormat)
    return Error{what + ": not an nnc training checkpoint (metadata \"format\" is not \"" +
                 kFormat + "\")"};
  CheckpointInfo info;
  std::string missing;
  auto text = [&](const char *key, std::string &out) {
    if (!get(key, out)) missing += std::string(missing.empty() ? "" : ", ") + key;
  };
  auto integer = [&](const char *key, auto &out) {
    std::string s;
    text(key, s);
    if (s.empty()) return;
    errno = 0;
    char *end = nullptr;
    unsigned long long u = std::strtoull(s.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == '-')
      missing += std::string(missing.empty() ? "" : ", ") + key + " (not a number)";
    else
      out = static_cast<std::remove_reference_t<decltype(out)>>(u);
  };
  text("model", info.modelName);
  text("model_hash", info.modelHash);
  text("optimizer", info.optimizer);
  text("rng", info.rngState);
  text("history", info.history);
  integer("epoch", info.epoch);
  integer("step", info.step);
  integer("global_step", info.globalStep);
  integer("seed", info.seed);
  integer("batch", info.batch);
  integer("partial_count", info.partialCount);
  std::string sum;
  text("partial_loss_sum", sum);
  if (!sum.empty()) {
    char *end = nullptr;
    info.partialLossSum = std::strtod(sum.c_str(), &end);
    if (*end != '\0') missing += std::string(missing.empty() ? "" : ", ") + "partial_loss_sum";
  }
  if (!missing.empty()) return Error{what + ": bad or missing checkpoint metadata: " + missing};
  return info;
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

Result<std::string> saveCheckpoint(const std::string &dir, const TensorMapD &tensors,
                                   const CheckpointInfo &info, bool f64, int keep) {
  if (Status s = makeDirs(dir); !s) return Error{s.error()};
  for (const std::string &name : listDir(dir))
    if (isStaleTemporary(name)) std::remove(joinPath(dir, name).c_str());

  std::string name = checkpointFileName(info.epoch, info.step);
  std::string path = joinPath(dir, name);
  // Removes checkpoints after this one and all but the newest `limit` before it (never the
  // one `latest` names: it is the newest before this one until the pointer moves).
  auto prune = [&](int64_t limit) {
    std::vector<std::string> older;
    for (const std::string &f : listCheckpoints(dir)) {
      int64_t e, st;
      parseFileName(f, e, st);
      if (f == name) continue;
      if (std::make_pair(e, st) > std::make_pair(info.epoch, info.step))
        std::remove(joinPath(dir, f).c_str());
      else
        older.push_back(f);
    }
    int64_t excess = int64_t(older.size()) - limit;
    for (int64_t i = 0; i < excess; ++i) std::remove(joinPath(dir, older[size_t(i)]).c_str());
  };
  // Pruning before the write too bounds the files left by runs killed before their last prune.
  prune(std::max(keep - 1, 1));
  Status written = okStatus();
  if (f64) {
    written = writeSafetensorsD(path, tensors, checkpointMetadata(info));
  } else {
    TensorMap narrow;
    for (const auto &[name, t] : tensors) {
      Tensor &n = narrow[name];
      n.shape = t.shape;
      n.data.assign(t.data.begin(), t.data.end());
    }
    written = writeSafetensors(path, narrow, checkpointMetadata(info));
  }
  if (!written) return Error{written.error()};
  if (Status s = writeFileAtomic(joinPath(dir, "latest"), name + "\n"); !s) return Error{s.error()};
  prune(std::max(keep - 1, 0));
  return path;
}

Result<std::string> latestCheckpointPath(const std::string &dir) {
  std::string pointer = joinPath(dir, "latest");
  Result<std::string> bytes = readFileBytes(pointer, kMaxPointerBytes, "checkpoint pointers");
  if (!bytes) return Error{"no checkpoint to resume from in '" + dir + "': " + bytes.error()};
  std::string name = *bytes;
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  int64_t e, s;
  if (!parseFileName(name, e, s))
    return Error{"'" + pointer + "' does not name a checkpoint file (it reads '" + name + "')"};
  return joinPath(dir, name);
}

Result<Checkpoint> readCheckpoint(const std::string &path) {
  Result<SafetensorsD> st = readSafetensorsD(path);
  if (!st) return Error{st.error()};
  Result<CheckpointInfo> info = parseCheckpointMetadata(st->metadata, path);
  if (!info) return Error{info.error()};
  Checkpoint c;
  c.path = path;
  c.tensors = std::move(st->tensors);
  c.f64 = !st->dtypes.empty() && st->dtypes.begin()->second == "F64";
  c.info = info.take();
  return c;
}

Result<Checkpoint> loadLatestCheckpoint(const std::string &dir) {
  Result<std::string> path = latestCheckpointPath(dir);
  if (!path) return Error{path.error()};
  return readCheckpoint(*path);
}

Status checkSameModel(const Checkpoint &c, const std::string &modelName,
                      const std::string &modelHash, const std::string &modelFile) {
  if (c.info.modelHash == modelHash) return okStatus();
  return Error{"checkpoint '" + c.path + "' was written by model '" + c.info.modelName +
               "' (source " + c.info.modelHash + "), not by model '" + modelName + "' of '" +
               modelFile + "' (source " + modelHash +
               "); use another --checkpoint directory or drop --resume"};
}

} // namespace nnc
