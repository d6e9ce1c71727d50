// Bounded file access: only regular files are opened (a FIFO, device or directory is refused
// by name, at once, in a child with a time limit so a regression fails instead of hanging),
// the size limit is checked before reading, memory and file sources read alike, and atomic
// writes leave no temporary behind, after success, after a failure, or after a killed writer;
// and every seed of the reader fuzz corpora is a valid file.
#include "support/FileUtil.h"

#include "TestUtil.h"
#include "runtime/Checkpoint.h"
#include "runtime/Idx.h"
#include "runtime/Png.h"
#include "runtime/Safetensors.h"
#include "test_io_util.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace nnc;
using nnc::test::TempDir;
using nnc::test::temporaries;
namespace fs = std::filesystem;

namespace {

void put(const fs::path &p, const std::string &bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

} // namespace

TEST_CASE("io: FIFOs, devices and directories are refused by name at once") {
  TempDir dir;
  std::string fifo = (dir.path / "pipe").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  struct Case {
    std::string path, message;
  };
  const std::vector<Case> cases = {
      {fifo, "'" + fifo + "' is a FIFO (named pipe), not a regular file"},
      {"/dev/zero", "'/dev/zero' is a character device, not a regular file"},
      {dir.path.string(), "'" + dir.path.string() + "' is a directory, not a regular file"},
  };
  for (const Case &c : cases) {
    CAPTURE(c.path);
    // Before the fix a FIFO blocked in open() and /dev/zero was read until memory ran out.
    test::ChildRun r = test::runForked(
        [&] {
          Result<std::string> bytes = readFileBytes(c.path, 1 << 20, "test files");
          return !bytes.ok() && bytes.error() == c.message ? 0 : 1;
        },
        10);
    CHECK_FALSE(r.timedOut);
    CHECK(r.code == 0);
    CHECK(r.seconds < 1.0);
    Result<ByteSource> src = ByteSource::openFile(c.path);
    REQUIRE_FALSE(src.ok());
    CHECK(src.error() == c.message);
  }
}

TEST_CASE("io: the size limit is checked before a file is read") {
  TempDir dir;
  fs::path big = dir.path / "big";
  put(big, "");
  fs::resize_file(big, 3ull << 30); // sparse: no disk use
  Result<std::string> refused = readFileBytes(big.string(), 1ull << 30, "test files");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error() ==
        "'" + big.string() + "' is 3 GiB; nnc reads test files of at most 1 GiB");

  put(dir.path / "small", "hello");
  Result<std::string> ok = readFileBytes((dir.path / "small").string(), 5, "test files");
  REQUIRE_MESSAGE(ok.ok(), ok.error());
  CHECK(*ok == "hello");
  Result<std::string> missing = readFileBytes((dir.path / "nope").string(), 5, "test files");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("cannot read '") == 0);
  CHECK(missing.error().find("No such file") != std::string::npos);

  CHECK(byteSizeText(12) == "12 bytes");
  CHECK(byteSizeText(300 << 10) == "300 KiB");
  CHECK(byteSizeText(3ull << 29) == "1.5 GiB");
}

TEST_CASE("io: file and memory sources read the same bytes and refuse reads past the end") {
  TempDir dir;
  put(dir.path / "f", "0123456789");
  Result<ByteSource> file = ByteSource::openFile((dir.path / "f").string());
  REQUIRE_MESSAGE(file.ok(), file.error());
  ByteSource mem = ByteSource::memory("0123456789", "mem");
  for (const ByteSource *src : {&*file, &mem}) {
    CAPTURE(src->name());
    CHECK(src->size() == 10);
    char buf[4] = {};
    REQUIRE(src->read(6, buf, 4).ok());
    CHECK(std::string(buf, 4) == "6789");
    Status past = src->read(8, buf, 4);
    REQUIRE_FALSE(past.ok());
    CHECK(past.error() ==
          src->name() + ": reading 4 bytes at offset 8 runs past the end (10 bytes)");
  }
}

TEST_CASE("io: atomic writes leave no temporary after success, failure or a killed writer") {
  TempDir dir;
  std::string target = (dir.path / "history.csv").string();
  // Temporaries of writers killed mid-write, as mkstemp names them; other files stay.
  put(dir.path / ".history.csv.tmp-a1B2c3", "partial");
  put(dir.path / ".history.csv.tmp-zzzzzz", "partial");
  put(dir.path / ".other.csv.tmp-a1B2c3", "someone else's");
  REQUIRE(writeFileAtomic(target, "epoch,loss,val_loss,seconds\n").ok());
  CHECK(temporaries(dir.path) == std::vector<std::string>{".other.csv.tmp-a1B2c3"});
  fs::remove(dir.path / ".other.csv.tmp-a1B2c3");

  // A failed write (the target is a non-empty directory: rename fails) removes its temporary.
  fs::create_directories(dir.path / "taken" / "inside");
  Status failed = writeFileAtomic((dir.path / "taken").string(), "bytes");
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().find("rename failed") != std::string::npos);
  CHECK(temporaries(dir.path).empty());
  CHECK(fs::is_directory(dir.path / "taken" / "inside"));
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 2);
}

TEST_CASE("io: every seed of the reader fuzz corpora is a valid file of its format") {
  // fuzz/make_corpus.py writes them; a seed the reader refuses would start the fuzzer off
  // the valid paths.
  fs::path root = fs::path(NNC_SOURCE_DIR) / "fuzz" / "corpus";
  auto seeds = [&](const char *name) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto &e : fs::directory_iterator(root / name))
      if (e.path().filename().string().rfind("seed-", 0) == 0) {
        std::ifstream in(e.path(), std::ios::binary);
        out.emplace_back(e.path().string(), std::string(std::istreambuf_iterator<char>(in), {}));
      }
    return out;
  };
  size_t count = 0;
  for (const auto &[path, bytes] : seeds("safetensors")) {
    Result<SafetensorsD> r = parseSafetensorsD(bytes, path);
    CHECK_MESSAGE(r.ok(), r.error());
    if (r && isCheckpointMetadata(r->metadata)) {
      Result<Checkpoint> c = checkpointFrom(r.take(), path);
      CHECK_MESSAGE(c.ok(), c.error());
    }
    ++count;
  }
  for (const auto &[path, bytes] : seeds("checkpoint")) {
    SafetensorsMetadata m;
    for (size_t at = 0; at < bytes.size();) {
      size_t k = bytes.find('\0', at), v = bytes.find('\0', k + 1);
      m[bytes.substr(at, k - at)] = bytes.substr(k + 1, v == std::string::npos ? v : v - k - 1);
      at = v == std::string::npos ? bytes.size() : v + 1;
    }
    Result<CheckpointInfo> r = parseCheckpointMetadata(m, path);
    CHECK_MESSAGE(r.ok(), r.error());
    ++count;
  }
  for (const auto &[path, bytes] : seeds("idx")) {
    ByteSource src = ByteSource::memory(bytes, path);
    Result<IdxImages> img = readIdxImages(src);
    Result<std::vector<uint8_t>> labels = readIdxLabels(src);
    CHECK_MESSAGE(img.ok() != labels.ok(), path);
    ++count;
  }
  for (const auto &[path, bytes] : seeds("history")) {
    Result<std::vector<EpochRecord>> r = parseHistoryCsv(bytes, path);
    CHECK_MESSAGE(r.ok(), r.error());
    ++count;
  }
  for (const auto &[path, bytes] : seeds("png")) {
    Result<PngImage> r = decodePng(bytes, path);
    CHECK_MESSAGE(r.ok(), r.error());
    ++count;
  }
  CHECK(count >= 20);
}
