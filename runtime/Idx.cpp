// IDX (MNIST) reading. Files are read whole; gzip data (magic 1f 8b) is inflated with zlib,
// member after member, with a size cap against decompression bombs. The big-endian header
// is validated (magic, dimensions) and the payload must have exactly the size the header
// promises. Datasets are looked up by directory or by name in a fixed list of places, and
// a miss reports every place that was tried.
#include "runtime/Idx.h"

#include "runtime/FileUtil.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <system_error>

namespace nnc {

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMaxDecompressed = 1ull << 30;
constexpr uint32_t kImageMagic = 0x803, kLabelMagic = 0x801;
constexpr uint32_t kMaxSide = 4096;

std::string_view view(const std::vector<uint8_t> &v) {
  return {reinterpret_cast<const char *>(v.data()), v.size()};
}

uint32_t loadBE32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

bool endsWith(const std::string &s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool isGzip(std::string_view b) {
  return b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0x1f &&
         static_cast<unsigned char>(b[1]) == 0x8b;
}

/// Checks the magic number and header length shared by image and label files.
std::optional<std::string> checkHeader(std::string_view bytes, const std::string &name,
                                       uint32_t magic, size_t headerSize, const char *kind) {
  if (bytes.empty()) return name + ": file is empty";
  std::string expect =
      std::string("an IDX ") + kind + " header is " + std::to_string(headerSize) + " bytes";
  if (bytes.size() < 4)
    return name + ": truncated header: the file is " + std::to_string(bytes.size()) + " bytes, " +
           expect;
  uint32_t m = loadBE32(bytes, 0);
  if (m != magic) {
    std::string msg = name + ": bad magic number " + hex32(m) + " (expected " + hex32(magic) +
                      " for an IDX " + kind + " file)";
    if (m == kImageMagic) msg += "; this is an image file";
    if (m == kLabelMagic) msg += "; this is a label file";
    return msg;
  }
  if (bytes.size() < headerSize)
    return name + ": truncated header: the file is " + std::to_string(bytes.size()) + " bytes, " +
           expect;
  return std::nullopt;
}

/// Checks that exactly `expected` payload bytes follow the header.
std::optional<std::string> checkPayload(std::string_view bytes, const std::string &name,
                                        size_t headerSize, uint64_t expected,
                                        const std::string &what) {
  uint64_t actual = bytes.size() - headerSize;
  if (actual < expected)
    return name + ": truncated data: the header promises " + what + " (" +
           std::to_string(expected) + " bytes) but only " + std::to_string(actual) +
           " bytes follow";
  if (actual > expected)
    return name + ": " + std::to_string(actual - expected) + " trailing bytes after the " + what;
  return std::nullopt;
}

/// The four files of a split directory, or why they are not all there.
struct SplitFiles {
  std::string trainImages, trainLabels, testImages, testLabels;
};

std::optional<std::string> findFile(const fs::path &dir, const std::string &stem) {
  std::error_code ec;
  for (const std::string &n : {stem, stem + ".gz"})
    if (fs::is_regular_file(dir / n, ec)) return (dir / n).string();
  return std::nullopt;
}

/// Finds the four IDX files in `dir`; on a miss `why` says what is absent.
std::optional<SplitFiles> findSplitFiles(const fs::path &dir, std::string &why) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    why = fs::exists(dir, ec) ? "not a directory" : "no such directory";
    return std::nullopt;
  }
  static const char *stems[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  std::string found[4];
  std::string missing;
  for (int i = 0; i < 4; ++i) {
    if (std::optional<std::string> f = findFile(dir, stems[i]))
      found[i] = *f;
    else
      missing += std::string(missing.empty() ? "" : ", ") + stems[i] + "[.gz]";
  }
  if (!missing.empty()) {
    why = "missing " + missing;
    return std::nullopt;
  }
  return SplitFiles{found[0], found[1], found[2], found[3]};
}

Result<DataSplit> loadSplit(const SplitFiles &f, const std::string &dir,
                            const std::string &description) {
  DataSplit s;
  Result<Dataset> train = readIdxDataset(f.trainImages, f.trainLabels);
  if (!train) return Error{train.error()};
  Result<Dataset> test = readIdxDataset(f.testImages, f.testLabels);
  if (!test) return Error{test.error()};
  if (train->rows != test->rows || train->cols != test->cols)
    return Error{dir + ": the train images are " + std::to_string(train->rows) + "x" +
                 std::to_string(train->cols) + " but the test images are " +
                 std::to_string(test->rows) + "x" + std::to_string(test->cols)};
  s.train = train.take();
  s.test = test.take();
  s.dir = dir;
  s.description = description + " (" + std::to_string(s.train.count) + " train / " +
                  std::to_string(s.test.count) + " test, " + std::to_string(s.train.rows) + "x" +
                  std::to_string(s.train.cols) + ")";
  return s;
}

/// The directory of the running executable, if /proc tells us.
std::optional<fs::path> exeDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return std::nullopt;
  return exe.parent_path();
}

/// A place to look for a dataset: a directory, or a reason it could not be formed.
struct Place {
  std::string label;
  std::optional<fs::path> dir;
  std::string description;
};

Result<DataSplit> searchPlaces(const std::string &name, const std::vector<Place> &places,
                               const std::string &howToGet) {
  std::string searched;
  std::vector<std::string> seen;
  for (const Place &p : places) {
    if (!p.dir) {
      searched += "\n  " + p.label;
      continue;
    }
    std::error_code ec;
    fs::path norm = fs::weakly_canonical(*p.dir, ec);
    std::string key = ec ? p.dir->lexically_normal().string() : norm.string();
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    std::string why;
    if (std::optional<SplitFiles> files = findSplitFiles(*p.dir, why))
      return loadSplit(*files, p.dir->string(), p.description);
    searched += "\n  " + p.label + (p.label.empty() ? "" : " = ") + p.dir->string() + ": " + why;
  }
  return Error{"cannot find the dataset '" + name + "'; searched:" + searched + "\n" + howToGet};
}

} // namespace

Result<std::vector<uint8_t>> decompressIfGzip(std::string_view bytes, const std::string &name) {
  if (!isGzip(bytes)) {
    if (endsWith(name, ".gz"))
      return Error{name + ": not a gzip file (it does not start with the gzip magic bytes 1f 8b)"};
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  }
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return Error{name + ": cannot start zlib"};
  std::vector<uint8_t> out;
  // The gzip trailer ends with the (last member's) size mod 2^32: reserving it (plus the
  // chunk below) saves growing by doubling, which would hold up to 3x the data at once.
  if (bytes.size() >= 18) {
    uint64_t size = uint8_t(bytes[bytes.size() - 4]) | uint8_t(bytes[bytes.size() - 3]) << 8 |
                    uint8_t(bytes[bytes.size() - 2]) << 16 |
                    uint64_t(uint8_t(bytes[bytes.size() - 1])) << 24;
    // Deflate expands at most 1032:1, so a hostile trailer cannot reserve much more.
    out.reserve(std::min({size, uint64_t(bytes.size()) * 1032, kMaxDecompressed}) + (1 << 16));
  }
  const auto *base = reinterpret_cast<const Bytef *>(bytes.data());
  size_t fed = 0;
  auto feed = [&] {
    size_t n = std::min<size_t>(bytes.size() - fed, UINT_MAX / 2);
    zs.next_in = const_cast<Bytef *>(base + fed);
    zs.avail_in = static_cast<uInt>(n);
    fed += n;
  };
  feed();
  std::string error;
  for (;;) {
    if (zs.avail_in == 0 && fed < bytes.size()) feed();
    size_t old = out.size();
    out.resize(old + (1 << 16));
    zs.next_out = reinterpret_cast<Bytef *>(out.data() + old);
    zs.avail_out = 1 << 16;
    int rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(old + (1 << 16) - zs.avail_out);
    if (out.size() > kMaxDecompressed) {
      error = name + ": decompresses to more than 1 GiB; refusing to read it";
      break;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_STREAM_END) {
      size_t consumed = static_cast<size_t>(zs.next_in - base);
      if (consumed == bytes.size()) break;
      if (!isGzip(bytes.substr(consumed))) {
        error = name + ": " + std::to_string(bytes.size() - consumed) +
                " bytes of trailing garbage after the gzip data";
        break;
      }
      inflateReset(&zs);
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && fed == bytes.size()) {
      error = name + ": truncated gzip data (unexpected end of file)";
      break;
    }
    if (rc == Z_BUF_ERROR) continue;
    error = name + ": corrupt gzip data" + (zs.msg ? std::string(": ") + zs.msg : std::string());
    break;
  }
  inflateEnd(&zs);
  if (!error.empty()) return Error{error};
  return out;
}

Result<std::vector<uint8_t>> readMaybeGzip(const std::string &path) {
  Result<std::string> bytes = readFileBytes(path);
  if (!bytes) return Error{bytes.error()};
  return decompressIfGzip(*bytes, path);
}

Result<IdxImages> parseIdxImages(std::vector<uint8_t> data, const std::string &name) {
  std::string_view bytes = view(data);
  if (std::optional<std::string> err = checkHeader(bytes, name, kImageMagic, 16, "image"))
    return Error{*err};
  IdxImages img;
  img.count = loadBE32(bytes, 4);
  img.rows = loadBE32(bytes, 8);
  img.cols = loadBE32(bytes, 12);
  std::string size = std::to_string(img.rows) + "x" + std::to_string(img.cols);
  if (img.count == 0) return Error{name + ": the header says the file holds 0 images"};
  if (img.rows == 0 || img.cols == 0)
    return Error{name + ": invalid image size " + size + " (rows and columns must be positive)"};
  if (img.rows > kMaxSide || img.cols > kMaxSide)
    return Error{name + ": image size " + size + " exceeds the limit of " +
                 std::to_string(kMaxSide) + "x" + std::to_string(kMaxSide)};
  uint64_t expected = static_cast<uint64_t>(img.count) * img.rows * img.cols;
  if (std::optional<std::string> err =
          checkPayload(bytes, name, 16, expected, std::to_string(img.count) + " images of " + size))
    return Error{*err};
  data.erase(data.begin(), data.begin() + 16);
  img.pixels = std::move(data);
  return img;
}

Result<std::vector<uint8_t>> parseIdxLabels(std::string_view bytes, const std::string &name) {
  if (std::optional<std::string> err = checkHeader(bytes, name, kLabelMagic, 8, "label"))
    return Error{*err};
  uint32_t count = loadBE32(bytes, 4);
  if (count == 0) return Error{name + ": the header says the file holds 0 labels"};
  if (std::optional<std::string> err =
          checkPayload(bytes, name, 8, count, std::to_string(count) + " labels"))
    return Error{*err};
  std::vector<uint8_t> labels(bytes.begin() + 8, bytes.end());
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] > 9)
      return Error{name + ": label " + std::to_string(labels[i]) + " of sample " +
                   std::to_string(i) + " is outside 0..9"};
  return labels;
}

Result<Dataset> readIdxDataset(const std::string &imagesPath, const std::string &labelsPath) {
  Result<std::vector<uint8_t>> ib = readMaybeGzip(imagesPath);
  if (!ib) return Error{ib.error()};
  Result<IdxImages> images = parseIdxImages(ib.take(), imagesPath);
  if (!images) return Error{images.error()};
  Result<std::vector<uint8_t>> lb = readMaybeGzip(labelsPath);
  if (!lb) return Error{lb.error()};
  Result<std::vector<uint8_t>> labels = parseIdxLabels(view(*lb), labelsPath);
  if (!labels) return Error{labels.error()};
  if (labels->size() != static_cast<size_t>(images->count))
    return Error{imagesPath + " holds " + std::to_string(images->count) + " images but " +
                 labelsPath + " holds " + std::to_string(labels->size()) + " labels"};
  Dataset d;
  d.count = images->count;
  d.rows = images->rows;
  d.cols = images->cols;
  d.pixels = std::move(images->pixels);
  d.labels = labels.take();
  return d;
}

Result<DataSplit> loadDataset(const std::string &nameOrDir) {
  const char *env = std::getenv("NNC_DATA");
  std::optional<fs::path> data;
  if (env && *env) data = fs::path(env);
  auto fromEnv = [&](const std::string &sub, const std::string &description) {
    if (!data) return Place{"$NNC_DATA" + sub + ": $NNC_DATA is not set", std::nullopt, ""};
    return Place{"$NNC_DATA" + sub, sub.empty() ? *data : *data / sub.substr(1), description};
  };

  if (nameOrDir == "mnist") {
    std::vector<Place> places = {fromEnv("/mnist", "mnist from $NNC_DATA/mnist"),
                                 fromEnv("", "mnist from $NNC_DATA")};
    const std::string bundled = "mnist, bundled 10k subset";
#ifdef NNC_DATA_DIR
    places.push_back({"bundled", fs::path(NNC_DATA_DIR) / "mnist-10k", bundled});
#endif
    if (std::optional<fs::path> exe = exeDir()) {
      for (const char *rel : {"../data", "../../data", "data", "../share/nnc/data"})
        places.push_back({"bundled", *exe / rel / "mnist-10k", bundled});
    }
    return searchPlaces(
        nameOrDir, places,
        "to get it: put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (the MNIST files, from any "
        "MNIST mirror) into $NNC_DATA/mnist, or pass the directory holding them");
  }
  if (nameOrDir == "fashion-mnist") {
    std::vector<Place> places = {
        fromEnv("/fashion-mnist", "fashion-mnist from $NNC_DATA/fashion-mnist"),
        {"", fs::path("/usr/share/datasets/fashion-mnist"), "fashion-mnist"}};
    return searchPlaces(nameOrDir, places,
                        "to get it: apt-get install dataset-fashion-mnist, or put the four "
                        "Fashion-MNIST IDX files into $NNC_DATA/fashion-mnist");
  }
  std::error_code ec;
  if (!fs::exists(nameOrDir, ec))
    return Error{"unknown dataset '" + nameOrDir +
                 "': no such directory, and not one of the names mnist, fashion-mnist"};
  std::string why;
  std::optional<SplitFiles> files = findSplitFiles(nameOrDir, why);
  if (!files) return Error{"cannot load a dataset from '" + nameOrDir + "': " + why};
  return loadSplit(*files, nameOrDir, nameOrDir);
}

} // namespace nnc
