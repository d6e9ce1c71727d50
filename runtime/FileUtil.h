// Whole-file reads and crash-safe writes. An atomic write goes to a temporary file in the
// target's directory, is fsynced, renamed over the target, and the directory is fsynced, so
// a reader sees either the old file or the complete new one, never a partial write.
#pragma once

#include "frontend/Diagnostics.h"

#include <string>
#include <string_view>

namespace nnc {

/// Reads the whole file at `path`; the error reads "cannot read 'PATH': REASON".
Result<std::string> readFileBytes(const std::string &path);

/// Replaces `path` with `bytes` atomically (temporary file, fsync, rename, directory fsync).
Status writeFileAtomic(const std::string &path, std::string_view bytes);

/// Flushes the directory entry list of `dir` to disk (after a rename or create inside it).
Status fsyncDirectory(const std::string &dir);

} // namespace nnc
