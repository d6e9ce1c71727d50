// The lookup of full MNIST, in order, stopping at the first place that has it:
//   1. $NNC_DATA/mnist: the four IDX files, as a user put them there;
//   2. Keras's cache: $KERAS_HOME/datasets/mnist.npz, then ~/.keras/datasets/mnist.npz;
//   3. nnc's cache: $XDG_CACHE_HOME/nnc/mnist (an absolute $XDG_CACHE_HOME), else
//   ~/.cache/nnc/mnist;
//   4. unless NNC_OFFLINE=1: the four IDX .gz files downloaded into nnc's cache from
//      $NNC_MNIST_MIRROR (default kDefaultMnistMirror), each verified by SHA-256 before it is
//      renamed into place (runtime/Download.h), under an advisory lock on the cache directory;
//   5. the bundled subset (the dataset "mnist-10k"), with one line on the log naming the places
//      of steps 1-3 and why step 4 did not happen or failed.
// A place that has the data but cannot be read (a corrupt file) is an error, not a reason to look
// further: it names the file, and the user decides.
#include "runtime/Mnist.h"

#include "runtime/Download.h"
#include "runtime/Npz.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <optional>
#include <sys/file.h>
#include <unistd.h>
#include <vector>

namespace nnc {

const MnistFile kMnistFiles[4] = {
    {"train-images-idx3-ubyte.gz",
     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422},
    {"train-labels-idx1-ubyte.gz",
     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881},
    {"t10k-images-idx3-ubyte.gz",
     "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877},
    {"t10k-labels-idx1-ubyte.gz",
     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542},
};

namespace {

namespace fs = std::filesystem;

std::optional<std::string> env(const char *name) {
  const char *v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::string shapeOf(const NpyArray &a) {
  std::string s = "(";
  for (size_t i = 0; i < a.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(a.shape[i]);
  return s + (a.shape.size() == 1 ? ",)" : ")");
}

/// Images `x` (count, rows, cols) and labels `y` (count,) of one split of mnist.npz.
Result<Dataset> splitOf(const std::string &path, NpyArray &x, NpyArray &y, const std::string &xName,
                        const std::string &yName) {
  std::string at = path + ", member ";
  if (x.shape.size() != 3 || x.shape[0] == 0 || x.shape[1] == 0 || x.shape[2] == 0)
    return Error{at + xName + ": shape " + shapeOf(x) + " is not (count, rows, cols)"};
  if (x.shape[1] > kMaxIdxSide || x.shape[2] > kMaxIdxSide)
    return Error{at + xName + ": images of " + std::to_string(x.shape[1]) + "x" +
                 std::to_string(x.shape[2]) + " exceed the limit of " +
                 std::to_string(kMaxIdxSide) + "x" + std::to_string(kMaxIdxSide)};
  if (y.shape.size() != 1 || y.shape[0] != x.shape[0])
    return Error{at + yName + ": shape " + shapeOf(y) + ", but " + xName + " holds " +
                 std::to_string(x.shape[0]) + " images: expected (" + std::to_string(x.shape[0]) +
                 ",)"};
  for (size_t i = 0; i < y.data.size(); ++i)
    if (y.data[i] > 9)
      return Error{at + yName + ": label " + std::to_string(y.data[i]) + " of sample " +
                   std::to_string(i) + " is outside 0..9"};
  Dataset d;
  d.count = x.shape[0];
  d.rows = x.shape[1];
  d.cols = x.shape[2];
  d.pixels = std::move(x.data);
  d.labels = std::move(y.data);
  return d;
}

/// Keras's mnist.npz files: $KERAS_HOME's, then ~/.keras's.
std::vector<std::string> kerasPaths() {
  std::vector<std::string> out;
  if (std::optional<std::string> k = env("KERAS_HOME"))
    out.push_back((fs::path(*k) / "datasets" / "mnist.npz").string());
  if (std::optional<std::string> h = env("HOME")) {
    std::string p = (fs::path(*h) / ".keras" / "datasets" / "mnist.npz").string();
    if (out.empty() || out[0] != p) out.push_back(p);
  }
  return out;
}

/// nnc's cache directory for MNIST, if $XDG_CACHE_HOME or $HOME says where it is.
std::optional<std::string> cacheDir() {
  std::optional<std::string> xdg = env("XDG_CACHE_HOME");
  if (xdg && fs::path(*xdg).is_absolute()) return (fs::path(*xdg) / "nnc" / "mnist").string();
  if (std::optional<std::string> h = env("HOME"))
    return (fs::path(*h) / ".cache" / "nnc" / "mnist").string();
  return std::nullopt;
}

/// The expected SHA-256 of each file: the published table, overridden by $NNC_MNIST_SHA256
/// ("name=hex,name=hex"), which also makes the overridden file's size unknown.
Result<std::vector<MnistFile>> expectedFiles(std::vector<std::string> &storage) {
  std::vector<MnistFile> files(std::begin(kMnistFiles), std::end(kMnistFiles));
  std::optional<std::string> spec = env("NNC_MNIST_SHA256");
  if (!spec) return files;
  storage.reserve(4);
  for (size_t start = 0; start <= spec->size();) {
    size_t end = std::min(spec->find(',', start), spec->size());
    std::string item = spec->substr(start, end - start);
    start = end + 1;
    size_t eq = item.find('=');
    std::string name = item.substr(0, eq), hex = eq == std::string::npos ? "" : item.substr(eq + 1);
    auto f = std::find_if(files.begin(), files.end(),
                          [&](const MnistFile &m) { return m.name == name; });
    if (f == files.end())
      return Error{"NNC_MNIST_SHA256: '" + name + "' is not one of the MNIST files " +
                   "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                   "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"};
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
      return Error{"NNC_MNIST_SHA256: the hash of " + name + " is not 64 lowercase hex digits: '" +
                   hex + "'"};
    if (storage.size() == 4) return Error{"NNC_MNIST_SHA256: more than four entries"};
    storage.push_back(hex);
    f->sha256 = storage.back().c_str();
    f->size = 0;
  }
  return files;
}

/// Holds an advisory lock on a directory's ".lock" file while downloading into it.
class DirLock {
public:
  explicit DirLock(const std::string &dir) {
    fd_ = ::open((fs::path(dir) / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    locked_ = fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
  }
  DirLock(const DirLock &) = delete;
  DirLock &operator=(const DirLock &) = delete;
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool locked() const { return locked_; }

private:
  int fd_ = -1;
  bool locked_ = false;
};

/// Downloads the MNIST files missing from `dir` (created), each verified before it is kept.
Status downloadInto(const std::string &dir, std::FILE *log) {
  std::vector<std::string> storage;
  Result<std::vector<MnistFile>> files = expectedFiles(storage);
  if (!files) return Error{files.error()};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error{"cannot create '" + dir + "': " + ec.message()};
  DirLock lock(dir);
  if (!lock.locked()) return Error{"another nnc is downloading into " + dir};
  std::string mirror = env("NNC_MNIST_MIRROR").value_or(kDefaultMnistMirror);
  if (mirror.back() != '/') mirror += '/';
  for (const MnistFile &f : *files) {
    std::string path = (fs::path(dir) / f.name).string();
    if (fs::is_regular_file(path, ec)) continue;
    DownloadSpec spec{mirror + f.name, path, f.sha256, f.size};
    if (Status s = downloadVerified(spec, log); !s) return s;
  }
  return okStatus();
}

std::string joinPlaces(const std::vector<std::string> &places) {
  std::string out;
  for (size_t i = 0; i < places.size(); ++i)
    out += (i == 0 ? "" : i + 1 == places.size() ? " or " : ", ") + places[i];
  return out;
}

} // namespace

Result<DataSplit> readKerasMnist(const std::string &path) {
  Result<std::map<std::string, NpyArray>> arrays =
      readNpzFile(path, {"x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"});
  if (!arrays) return Error{arrays.error()};
  std::map<std::string, NpyArray> &a = *arrays;
  Result<Dataset> train =
      splitOf(path, a["x_train.npy"], a["y_train.npy"], "x_train.npy", "y_train.npy");
  if (!train) return Error{train.error()};
  Result<Dataset> test =
      splitOf(path, a["x_test.npy"], a["y_test.npy"], "x_test.npy", "y_test.npy");
  if (!test) return Error{test.error()};
  return makeSplit(train.take(), test.take(), path, "mnist from Keras's cache " + path);
}

Result<DataSplit> loadFullMnist(std::FILE *log) {
  std::vector<std::string> looked;
  std::string why;
  if (std::optional<std::string> data = env("NNC_DATA")) {
    std::string dir = (fs::path(*data) / "mnist").string();
    if (std::optional<IdxSplitFiles> files = findIdxSplit(dir, why))
      return readIdxSplit(*files, dir, "mnist from $NNC_DATA/mnist");
    looked.push_back(dir);
  } else {
    looked.push_back("$NNC_DATA/mnist ($NNC_DATA is not set)");
  }
  std::error_code ec;
  for (const std::string &npz : kerasPaths()) {
    if (fs::exists(npz, ec)) return readKerasMnist(npz);
    looked.push_back(npz);
  }
  std::optional<std::string> cache = cacheDir();
  std::string failed;
  if (cache) {
    if (std::optional<IdxSplitFiles> files = findIdxSplit(*cache, why))
      return readIdxSplit(*files, *cache, "mnist from nnc's cache " + *cache);
    looked.push_back(*cache);
    if (env("NNC_OFFLINE").value_or("") == "1") {
      failed = "NNC_OFFLINE=1, so nothing was downloaded";
    } else if (Status s = downloadInto(*cache, log); !s) {
      failed = "the download failed: " + s.error();
    } else {
      std::optional<IdxSplitFiles> files = findIdxSplit(*cache, why);
      if (!files) return Error{*cache + ": after the download: " + why};
      return readIdxSplit(*files, *cache, "mnist, downloaded into " + *cache);
    }
  } else {
    failed = "neither $XDG_CACHE_HOME nor $HOME is set, so there is no cache to download into";
  }
  Result<DataSplit> bundled = loadDataset("mnist-10k", log);
  if (!bundled)
    return Error{"cannot find MNIST: not in " + joinPlaces(looked) + "; " + failed + "\n" +
                 bundled.error()};
  std::fprintf(log, "nnc: full MNIST is not in %s; %s: using the bundled 10k subset in %s\n",
               joinPlaces(looked).c_str(), failed.c_str(), bundled->dir.c_str());
  return bundled;
}

} // namespace nnc
