// IDX datasets: raw and gzip files, one rejected file per validation rule (each with its own
// message), the limits, sparse 2 GiB files refused within time and memory bounds, dataset
// lookup by directory and by name, and the bundled 10k MNIST subset.
#include "runtime/Idx.h"

#include "TestUtil.h"
#include "test_io_util.h"

#include <doctest/doctest.h>

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

using namespace nnc;
using nnc::test::ScopedEnv;
using nnc::test::TempDir;
namespace fs = std::filesystem;

namespace {

void be32(std::string &s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

/// An IDX image file of `count` images whose pixel k of image i is (i * 7 + k) % 256.
std::string images(uint32_t count, uint32_t rows, uint32_t cols, uint32_t magic = 0x803) {
  std::string s;
  be32(s, magic);
  be32(s, count);
  be32(s, rows);
  be32(s, cols);
  for (uint64_t i = 0; i < uint64_t(count) * rows * cols; ++i)
    s += static_cast<char>((i / (uint64_t(rows) * cols) * 7 + i % (uint64_t(rows) * cols)) % 256);
  return s;
}

std::string labels(const std::vector<uint8_t> &ls) {
  std::string s;
  be32(s, 0x801);
  be32(s, static_cast<uint32_t>(ls.size()));
  for (uint8_t l : ls) s += static_cast<char>(l);
  return s;
}

std::string gzip(const std::string &raw) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, raw.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void put(const fs::path &p, const std::string &bytes) {
  std::ofstream(p, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Writes a complete four-file split (3 train, 2 test images of 2x3) into `dir`.
void writeSplit(const fs::path &dir) {
  fs::create_directories(dir);
  put(dir / "train-images-idx3-ubyte.gz", gzip(images(3, 2, 3)));
  put(dir / "train-labels-idx1-ubyte", labels({1, 2, 3}));
  put(dir / "t10k-images-idx3-ubyte", images(2, 2, 3));
  put(dir / "t10k-labels-idx1-ubyte.gz", gzip(labels({9, 0})));
}

} // namespace

TEST_CASE("io: IDX raw and gzip files read the same images and labels") {
  TempDir dir;
  std::string raw = images(4, 3, 5);
  put(dir.path / "img", raw);
  put(dir.path / "img.gz", gzip(raw));
  // Two concatenated gzip members decompress to their concatenation (as gunzip does).
  put(dir.path / "two.gz", gzip(raw.substr(0, 20)) + gzip(raw.substr(20)));
  put(dir.path / "lab", labels({0, 9, 5, 5}));
  for (const char *name : {"img", "img.gz", "two.gz"}) {
    CAPTURE(name);
    Result<Dataset> d = readIdxDataset((dir.path / name).string(), (dir.path / "lab").string());
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(d->count == 4);
    CHECK(d->rows == 3);
    CHECK(d->cols == 5);
    REQUIRE(d->pixels.size() == 60);
    CHECK(d->pixels[0] == 0);
    CHECK(d->pixels[16] == 8); // image 1, pixel 1: 1 * 7 + 1
    CHECK(d->labels == std::vector<uint8_t>{0, 9, 5, 5});
  }
}

TEST_CASE("io: IDX reader rejects malformed files with a specific message") {
  TempDir dir;
  auto imageError = [&](const std::string &bytes, const std::string &name = "img") {
    put(dir.path / name, bytes);
    Result<Dataset> d =
        readIdxDataset((dir.path / name).string(), (dir.path / "ok-labels").string());
    return d ? std::string("(accepted)") : d.error();
  };
  put(dir.path / "ok-labels", labels({1, 2}));
  put(dir.path / "ok-images", images(2, 2, 2));
  auto labelError = [&](const std::string &bytes) {
    put(dir.path / "lab", bytes);
    Result<Dataset> d =
        readIdxDataset((dir.path / "ok-images").string(), (dir.path / "lab").string());
    return d ? std::string("(accepted)") : d.error();
  };
  std::string gz = gzip(images(2, 2, 2));
  std::string corrupt = gz;
  corrupt[12] = static_cast<char>(corrupt[12] ^ 0xff);
  corrupt[13] = static_cast<char>(corrupt[13] ^ 0xff);
  // A trailer claiming 4 GiB: the size hint is capped, and zlib's length check rejects it.
  std::string huge = gz;
  for (size_t i = huge.size() - 4; i < huge.size(); ++i) huge[i] = static_cast<char>(0xff);
  std::string p = (dir.path / "img").string();
  struct Case {
    const char *what;
    std::string error;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"empty file", imageError(""), p + ": file is empty"},
      {"truncated magic", imageError(std::string("\0\0", 2)),
       p + ": truncated header: the file is 2 bytes, an IDX image header is 16 bytes"},
      {"truncated header", imageError(images(2, 2, 2).substr(0, 10)),
       p + ": truncated header: the file is 10 bytes"},
      {"bad magic", imageError(images(2, 2, 2, 0x802)),
       p + ": bad magic number 0x00000802 (expected 0x00000803 for an IDX image file)"},
      {"label file as images", imageError(labels({1, 2})),
       "(expected 0x00000803 for an IDX image file); this is a label file"},
      {"zero rows", imageError(images(2, 0, 28)),
       p + ": invalid image size 0x28 (rows and columns must be positive)"},
      {"zero images", imageError(images(0, 5000, 28).substr(0, 16) + std::string(8, '\0')),
       p + ": the header says the file holds 0 images"},
      {"too large", imageError(images(1, 5000, 2)),
       p + ": image size 5000x2 exceeds the limit of 4096x4096"},
      {"truncated data", imageError(images(2, 2, 2).substr(0, 20)),
       p + ": truncated data: the header promises 2 images of 2x2 (8 bytes) but only 4 bytes "
           "follow"},
      {"trailing bytes", imageError(images(2, 2, 2) + "xyz"),
       p + ": 3 trailing bytes after the 2 images of 2x2"},
      {"count mismatch", imageError(images(3, 2, 2)),
       p + " holds 3 images but " + (dir.path / "ok-labels").string() + " holds 2 labels"},
      {"label out of range", labelError(labels({1, 10})), ": label 10 of sample 1 is outside 0..9"},
      {"image file as labels", labelError(images(2, 2, 2)),
       "(expected 0x00000801 for an IDX label file); this is an image file"},
      {"truncated labels", labelError(labels({1, 2}).substr(0, 9)),
       ": truncated data: the header promises 2 labels (2 bytes) but only 1 bytes follow"},
      {"not gzip", imageError(images(2, 2, 2), "img.gz"),
       p + ".gz: not a gzip file (it does not start with the gzip magic bytes 1f 8b)"},
      {"truncated gzip", imageError(gz.substr(0, gz.size() - 6), "img.gz"),
       p + ".gz: truncated gzip data (unexpected end of file)"},
      {"corrupt gzip", imageError(corrupt, "img.gz"), p + ".gz: corrupt gzip data"},
      {"wrong gzip size trailer", imageError(huge, "img.gz"),
       p + ".gz: corrupt gzip data: incorrect length check"},
      {"garbage after gzip", imageError(gz + "junk", "img.gz"),
       p + ".gz: 4 bytes of trailing garbage after the gzip data"},
  };
  for (const Case &c : cases) {
    CAPTURE(c.what);
    CHECK_MESSAGE(c.error.find(c.message) != std::string::npos, c.error);
  }
  Result<Dataset> missing =
      readIdxDataset((dir.path / "absent").string(), (dir.path / "ok-labels").string());
  REQUIRE(!missing.ok());
  CHECK(missing.error() ==
        "cannot read '" + (dir.path / "absent").string() + "': No such file or directory");
}

TEST_CASE("io: loadDataset reads a directory and names what is missing") {
  TempDir dir;
  writeSplit(dir.path / "d");
  Result<DataSplit> s = loadDataset((dir.path / "d").string());
  REQUIRE_MESSAGE(s.ok(), s.error());
  CHECK(s->train.count == 3);
  CHECK(s->test.count == 2);
  CHECK(s->test.labels == std::vector<uint8_t>{9, 0});
  CHECK(s->train.rows == 2);
  CHECK(s->train.cols == 3);

  fs::remove(dir.path / "d" / "t10k-labels-idx1-ubyte.gz");
  Result<DataSplit> partial = loadDataset((dir.path / "d").string());
  REQUIRE(!partial.ok());
  CHECK(partial.error().find("missing t10k-labels-idx1-ubyte[.gz]") != std::string::npos);

  Result<DataSplit> unknown = loadDataset("no-such-dataset");
  REQUIRE(!unknown.ok());
  CHECK(unknown.error() == "unknown dataset 'no-such-dataset': no such directory, and not one "
                           "of the names mnist, mnist-10k, fashion-mnist");

  fs::create_directories(dir.path / "e");
  put(dir.path / "e" / "train-images-idx3-ubyte", images(2, 4, 4));
  put(dir.path / "e" / "train-labels-idx1-ubyte", labels({1, 2}));
  put(dir.path / "e" / "t10k-images-idx3-ubyte", images(2, 2, 2));
  put(dir.path / "e" / "t10k-labels-idx1-ubyte", labels({1, 2}));
  Result<DataSplit> mixed = loadDataset((dir.path / "e").string());
  REQUIRE(!mixed.ok());
  CHECK(mixed.error().find("the train images are 4x4 but the test images are 2x2") !=
        std::string::npos);
}

TEST_CASE("io: dataset names search $NNC_DATA first") {
  TempDir dir;
  writeSplit(dir.path / "mnist");
  writeSplit(dir.path / "fashion-mnist");
  ScopedEnv env("NNC_DATA", dir.path.string());
  Result<DataSplit> m = loadDataset("mnist");
  REQUIRE_MESSAGE(m.ok(), m.error());
  CHECK(m->train.count == 3);
  CHECK(m->dir == (dir.path / "mnist").string());
  CHECK(m->description == "mnist from $NNC_DATA/mnist (3 train / 2 test, 2x3)");
  Result<DataSplit> f = loadDataset("fashion-mnist");
  REQUIRE_MESSAGE(f.ok(), f.error());
  CHECK(f->dir == (dir.path / "fashion-mnist").string());
}

TEST_CASE("io: the bundled MNIST subset has 8004 train and 1996 test digits") {
  Result<DataSplit> s = loadDataset(NNC_SOURCE_DIR "/data/mnist-10k");
  REQUIRE_MESSAGE(s.ok(), s.error());
  CHECK(s->train.count == 8004);
  CHECK(s->test.count == 1996);
  CHECK(s->train.rows == 28);
  CHECK(s->train.cols == 28);
  CHECK(s->train.pixels.size() == 8004u * 784);
  std::set<uint8_t> digits(s->test.labels.begin(), s->test.labels.end());
  CHECK(digits.size() == 10);

  // The name "mnist-10k" is the bundled subset, whatever $NNC_DATA holds.
  TempDir other;
  writeSplit(other.path / "mnist");
  ScopedEnv env("NNC_DATA", other.path.string());
  Result<DataSplit> named = loadDataset("mnist-10k");
  REQUIRE_MESSAGE(named.ok(), named.error());
  CHECK(named->train.count == 8004);
  CHECK(named->description.find("bundled 10k subset") != std::string::npos);
  CHECK(named->train.labels == s->train.labels);
}

TEST_CASE("io: IDX headers are checked against the limits and gzip data against the header") {
  auto imageError = [](const std::string &bytes, const std::string &name) {
    Result<IdxImages> r = readIdxImages(ByteSource::memory(bytes, name));
    return r ? std::string("(accepted)") : r.error();
  };
  std::string header60k = images(60000, 28, 28).substr(0, 16);
  std::string twoImages = images(2, 28, 28).substr(16);
  CHECK(imageError(gzip(header60k + twoImages), "m.gz") ==
        "m.gz: truncated data: the header promises 60000 images of 28x28 (47040000 bytes) but "
        "only 1568 bytes follow");
  CHECK(imageError(gzip(images(2, 2, 2) + "xyz"), "m.gz") ==
        "m.gz: 3 trailing bytes after the 2 images of 2x2");
  std::string tooMany = images(1, 1, 1).substr(0, 16);
  tooMany[4] = char(0x05), tooMany[5] = char(0xf5), tooMany[6] = char(0xe1), tooMany[7] = 1;
  CHECK(imageError(tooMany, "m") ==
        "m: the header says the file holds 100000001 images; nnc reads at most 100000000");
  std::string tooBig = images(1, 28, 28).substr(0, 16);
  tooBig[4] = char(0x05), tooBig[5] = char(0xf5), tooBig[6] = char(0xe1), tooBig[7] = 0;
  CHECK(imageError(tooBig, "m") ==
        "m: 100000000 images of 28x28 are 73 GiB, more than the limit of 4 GiB per file");

  // The memory entry point (used by the fuzz targets) reads what the file reader reads.
  Result<IdxImages> mem = readIdxImages(ByteSource::memory(gzip(images(3, 2, 5)), "m.gz"));
  REQUIRE_MESSAGE(mem.ok(), mem.error());
  CHECK(mem->count == 3);
  CHECK(mem->pixels.size() == 30);
  CHECK(mem->pixels[11] == 8); // image 1, pixel 1: 1 * 7 + 1
  Result<std::vector<uint8_t>> labs = readIdxLabels(ByteSource::memory(labels({4, 2}), "l"));
  REQUIRE_MESSAGE(labs.ok(), labs.error());
  CHECK(*labs == std::vector<uint8_t>{4, 2});
}

TEST_CASE("io: a sparse 2 GiB IDX file with a bad magic or the wrong size is refused in under "
          "1 s and 100 MB") {
  // Before the fix each was read whole and copied before the header check: 20 to 38 s and
  // 4.2 GB peak memory.
  TempDir dir;
  put(dir.path / "tiny.nn", "model tiny\n"
                            "input x: [28, 28, 1]\n"
                            "h = flatten(x)\n"
                            "h = dense(h, 784, activation=sigmoid)\n"
                            "y = reshape(h, shape=[28, 28, 1])\n"
                            "loss binary_crossentropy(y, x)\n");
  auto dataset = [&](const std::string &name, const std::string &header, uint64_t size) {
    fs::path d = dir.path / name;
    fs::create_directories(d);
    put(d / "train-images-idx3-ubyte", header);
    fs::resize_file(d / "train-images-idx3-ubyte", size); // sparse: no disk use
    put(d / "train-labels-idx1-ubyte", labels({1, 2}));
    put(d / "t10k-images-idx3-ubyte", images(2, 28, 28));
    put(d / "t10k-labels-idx1-ubyte", labels({1, 2}));
    return d.string();
  };
  std::string badMagic = images(1, 28, 28, 0x12345678).substr(0, 16);
  std::string valid60k = images(60000, 28, 28).substr(0, 16);
  struct Case {
    const char *what;
    std::string data, message;
  };
  const std::vector<Case> cases = {
      {"baseline: small file with a bad magic", dataset("small", badMagic, 16),
       "bad magic number 0x12345678"},
      {"2 GiB with a bad magic", dataset("magic", badMagic, 2ull << 30),
       "bad magic number 0x12345678"},
      {"2 GiB with a valid header", dataset("size", valid60k, 2ull << 30),
       "2100443632 trailing bytes after the 60000 images of 28x28"},
  };
  int64_t baselineKb = 0;
  for (const Case &c : cases) {
    CAPTURE(c.what);
    std::string err = (dir.path / "err").string();
    test::ChildRun r =
        test::expectRefusedAtOnce({"train", (dir.path / "tiny.nn").string(), "--data", c.data,
                                   "--checkpoint", (dir.path / "ckpt").string()},
                                  err, c.message);
    CHECK(r.maxRssKb > 1024); // the measurement worked: nnc's peak is at least 1 MiB
    if (baselineKb == 0) baselineKb = r.maxRssKb;
    CHECK(r.maxRssKb - baselineKb < 100 * 1024);
  }
}
