// Helpers shared by unit tests of several areas: a scratch directory that removes itself, an
// environment variable set for one scope, and a small MNIST-format dataset cut from the bundled
// digits.
#pragma once

#include "runtime/Idx.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace nnc::test {

/// A fresh directory under the system temp dir (named `prefix` + a unique suffix), removed at
/// scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string &prefix = "nnc_test_") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    path = mkdtemp(tmpl.data());
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// Sets (or, given nullopt, unsets) an environment variable for one scope, then restores it.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(const std::string &n, const std::optional<std::string> &value) : name(n) {
    if (const char *v = std::getenv(n.c_str())) old = v;
    if (value)
      setenv(n.c_str(), value->c_str(), 1);
    else
      unsetenv(n.c_str());
  }
  ScopedEnv(const ScopedEnv &) = delete;
  ScopedEnv &operator=(const ScopedEnv &) = delete;
  ~ScopedEnv() {
    if (old)
      setenv(name.c_str(), old->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

/// Writes the first `train` and `test` bundled digits as raw IDX files into `dir` (created);
/// returns an error message, or "" on success.
inline std::string writeSmallMnist(const std::filesystem::path &dir, int64_t train, int64_t test) {
  Result<DataSplit> d = loadDataset("mnist-10k");
  if (!d.ok()) return d.error();
  std::filesystem::create_directories(dir);
  auto be32 = [](std::string &s, uint32_t v) {
    for (int sh = 24; sh >= 0; sh -= 8) s.push_back(char((v >> sh) & 0xff));
  };
  auto write = [&](const Dataset &ds, int64_t n, const std::string &prefix) {
    std::string img, lab;
    be32(img, 0x803);
    be32(img, uint32_t(n));
    be32(img, uint32_t(ds.rows));
    be32(img, uint32_t(ds.cols));
    img.append(reinterpret_cast<const char *>(ds.pixels.data()), size_t(n * ds.rows * ds.cols));
    be32(lab, 0x801);
    be32(lab, uint32_t(n));
    lab.append(reinterpret_cast<const char *>(ds.labels.data()), size_t(n));
    std::ofstream(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary) << img;
    std::ofstream(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary) << lab;
  };
  write(d->train, train, "train");
  write(d->test, test, "t10k");
  return "";
}

/// The whole contents of the file at `p` ("" if it cannot be read).
inline std::string slurp(const std::filesystem::path &p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The names in `dir` that are temporaries of atomic writes (".NAME.tmp-XXXXXX").
inline std::vector<std::string> temporaries(const std::filesystem::path &dir) {
  std::vector<std::string> out;
  for (const auto &e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos)
      out.push_back(e.path().filename().string());
  return out;
}

} // namespace nnc::test
