// Helpers shared by unit tests of several areas: a scratch directory that removes itself.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

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

} // namespace nnc::test
