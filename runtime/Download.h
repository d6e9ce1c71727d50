// Verified downloads with libcurl: a file is fetched to FILE.part (a truncated .part is resumed
// with an HTTP range request), its SHA-256 (OpenSSL EVP) is checked, and only then is it renamed
// to FILE. Short connect timeouts and a low-speed limit keep a dead network from hanging.
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <cstdio>
#include <string>

namespace nnc {

/// A file to fetch: where from, where to, and what its bytes must be.
struct DownloadSpec {
  std::string url;
  /// The final path; the transfer goes to path + ".part" first.
  std::string path;
  /// The expected SHA-256 as 64 lowercase hex digits.
  std::string sha256;
  /// The expected size in bytes, or 0 when unknown.
  uint64_t size = 0;
};

/// How long and how much a transfer may take.
struct DownloadLimits {
  long connectTimeoutSeconds = 5;
  /// A transfer slower than lowSpeedBytes per second for lowSpeedSeconds is abandoned.
  long lowSpeedBytes = 1024;
  long lowSpeedSeconds = 15;
  /// The most bytes a file may have (when its size is unknown).
  uint64_t maxBytes = 256ull << 20;
  /// Transfers tried per file; a connection lost mid-file is resumed from where it stopped.
  int attempts = 3;
};

/// Downloads `spec` (resuming an earlier FILE.part), verifies its SHA-256 and renames it into
/// place; progress goes to `log`. A hash mismatch deletes the .part and names both hashes.
Status downloadVerified(const DownloadSpec &spec, std::FILE *log,
                        const DownloadLimits &limits = {});

/// The SHA-256 of the regular file at `path` as 64 lowercase hex digits.
Result<std::string> sha256File(const std::string &path);

} // namespace nnc
