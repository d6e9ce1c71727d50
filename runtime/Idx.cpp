// IDX (MNIST) reading. The header is read first and validated (magic, dimensions, the
// limits of Idx.h); a raw file must then have exactly the size the header promises, checked
// against the file size before the payload buffer is allocated and filled in one read. Gzip
// data (magic 1f 8b) is inflated as a stream, member after member, into a buffer reserved
// from the header's promise (capped by deflate's 1032:1 ratio, so a small file cannot reserve
// much), and must inflate to exactly the promised size. Datasets are looked up by directory (IDX
// files, else PNG class folders: ImageFolder.cpp) or by name in a fixed list of places (full
// MNIST: Mnist.cpp), and a miss reports every place that was tried.
#include "runtime/Idx.h"

#include "runtime/ImageFolder.h"
#include "runtime/Mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <optional>
#include <system_error>

namespace nnc {

namespace {

namespace fs = std::filesystem;

constexpr uint32_t kImageMagic = 0x803, kLabelMagic = 0x801;
/// Bytes of compressed input handed to zlib at a time.
constexpr size_t kInflateChunk = 256 << 10;
/// Trailing data after a gzip payload is counted up to this many bytes.
constexpr uint64_t kTrailingCountLimit = 1 << 20;

uint32_t loadBE32(const uint8_t *b) {
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
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

/// True when `src` holds the gzip magic bytes 1f 8b at `offset`.
bool isGzipAt(const ByteSource &src, uint64_t offset) {
  uint8_t m[2];
  return src.size() >= 2 && offset <= src.size() - 2 && src.read(offset, m, 2).ok() &&
         m[0] == 0x1f && m[1] == 0x8b;
}

/// The decompressed bytes of an IDX file, in order: read straight from the source, or
/// inflated from its gzip members as they are asked for.
class IdxStream {
public:
  IdxStream(const ByteSource &src, bool gzip) : src_(src), gzip_(gzip) {}
  IdxStream(const IdxStream &) = delete;
  IdxStream &operator=(const IdxStream &) = delete;
  ~IdxStream() {
    if (started_) inflateEnd(&zs_);
  }

  bool gzip() const { return gzip_; }

  /// Reads up to `n` bytes into `dst`; 0 only at the end of the data.
  Result<size_t> read(uint8_t *dst, size_t n) {
    if (!gzip_) {
      size_t k = size_t(std::min<uint64_t>(n, src_.size() - pos_));
      if (Status s = src_.read(pos_, dst, k); !s) return Error{s.error()};
      pos_ += k;
      return k;
    }
    return inflateInto(dst, n);
  }

  /// The most bytes the data can hold: the file size when raw; when gzip, what deflate can
  /// expand the file to (at most 1032:1), so a small file cannot reserve much memory.
  uint64_t maxSize() const { return gzip_ ? src_.size() * 1032 : src_.size(); }

private:
  Result<size_t> inflateInto(uint8_t *dst, size_t n) {
    const std::string &name = src_.name();
    if (!started_) {
      if (inflateInit2(&zs_, 15 + 16) != Z_OK) return Error{name + ": cannot start zlib"};
      started_ = true;
    }
    n = std::min<size_t>(n, 1u << 30);
    zs_.next_out = dst;
    zs_.avail_out = static_cast<uInt>(n);
    while (zs_.avail_out > 0 && !ended_) {
      if (zs_.avail_in == 0 && pos_ < src_.size()) {
        if (in_.empty()) in_.resize(size_t(std::min<uint64_t>(kInflateChunk, src_.size())));
        size_t k = size_t(std::min<uint64_t>(in_.size(), src_.size() - pos_));
        if (Status s = src_.read(pos_, in_.data(), k); !s) return Error{s.error()};
        pos_ += k;
        zs_.next_in = in_.data();
        zs_.avail_in = static_cast<uInt>(k);
      }
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_OK) continue;
      if (rc == Z_STREAM_END) {
        uint64_t consumed = pos_ - zs_.avail_in;
        if (consumed == src_.size()) {
          ended_ = true;
          break;
        }
        if (!isGzipAt(src_, consumed))
          return Error{name + ": " + std::to_string(src_.size() - consumed) +
                       " bytes of trailing garbage after the gzip data"};
        inflateReset(&zs_);
        continue;
      }
      if (rc == Z_BUF_ERROR && zs_.avail_in == 0 && pos_ == src_.size())
        return Error{name + ": truncated gzip data (unexpected end of file)"};
      if (rc == Z_BUF_ERROR) continue;
      return Error{name + ": corrupt gzip data" +
                   (zs_.msg ? std::string(": ") + zs_.msg : std::string())};
    }
    return n - zs_.avail_out;
  }

  const ByteSource &src_;
  bool gzip_;
  uint64_t pos_ = 0; // source bytes consumed (raw) or handed to zlib (gzip)
  z_stream zs_{};
  bool started_ = false, ended_ = false;
  std::vector<uint8_t> in_;
};

/// Reads as many bytes as `n` or up to the end of the data; returns how many were read.
Result<size_t> readFull(IdxStream &in, uint8_t *dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    Result<size_t> k = in.read(dst + done, n - done);
    if (!k) return Error{k.error()};
    if (*k == 0) break;
    done += *k;
  }
  return done;
}

/// What an IDX header promises: the payload size and its description ("3 images of 28x28").
struct Promise {
  uint64_t bytes = 0;
  std::string what;
};

/// The header of one kind of IDX file.
struct IdxKind {
  uint32_t magic;
  size_t headerSize;
  const char *kind; // "image" or "label"
};

constexpr IdxKind kImages{kImageMagic, 16, "image"}, kLabels{kLabelMagic, 8, "label"};

/// Checks the magic number and header length shared by image and label files.
std::optional<std::string> checkHeader(const uint8_t *h, size_t got, const std::string &name,
                                       const IdxKind &k) {
  if (got == 0) return name + ": file is empty";
  std::string truncated = name + ": truncated header: the file is " + std::to_string(got) +
                          " bytes, an IDX " + k.kind + " header is " +
                          std::to_string(k.headerSize) + " bytes";
  if (got < 4) return truncated;
  uint32_t m = loadBE32(h);
  if (m != k.magic) {
    std::string msg = name + ": bad magic number " + hex32(m) + " (expected " + hex32(k.magic) +
                      " for an IDX " + k.kind + " file)";
    if (m == kImageMagic) msg += "; this is an image file";
    if (m == kLabelMagic) msg += "; this is a label file";
    return msg;
  }
  if (got < k.headerSize) return truncated;
  return std::nullopt;
}

Result<Promise> imagePromise(const uint8_t *h, const std::string &name, IdxImages &img) {
  img.count = loadBE32(h + 4);
  img.rows = loadBE32(h + 8);
  img.cols = loadBE32(h + 12);
  std::string size = std::to_string(img.rows) + "x" + std::to_string(img.cols);
  if (img.count == 0) return Error{name + ": the header says the file holds 0 images"};
  if (img.rows == 0 || img.cols == 0)
    return Error{name + ": invalid image size " + size + " (rows and columns must be positive)"};
  if (img.rows > kMaxIdxSide || img.cols > kMaxIdxSide)
    return Error{name + ": image size " + size + " exceeds the limit of " +
                 std::to_string(kMaxIdxSide) + "x" + std::to_string(kMaxIdxSide)};
  if (uint64_t(img.count) > kMaxIdxCount)
    return Error{name + ": the header says the file holds " + std::to_string(img.count) +
                 " images; nnc reads at most " + std::to_string(kMaxIdxCount)};
  Promise p{uint64_t(img.count) * uint64_t(img.rows) * uint64_t(img.cols),
            std::to_string(img.count) + " images of " + size};
  if (p.bytes > kMaxIdxBytes)
    return Error{name + ": " + p.what + " are " + byteSizeText(p.bytes) +
                 ", more than the limit of " + byteSizeText(kMaxIdxBytes) + " per file"};
  return p;
}

Result<Promise> labelPromise(const uint8_t *h, const std::string &name) {
  uint32_t count = loadBE32(h + 4);
  if (count == 0) return Error{name + ": the header says the file holds 0 labels"};
  if (count > kMaxIdxCount)
    return Error{name + ": the header says the file holds " + std::to_string(count) +
                 " labels; nnc reads at most " + std::to_string(kMaxIdxCount)};
  return Promise{count, std::to_string(count) + " labels"};
}

std::string truncatedData(const std::string &name, const Promise &p, uint64_t actual) {
  return name + ": truncated data: the header promises " + p.what + " (" + std::to_string(p.bytes) +
         " bytes) but only " + std::to_string(actual) + " bytes follow";
}

/// Opens the (maybe gzip) IDX data of `src` and reads its header into `header`.
Result<size_t> readHeader(const ByteSource &src, IdxStream &in, uint8_t *header, const IdxKind &k) {
  if (!in.gzip() && endsWith(src.name(), ".gz"))
    return Error{src.name() +
                 ": not a gzip file (it does not start with the gzip magic bytes 1f 8b)"};
  Result<size_t> got = readFull(in, header, k.headerSize);
  if (!got) return got;
  if (std::optional<std::string> err = checkHeader(header, *got, src.name(), k)) return Error{*err};
  return got;
}

/// Checks that the gzip data ends right after the payload, counting what follows.
Status expectEnd(IdxStream &in, const std::string &name, const Promise &p) {
  uint8_t chunk[1 << 16];
  uint64_t trailing = 0;
  for (;;) {
    Result<size_t> got = in.read(chunk, sizeof chunk);
    if (!got) return Error{got.error()};
    if (*got == 0) break;
    trailing += *got;
    if (trailing > kTrailingCountLimit)
      return Error{name + ": more than " + byteSizeText(kTrailingCountLimit) +
                   " of trailing data after the " + p.what};
  }
  if (trailing)
    return Error{name + ": " + std::to_string(trailing) + " trailing bytes after the " + p.what};
  return okStatus();
}

/// Inflates the payload the header promised into `out` and checks that nothing follows.
Status inflatePayload(IdxStream &in, const std::string &name, const Promise &p,
                      std::vector<uint8_t> &out) {
  out.reserve(size_t(std::min(p.bytes, in.maxSize())));
  uint8_t chunk[1 << 16];
  while (out.size() < p.bytes) {
    Result<size_t> got =
        in.read(chunk, size_t(std::min<uint64_t>(sizeof chunk, p.bytes - out.size())));
    if (!got) return Error{got.error()};
    if (*got == 0) return Error{truncatedData(name, p, out.size())};
    out.insert(out.end(), chunk, chunk + *got);
  }
  return expectEnd(in, name, p);
}

/// Reads the payload the header promised (the header already read from `in`): a raw file must
/// have exactly the promised size, checked before the buffer is allocated.
Result<std::vector<uint8_t>> readPayload(const ByteSource &src, IdxStream &in, const Promise &p,
                                         const IdxKind &k) {
  const std::string &name = src.name();
  uint64_t actual = in.gzip() ? p.bytes : src.size() - k.headerSize; // raw: the header was read
  if (actual < p.bytes) return Error{truncatedData(name, p, actual)};
  if (actual > p.bytes)
    return Error{name + ": " + std::to_string(actual - p.bytes) + " trailing bytes after the " +
                 p.what};
  std::vector<uint8_t> out;
  try {
    if (in.gzip()) {
      if (Status s = inflatePayload(in, name, p, out); !s) return Error{s.error()};
      return out;
    }
    out.resize(size_t(p.bytes));
    if (Result<size_t> got = readFull(in, out.data(), out.size()); !got) return Error{got.error()};
  } catch (const std::bad_alloc &) {
    return Error{name + ": not enough memory for the " + p.what + " (" + byteSizeText(p.bytes) +
                 ")"};
  }
  return out;
}

std::optional<std::string> findFile(const fs::path &dir, const std::string &stem) {
  std::error_code ec;
  for (const std::string &n : {stem, stem + ".gz"})
    if (fs::is_regular_file(dir / n, ec)) return (dir / n).string();
  return std::nullopt;
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
    if (std::optional<IdxSplitFiles> files = findIdxSplit(p.dir->string(), why))
      return readIdxSplit(*files, p.dir->string(), p.description);
    searched += "\n  " + p.label + (p.label.empty() ? "" : " = ") + p.dir->string() + ": " + why;
  }
  return Error{"cannot find the dataset '" + name + "'; searched:" + searched + "\n" + howToGet};
}

} // namespace

Result<IdxImages> readIdxImages(const ByteSource &src) {
  IdxStream in(src, isGzipAt(src, 0));
  uint8_t header[16];
  if (Result<size_t> got = readHeader(src, in, header, kImages); !got) return Error{got.error()};
  IdxImages img;
  Result<Promise> p = imagePromise(header, src.name(), img);
  if (!p) return Error{p.error()};
  Result<std::vector<uint8_t>> pixels = readPayload(src, in, *p, kImages);
  if (!pixels) return Error{pixels.error()};
  img.pixels = pixels.take();
  return img;
}

Result<std::vector<uint8_t>> readIdxLabels(const ByteSource &src) {
  IdxStream in(src, isGzipAt(src, 0));
  uint8_t header[8];
  if (Result<size_t> got = readHeader(src, in, header, kLabels); !got) return Error{got.error()};
  Result<Promise> p = labelPromise(header, src.name());
  if (!p) return Error{p.error()};
  Result<std::vector<uint8_t>> labels = readPayload(src, in, *p, kLabels);
  if (!labels) return Error{labels.error()};
  for (size_t i = 0; i < labels->size(); ++i)
    if ((*labels)[i] > 9)
      return Error{src.name() + ": label " + std::to_string((*labels)[i]) + " of sample " +
                   std::to_string(i) + " is outside 0..9"};
  return labels;
}

Result<Dataset> readIdxDataset(const std::string &imagesPath, const std::string &labelsPath) {
  Result<ByteSource> is = ByteSource::openFile(imagesPath);
  if (!is) return Error{is.error()};
  Result<IdxImages> images = readIdxImages(*is);
  if (!images) return Error{images.error()};
  Result<ByteSource> ls = ByteSource::openFile(labelsPath);
  if (!ls) return Error{ls.error()};
  Result<std::vector<uint8_t>> labels = readIdxLabels(*ls);
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

std::optional<IdxSplitFiles> findIdxSplit(const std::string &dirName, std::string &why) {
  fs::path dir(dirName);
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
  return IdxSplitFiles{found[0], found[1], found[2], found[3]};
}

Result<DataSplit> makeSplit(Dataset train, Dataset test, const std::string &dir,
                            const std::string &description) {
  if (train.rows != test.rows || train.cols != test.cols)
    return Error{dir + ": the train images are " + std::to_string(train.rows) + "x" +
                 std::to_string(train.cols) + " but the test images are " +
                 std::to_string(test.rows) + "x" + std::to_string(test.cols)};
  DataSplit s;
  s.train = std::move(train);
  s.test = std::move(test);
  s.dir = dir;
  s.description = description + " (" + std::to_string(s.train.count) + " train / " +
                  std::to_string(s.test.count) + " test, " + std::to_string(s.train.rows) + "x" +
                  std::to_string(s.train.cols) + ")";
  return s;
}

Result<DataSplit> readIdxSplit(const IdxSplitFiles &f, const std::string &dir,
                               const std::string &description) {
  Result<Dataset> train = readIdxDataset(f.trainImages, f.trainLabels);
  if (!train) return Error{train.error()};
  Result<Dataset> test = readIdxDataset(f.testImages, f.testLabels);
  if (!test) return Error{test.error()};
  return makeSplit(train.take(), test.take(), dir, description);
}

Result<DataSplit> loadDataset(const std::string &nameOrDir, std::FILE *log) {
  const char *env = std::getenv("NNC_DATA");
  std::optional<fs::path> data;
  if (env && *env) data = fs::path(env);
  auto fromEnv = [&](const std::string &sub, const std::string &description) {
    if (!data) return Place{"$NNC_DATA" + sub + ": $NNC_DATA is not set", std::nullopt, ""};
    return Place{"$NNC_DATA" + sub, *data / sub.substr(1), description};
  };

  if (nameOrDir == "mnist") return loadFullMnist(log);
  if (nameOrDir == "mnist-10k") {
    std::vector<Place> places;
    const std::string bundled = "mnist, bundled 10k subset";
#ifdef NNC_DATA_DIR
    places.push_back({"bundled", fs::path(NNC_DATA_DIR) / "mnist-10k", bundled});
#endif
    if (std::optional<fs::path> exe = exeDir()) {
      for (const char *rel : {"../data", "../../data", "data", "../share/nnc/data"})
        places.push_back({"bundled", *exe / rel / "mnist-10k", bundled});
    }
    return searchPlaces(nameOrDir, places,
                        "the subset ships in nnc's source tree as data/mnist-10k; install it "
                        "next to the nnc binary (../share/nnc/data/mnist-10k) or pass its "
                        "directory");
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
                 "': no such directory, and not one of the names mnist, mnist-10k, "
                 "fashion-mnist"};
  std::string why;
  if (std::optional<IdxSplitFiles> files = findIdxSplit(nameOrDir, why))
    return readIdxSplit(*files, nameOrDir, nameOrDir);
  if (hasClassFolders(nameOrDir)) return readImageFolders(nameOrDir);
  return Error{"cannot load a dataset from '" + nameOrDir + "': " + why +
               " (a directory of IDX files), and no class folders 0..9 of PNG images "
               "(DIR/train/3/x.png and DIR/test/3/y.png, or DIR/3/x.png)"};
}

} // namespace nnc
