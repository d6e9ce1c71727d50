// Safetensors: F32/F64 round trips with metadata, atomic replacement, shape checks against a
// model, one rejected file per validation rule (each with its own message), sizes checked
// before data is read (a sparse 2 GiB file within time and memory bounds), FIFOs and devices
// refused at once, and the check for non-finite weights.
#include "runtime/Safetensors.h"

#include "TestUtil.h"
#include "test_io_util.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <sys/stat.h>
#include <vector>

using namespace nnc;
using nnc::test::TempDir;
namespace fs = std::filesystem;

namespace {

/// Builds a safetensors file from header text and data bytes.
std::string file(const std::string &header, const std::string &data = "") {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string f32(std::initializer_list<float> vs) {
  std::string s;
  for (float v : vs) s.append(reinterpret_cast<const char *>(&v), 4);
  return s;
}

std::string errorOf(const std::string &bytes) {
  Result<Safetensors> r = parseSafetensors(bytes, "w.safetensors");
  return r ? std::string("(accepted)") : r.error();
}

} // namespace

TEST_CASE("io: safetensors F32 round trip keeps tensors, shapes and metadata") {
  TempDir dir;
  std::string path = (dir.path / "w.safetensors").string();
  TensorMap m;
  m["conv.kernel"] = Tensor{{2, 3}, {1.5f, -2.f, 0.f, 3.25f, 1e-20f, -7.f}};
  m["dense.bias"] = Tensor{{4}, {0.1f, 0.2f, 0.3f, 0.4f}};
  m["scalar"] = Tensor{{}, {42.f}};
  m["empty"] = Tensor{{0, 5}, {}};
  SafetensorsMetadata meta{{"format", "nnc"}, {"epoch", "3"}};
  REQUIRE(writeSafetensors(path, m, meta).ok());

  Result<Safetensors> r = readSafetensors(path);
  REQUIRE_MESSAGE(r.ok(), r.error());
  CHECK(r->metadata == meta);
  REQUIRE(r->tensors.size() == m.size());
  for (const auto &[name, t] : m) {
    CHECK(r->tensors.at(name).shape == t.shape);
    CHECK(r->tensors.at(name).data == t.data);
    CHECK(r->dtypes.at(name) == "F32");
  }
  // Only the target remains: the temporary file was renamed, not copied.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  Result<std::string> bytes = encodeSafetensors(m, meta);
  REQUIRE(bytes.ok());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>((*bytes)[i]);
  CHECK(n % 8 == 0);
  CHECK(bytes->size() == 8 + n + 4 * (6 + 4 + 1));
}

TEST_CASE("io: safetensors F64 round trip is exact and converts to float on request") {
  TempDir dir;
  std::string path = (dir.path / "g.safetensors").string();
  TensorMapD m;
  m["grad.w"] = TensorD{{3}, {0.1, -1.0 / 3.0, 1e-300}};
  REQUIRE(writeSafetensorsD(path, m, {{"kind", "gradients"}}).ok());

  Result<SafetensorsD> d = readSafetensorsD(path);
  REQUIRE_MESSAGE(d.ok(), d.error());
  CHECK(d->tensors.at("grad.w").data == m["grad.w"].data);
  CHECK(d->dtypes.at("grad.w") == "F64");
  CHECK(d->metadata.at("kind") == "gradients");

  Result<Safetensors> f = readSafetensors(path);
  REQUIRE(f.ok());
  CHECK(f->dtypes.at("grad.w") == "F64");
  CHECK(f->tensors.at("grad.w").data ==
        std::vector<float>{0.1f, static_cast<float>(-1.0 / 3.0), 0.f});
}

TEST_CASE("io: safetensors write replaces an existing file and reports bad input") {
  TempDir dir;
  std::string path = (dir.path / "w.safetensors").string();
  REQUIRE(writeSafetensors(path, {{"a", Tensor{{1}, {1.f}}}}).ok());
  REQUIRE(writeSafetensors(path, {{"b", Tensor{{2}, {2.f, 3.f}}}}).ok());
  Result<Safetensors> r = readSafetensors(path);
  REQUIRE(r.ok());
  CHECK(r->tensors.count("a") == 0);
  CHECK(r->tensors.at("b").data == std::vector<float>{2.f, 3.f});

  Status bad = writeSafetensors(path, {{"c", Tensor{{3}, {1.f}}}});
  REQUIRE(!bad.ok());
  CHECK(bad.error().find("tensor 'c' has shape [3] but 1 values") != std::string::npos);
  CHECK(readSafetensors(path)->tensors.count("b") == 1);

  Status noDir = writeSafetensors((dir.path / "missing" / "w.safetensors").string(), {});
  REQUIRE(!noDir.ok());
  CHECK(noDir.error().find("cannot create a temporary file") != std::string::npos);

  Result<Safetensors> missing = readSafetensors((dir.path / "nope.safetensors").string());
  REQUIRE(!missing.ok());
  CHECK(missing.error().find("cannot read '") != std::string::npos);
  CHECK(missing.error().find("No such file") != std::string::npos);
}

TEST_CASE("io: safetensors reader rejects malformed files with a specific message") {
  const std::string ok = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
  struct Case {
    const char *what;
    std::string bytes;
    std::string message;
  };
  std::string tooLong = file("{}");
  tooLong[3] = 0x10; // header length 0x10000000 = 268 MB
  std::string pastEnd = file("{}");
  pastEnd[0] = 100;
  std::string deep = file(std::string(1000, '[') + std::string(1000, ']'));
  const std::vector<Case> cases = {
      {"empty file", "", "file is 0 bytes, too short for the 8-byte header length"},
      {"truncated length", std::string(5, '\0'), "file is 5 bytes"},
      {"header too large", tooLong, "header length 268435458 exceeds the limit of 100 MiB"},
      {"header beyond the end", pastEnd, "header length 100 runs past the end of the file (10"},
      {"not UTF-8", file("{\"\xff\":1}"), "header is not valid UTF-8"},
      {"not JSON", file("{\"a\": "), "header is not valid JSON"},
      {"not an object", file("[1,2]"), "header is not a JSON object"},
      {"too deep", deep, "header nests deeper than 64 levels"},
      {"entry not an object", file(R"({"w":5})"), "tensor 'w': entry is not a JSON object"},
      {"missing dtype", file(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", f32({1, 2})),
       "tensor 'w': missing \"dtype\""},
      {"missing shape", file(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", f32({1, 2})),
       "tensor 'w': missing \"shape\""},
      {"missing offsets", file(R"({"w":{"dtype":"F32","shape":[2]}})", f32({1, 2})),
       "tensor 'w': missing \"data_offsets\""},
      {"dtype not a string", file(R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})"),
       "tensor 'w': \"dtype\" is not a string"},
      {"unsupported dtype", file(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})"),
       "tensor 'w': unsupported dtype 'F16' (nnc reads F32 and F64)"},
      {"shape not an array", file(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})"),
       "tensor 'w': \"shape\" is not an array"},
      {"negative dim", file(R"({"w":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,8]}})"),
       "tensor 'w': shape element 1 is negative (-2)"},
      {"fractional dim", file(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})"),
       "tensor 'w': shape element 0 is not an integer"},
      {"string dim", file(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})"),
       "tensor 'w': shape element 0 is not a number"},
      {"huge dim",
       file(R"({"w":{"dtype":"F32","shape":[18446744073709551615],)"
            R"("data_offsets":[0,8]}})"),
       "tensor 'w': shape element 0 is too large"},
      {"element count overflow",
       file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})"),
       "tensor 'w': shape [4294967296,4294967296,4] has more than 1073741824 elements, the limit "
       "per tensor"},
      {"offsets not a pair", file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})"),
       "tensor 'w': \"data_offsets\" must be an array of two integers"},
      {"negative offset",
       file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", f32({1, 2})),
       "tensor 'w': \"data_offsets\" must hold two non-negative integers"},
      {"begin after end",
       file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32({1, 2})),
       "tensor 'w': data_offsets [8, 0] begin after they end"},
      {"offsets out of range",
       file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", f32({1, 2})),
       "tensor 'w': data_offsets [0, 16] lie outside the data section (8 bytes)"},
      {"wrong byte count",
       file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", f32({1, 2})),
       "tensor 'w': data_offsets [0, 8] hold 8 bytes, but F32 shape [3] needs 12"},
      {"overlapping",
       file(R"({"a":{)" + ok + R"(},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            f32({1, 2, 3})),
       "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
      {"gap",
       file(R"({"a":{)" + ok + R"(},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
            f32({1, 2, 3, 4})),
       "tensor 'b': data_offsets [12, 16] leave a gap: bytes [8, 12]"},
      {"trailing bytes", file(R"({"a":{)" + ok + "}}", f32({1, 2, 3})),
       "4 trailing bytes after the last tensor (the data section is 12 bytes"},
      {"duplicate name", file(R"({"a":{)" + ok + R"(},"a":{)" + ok + "}}", f32({1, 2})),
       "duplicate tensor name 'a'"},
      {"duplicate name spelled with an escape",
       file(R"({"a":{)" + ok + R"(},"\u0061":{)" + ok + "}}", f32({1, 2})),
       "duplicate tensor name 'a'"},
      {"duplicate key in an entry", file(R"({"a":{"dtype":"F64",)" + ok + "}}", f32({1, 2})),
       "tensor 'a': duplicate key 'dtype'"},
      {"unknown key", file(R"({"a":{"foo":1,)" + ok + "}}", f32({1, 2})),
       "tensor 'a': unknown key 'foo'"},
      {"metadata not an object", file(R"({"__metadata__":[1]})"),
       "\"__metadata__\" is not a JSON object"},
      {"metadata value not a string", file(R"({"__metadata__":{"k":3}})"),
       "metadata value for key 'k' is not a string"},
      {"duplicate metadata key", file(R"({"__metadata__":{"k":"1","k":"2"}})"),
       "duplicate metadata key 'k'"},
      {"empty tensor name", file(R"({"":{)" + ok + "}}", f32({1, 2})),
       "a tensor has an empty name"},
  };
  for (const Case &c : cases) {
    CAPTURE(c.what);
    std::string err = errorOf(c.bytes);
    CHECK(err.rfind("w.safetensors: ", 0) == 0);
    CHECK_MESSAGE(err.find(c.message) != std::string::npos, err);
  }
}

TEST_CASE("io: safetensors reader accepts an empty header and survives corruption") {
  Result<Safetensors> empty = parseSafetensors(file("{}  "), "e.safetensors");
  REQUIRE_MESSAGE(empty.ok(), empty.error());
  CHECK(empty->tensors.empty());

  Result<std::string> good = encodeSafetensors(
      {{"a", Tensor{{2, 2}, {1, 2, 3, 4}}}, {"b", Tensor{{3}, {5, 6, 7}}}}, {{"k", "v"}});
  REQUIRE(good.ok());
  REQUIRE(parseSafetensors(*good, "g").ok());
  // Every proper prefix loses data or header bytes, so each must be rejected.
  for (size_t n = 0; n < good->size(); ++n)
    CHECK_MESSAGE(!parseSafetensors(good->substr(0, n), "g").ok(), "prefix of length " << n);
  // Overwriting any byte with any of these values must give a value or an error, never a crash;
  // a change in the data section is invisible, a change in the length field never is.
  for (size_t i = 0; i < good->size(); ++i)
    for (char v : {'\0', '"', '{', ']', ':', ',', '9', '-', '\xff'}) {
      std::string bad = *good;
      if (bad[i] == v) continue;
      bad[i] = v;
      Result<Safetensors> r = parseSafetensors(bad, "g");
      if (i < 8) CHECK(!r.ok());
    }
}

TEST_CASE("io: an empty tensor with a huge other dimension reads and writes back") {
  // The reader accepts [2^62, 0] (no values); the writer refused it as "too many elements",
  // so a file that was read could not be written again (fuzz_safetensors' round trip).
  std::string bytes =
      file(R"({"w":{"dtype":"F32","shape":[4611686018427387904,0],"data_offsets":[0,0]}})");
  Result<SafetensorsD> r = parseSafetensorsD(bytes, "w.safetensors");
  REQUIRE_MESSAGE(r.ok(), r.error());
  Result<std::string> again = encodeSafetensorsD(r->tensors);
  REQUIRE_MESSAGE(again.ok(), again.error());
  Result<SafetensorsD> back = parseSafetensorsD(*again, "again.safetensors");
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(back->tensors.at("w").shape == std::vector<int64_t>{int64_t(1) << 62, 0});
  CHECK(back->tensors.at("w").data.empty());
}

TEST_CASE("io: checkShapes reports wrong shapes, missing and unexpected tensors") {
  TensorMap m;
  m["conv2d.kernel"] = Tensor{{3, 3, 1, 8}, std::vector<float>(72)};
  m["conv2d.bias"] = Tensor{{8}, std::vector<float>(8)};
  m["extra"] = Tensor{{1}, {0.f}};
  std::map<std::string, std::vector<int64_t>> expected = {
      {"conv2d.kernel", {3, 3, 1, 16}}, {"conv2d.bias", {8}}, {"dense.kernel", {784, 10}}};
  Status s = checkShapes(m, expected, "weights.safetensors");
  REQUIRE(!s.ok());
  CHECK(s.error().find("weights.safetensors: tensor 'conv2d.kernel' has shape [3,3,1,8], "
                       "the model expects [3,3,1,16]") != std::string::npos);
  CHECK(s.error().find("weights.safetensors: missing tensor 'dense.kernel' (the model expects "
                       "shape [784,10])") != std::string::npos);
  CHECK(s.error().find("weights.safetensors: unexpected tensor 'extra' with shape [1]") !=
        std::string::npos);
  CHECK(s.error().find("conv2d.bias") == std::string::npos);

  m.erase("extra");
  m["conv2d.kernel"].shape = {3, 3, 1, 16};
  m["dense.kernel"] = Tensor{{784, 10}, {}};
  CHECK(checkShapes(m, expected, "w").ok());
}

TEST_CASE("io: checkShapes lists at most 20 problems and counts the rest") {
  std::map<std::string, std::vector<int64_t>> actual, expected = {{"k", {2}}};
  for (int i = 0; i < 100000; ++i) actual["t" + std::to_string(i)] = {1};
  Status s = checkShapes(actual, expected, "w");
  REQUIRE_FALSE(s.ok());
  // Before the limit, each of the 100,001 problems was one line of the message.
  size_t lines = size_t(std::count(s.error().begin(), s.error().end(), '\n')) + 1;
  CHECK(lines == kMaxShapeProblemsShown + 1);
  CHECK(s.error().find("w: missing tensor 'k'") == 0);
  CHECK(s.error().substr(s.error().rfind('\n') + 1) == "w: 99981 more problems not shown");
}

TEST_CASE("io: safetensors sizes are checked against the file before its data is read") {
  TempDir dir;
  // A header for 8 bytes of data in a 2 GiB sparse file: refused from the header and the file
  // size alone. Before the fix the file was read whole first (2 GiB of memory).
  std::string header = file(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})");
  fs::path big = dir.path / "big.safetensors";
  std::ofstream(big, std::ios::binary) << header;
  fs::resize_file(big, 2ull << 30);
  std::ofstream(dir.path / "small.safetensors", std::ios::binary) << header + std::string(9, '\0');
  std::ofstream(dir.path / "m.nn") << "model m\ninput x: [2]\ny = dense(x, 2)\noutput y\n";
  int64_t baselineKb = 0;
  for (const char *name : {"small.safetensors", "big.safetensors"}) {
    CAPTURE(name);
    std::string path = (dir.path / name).string();
    test::ChildRun r = test::expectRefusedAtOnce(
        {"eval", (dir.path / "m.nn").string(), "--weights", path, "--inputs", path},
        (dir.path / "err").string(), " trailing bytes after the last tensor");
    CHECK(r.maxRssKb > 1024); // the measurement worked: nnc's peak is at least 1 MiB
    if (baselineKb == 0) baselineKb = r.maxRssKb;
    CHECK(r.maxRssKb - baselineKb < 100 * 1024);
  }

  fs::resize_file(big, 9ull << 30);
  Result<Safetensors> huge = readSafetensors(big.string());
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.error() == big.string() + ": the file is 9 GiB; nnc reads safetensors files of at "
                                       "most 8 GiB");
}

TEST_CASE("io: --weights on a FIFO, a device or a directory is refused at once") {
  TempDir dir;
  std::string fifo = (dir.path / "pipe").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string model = (dir.path / "m.nn").string();
  std::ofstream(model) << "model m\ninput x: [2]\ny = dense(x, 2)\noutput y\nloss mse(y, x)\n";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  // Before the fix a FIFO blocked forever and /dev/zero was read until memory ran out.
  const std::vector<Case> cases = {
      {{"predict", model, "--weights", fifo},
       "'" + fifo + "' is a FIFO (named pipe), not a regular file"},
      {{"predict", model, "--weights", "/dev/zero"}, "'/dev/zero' is a character device"},
      {{"eval", model, "--weights", "/dev/zero", "--inputs", "/dev/zero"},
       "'/dev/zero' is a character device, not a regular file"},
      {{"eval", model, "--weights", fifo, "--inputs", fifo}, "is a FIFO (named pipe)"},
      {{"eval", model, "--weights", dir.path.string(), "--inputs", model},
       "'" + dir.path.string() + "' is a directory, not a regular file"},
  };
  for (const Case &c : cases) {
    CAPTURE(c.args[0]);
    CAPTURE(c.args[3]);
    test::expectRefusedAtOnce(c.args, (dir.path / "err").string(), c.message, 10);
  }
}

TEST_CASE("io: checkFinite names the first tensor holding a NaN or infinity") {
  TensorMapD d;
  d["a"] = TensorD{{2}, {1.0, 2.0}};
  CHECK(checkFinite(d, "w.safetensors").ok());
  d["b.kernel"] = TensorD{{3}, {0.0, std::nan(""), 1.0}};
  Status nan = checkFinite(d, "w.safetensors");
  REQUIRE_FALSE(nan.ok());
  CHECK(nan.error() == "w.safetensors: tensor 'b.kernel' holds NaN at index 1 of 3; weights "
                       "must be finite numbers");
  TensorMap f;
  f["c"] = Tensor{{1}, {-std::numeric_limits<float>::infinity()}};
  Status inf = checkFinite(f, "x");
  REQUIRE_FALSE(inf.ok());
  CHECK(inf.error().find("tensor 'c' holds -infinity at index 0 of 1") != std::string::npos);
}

TEST_CASE("io: a model file or history that is a FIFO, a device, a directory or too big is "
          "refused at once") {
  TempDir dir;
  std::string fifo = (dir.path / "pipe").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  fs::path big = dir.path / "big.nn";
  std::ofstream(big) << "model m\n";
  fs::resize_file(big, 17ull << 20); // sparse
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  // Before the fix `nnc check /dev/zero` read until memory ran out and a FIFO blocked forever.
  const std::vector<Case> cases = {
      {{"check", "/dev/zero"}, "nnc: error: '/dev/zero' is a character device, not a regular file"},
      {{"summary", fifo}, "nnc: error: '" + fifo + "' is a FIFO (named pipe), not a regular file"},
      {{"dump", dir.path.string(), "--emit=ir"},
       "nnc: error: '" + dir.path.string() + "' is a directory, not a regular file"},
      {{"check", big.string()},
       "nnc: error: '" + big.string() + "' is 17 MiB; nnc reads model files of at most 16 MiB"},
      {{"plot", "/dev/zero", "--out", (dir.path / "p.png").string()},
       "nnc: error: '/dev/zero' is a character device, not a regular file"},
  };
  for (const Case &c : cases) {
    CAPTURE(c.args[0]);
    test::expectRefusedAtOnce(c.args, (dir.path / "err").string(), c.message, 10);
  }
  CHECK_FALSE(fs::exists(dir.path / "p.png"));
}
