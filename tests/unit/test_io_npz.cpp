// .npy / .npz reading: arrays written by numpy itself (savez, savez_compressed, each npy format
// version), and archives built here with libzip for each refusal: wrong dtype, Fortran order,
// truncated member, trailing data, header errors, a missing member, a cut zip file, and the MNIST
// reader's shape checks.
#include "runtime/Mnist.h"
#include "runtime/Npz.h"

#include "TestUtil.h"

#include <doctest/doctest.h>

#include <zip.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>

using namespace nnc;
using nnc::test::slurp;
using nnc::test::TempDir;
namespace fs = std::filesystem;

namespace {

/// An npy file of version 1.0 with header dict `dict` (padded to 64 bytes) and `data`.
std::string npy(const std::string &dict, const std::string &data, int major = 1) {
  size_t lenBytes = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((10 + lenBytes - 2 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + char(major) + char(0);
  for (size_t i = 0; i < lenBytes; ++i) out += char((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string u8(const std::string &shape) {
  return "{'descr': '|u1', 'fortran_order': False, 'shape': " + shape + ", }";
}

/// Writes a zip at `path` holding `members` (name -> bytes), deflated.
void writeZip(const fs::path &path, const std::map<std::string, std::string> &members) {
  int err = 0;
  zip_t *za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  REQUIRE(za);
  for (const auto &[name, bytes] : members) {
    zip_source_t *src = zip_source_buffer(za, bytes.data(), bytes.size(), 0);
    REQUIRE(src);
    REQUIRE(zip_file_add(za, name.c_str(), src, ZIP_FL_OVERWRITE) >= 0);
  }
  REQUIRE(zip_close(za) == 0);
}

std::string npzError(const fs::path &path, const std::vector<std::string> &members) {
  Result<std::map<std::string, NpyArray>> r = readNpzFile(path.string(), members);
  return r ? std::string("(accepted)") : r.error();
}

} // namespace

TEST_CASE("io: npz archives written by numpy are read exactly") {
  TempDir dir;
  std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "a = (np.arange(2 * 3 * 4) * 7 % 256).astype(np.uint8).reshape(2, 3, 4)\n"
      "b = np.array([3, 1, 4, 1, 5], dtype=np.uint8)\n"
      "np.savez(d + '/plain.npz', a=a, b=b)\n"
      "np.savez_compressed(d + '/packed.npz', a=a, b=b, empty=np.zeros((0, 3), np.uint8))\n"
      "np.savez(d + '/float.npz', a=a.astype(np.float32), b=b)\n"
      "np.savez(d + '/fortran.npz', a=np.asfortranarray(a), b=b)\n"
      "for v in [(1, 0), (2, 0), (3, 0)]:\n"
      "    with open(d + '/v%d.npy' % v[0], 'wb') as f:\n"
      "        np.lib.format.write_array(f, a, version=v)\n";
  std::ofstream(dir.path / "make.py") << script;
  std::string cmd = "/usr/bin/python3 " + (dir.path / "make.py").string() + " " + dir.path.string();
  REQUIRE(std::system(cmd.c_str()) == 0);

  for (const char *file : {"plain.npz", "packed.npz"}) {
    CAPTURE(file);
    Result<std::map<std::string, NpyArray>> r =
        readNpzFile((dir.path / file).string(), {"a.npy", "b.npy"});
    REQUIRE_MESSAGE(r.ok(), r.error());
    NpyArray &a = (*r)["a.npy"];
    CHECK(a.shape == std::vector<int64_t>{2, 3, 4});
    REQUIRE(a.data.size() == 24);
    for (size_t i = 0; i < 24; ++i) CHECK(a.data[i] == uint8_t(i * 7 % 256));
    CHECK((*r)["b.npy"].data == std::vector<uint8_t>{3, 1, 4, 1, 5});
    CHECK((*r)["b.npy"].shape == std::vector<int64_t>{5});
  }
  Result<std::map<std::string, NpyArray>> empty =
      readNpzFile((dir.path / "packed.npz").string(), {"empty.npy"});
  REQUIRE_MESSAGE(empty.ok(), empty.error());
  CHECK((*empty)["empty.npy"].shape == std::vector<int64_t>{0, 3});

  std::string floatPath = (dir.path / "float.npz").string();
  CHECK(npzError(floatPath, {"a.npy"}) ==
        floatPath +
            ", member a.npy: dtype '<f4' is not uint8 ('|u1'): nnc reads only uint8 arrays");
  std::string fortranPath = (dir.path / "fortran.npz").string();
  CHECK(npzError(fortranPath, {"a.npy"}) ==
        fortranPath + ", member a.npy: fortran_order is True: nnc reads only C-order arrays");
  CHECK(npzError(dir.path / "plain.npz", {"c.npy"}) ==
        (dir.path / "plain.npz").string() + ": the npz archive has no member c.npy");

  for (const char *v : {"v1.npy", "v2.npy", "v3.npy"}) {
    CAPTURE(v);
    Result<NpyArray> a = parseNpy(slurp(dir.path / v), v);
    REQUIRE_MESSAGE(a.ok(), a.error());
    CHECK(a->shape == std::vector<int64_t>{2, 3, 4});
    CHECK(a->data[5] == 35);
  }
}

TEST_CASE("io: npz members are refused by their header, size and the archive's integrity") {
  TempDir dir;
  fs::path zip = dir.path / "t.npz";
  std::string at = zip.string() + ", member m.npy: ";
  struct Case {
    const char *what;
    std::string member, message;
  };
  const std::vector<Case> cases = {
      {"valid", npy(u8("(2, 3)"), "abcdef"), "(accepted)"},
      {"truncated member", npy(u8("(10,)"), "abcde"),
       at + "truncated data: the header promises shape (10,) of uint8 (10 bytes) but only 5 bytes "
            "follow"},
      {"trailing data", npy(u8("(2,)"), "abc"),
       at + "1 trailing bytes after the data of shape (2,) of uint8 (2 bytes)"},
      {"wrong dtype", npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", "12345678"),
       at + "dtype '<i8' is not uint8 ('|u1'): nnc reads only uint8 arrays"},
      {"not npy", "PK this is not an npy file", at + "not an npy file"},
      {"version 4", npy(u8("(1,)"), "a", 4), at + "npy format version 4.0"},
      {"unknown key", npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), 'x': 1}", "a"),
       at + "npy header, byte 66: unknown key 'x'"},
      {"key twice", npy("{'descr': '|u1', 'descr': '|u1'}", "a"),
       at + "npy header, byte 27: the key 'descr' is given twice"},
      {"missing shape", npy("{'descr': '|u1', 'fortran_order': False}", "a"),
       at + "the npy header has no 'shape' key"},
      {"shape not a tuple", npy("{'descr': '|u1', 'fortran_order': False, 'shape': [1]}", "a"),
       at + "npy header, byte 60: expected a tuple '(...)' for 'shape', found '['"},
      {"negative dimension", npy(u8("(-1,)"), "a"),
       at + "npy header, byte 61: expected a non-negative integer dimension, found '-'"},
      {"overflowing shape", npy(u8("(4294967296, 4294967296)"), ""),
       at + "the array of shape (4294967296, 4294967296) is larger than 4 GiB"},
      {"bad fortran_order", npy("{'descr': '|u1', 'fortran_order': 0, 'shape': (1,)}", "a"),
       at + "npy header, byte 44: expected True or False for 'fortran_order', found '0'"},
  };
  for (const Case &c : cases) {
    CAPTURE(c.what);
    writeZip(zip, {{"m.npy", c.member}});
    std::string err = npzError(zip, {"m.npy"});
    CHECK_MESSAGE(err.find(c.message) == 0, err);
  }

  // A header without its newline, and one longer than the file.
  std::string noNewline = npy(u8("(1,)"), "a");
  noNewline[noNewline.size() - 2] = ' ';
  CHECK(parseNpy(noNewline, "n").error() == "n: the npy header does not end with a newline");
  std::string cut = npy(u8("(1,)"), "a").substr(0, 40);
  CHECK(parseNpy(cut, "c").error() ==
        "c: truncated npy header: it is 118 bytes but only 30 follow");

  // A zip file cut in half is refused by libzip, naming the file.
  writeZip(zip, {{"m.npy", npy(u8("(300,)"), std::string(300, 'z'))}});
  std::string whole = slurp(zip);
  std::ofstream(zip, std::ios::binary | std::ios::trunc) << whole.substr(0, whole.size() / 2);
  CHECK(npzError(zip, {"m.npy"}).find(zip.string() + ": not a readable npz (zip) archive: ") == 0);
  CHECK(npzError(dir.path, {"m.npy"}).find("directory") != std::string::npos);
}

TEST_CASE("io: Keras's mnist.npz needs matching image and label shapes") {
  TempDir dir;
  fs::path zip = dir.path / "mnist.npz";
  std::string px(3 * 2 * 2, char(7));
  auto write = [&](const std::string &xShape, const std::string &yShape, const std::string &y) {
    writeZip(zip, {{"x_train.npy", npy(u8(xShape), px)},
                   {"y_train.npy", npy(u8(yShape), y)},
                   {"x_test.npy", npy(u8("(1, 2, 2)"), std::string(4, 'a'))},
                   {"y_test.npy", npy(u8("(1,)"), std::string(1, char(5)))}});
    Result<DataSplit> r = readKerasMnist(zip.string());
    return r ? std::string("(accepted)") : r.error();
  };
  std::string at = zip.string() + ", member ";
  CHECK(write("(3, 2, 2)", "(3,)", std::string("\1\2\3", 3)) == "(accepted)");
  CHECK(write("(3, 2, 2)", "(2,)", std::string("\1\2", 2)) ==
        at + "y_train.npy: shape (2,), but x_train.npy holds 3 images: expected (3,)");
  CHECK(write("(3, 4)", "(3,)", std::string("\1\2\3", 3)) ==
        at + "x_train.npy: shape (3, 4) is not (count, rows, cols)");
  CHECK(write("(3, 2, 2)", "(3,)", std::string("\1\2\x0c", 3)) ==
        at + "y_train.npy: label 12 of sample 2 is outside 0..9");
  writeZip(zip, {{"x_train.npy", npy(u8("(3, 2, 2)"), px)}});
  CHECK(readKerasMnist(zip.string()).error() ==
        zip.string() + ": the npz archive has no member y_train.npy");
}
