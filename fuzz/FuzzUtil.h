// What the reader fuzz targets share: stopping the run when an invariant of an accepted input
// fails (libFuzzer records the input as a crash), and the input as bytes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace nnc::fuzz {

/// Aborts with `what` unless `ok`: the reader accepted an input it cannot have meant to.
inline void mustHold(bool ok, const char *what) {
  if (ok) return;
  std::fprintf(stderr, "invariant failed: %s\n", what);
  std::abort();
}

/// The fuzz input as a byte string.
inline std::string_view bytesOf(const uint8_t *data, size_t size) {
  return {reinterpret_cast<const char *>(data), size};
}

} // namespace nnc::fuzz
