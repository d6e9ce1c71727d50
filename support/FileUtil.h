// Bounded reads and crash-safe writes. Readers open only regular files (a FIFO, device or
// directory is refused by name without blocking on it), learn the size from fstat before
// reading anything, and read through a ByteSource, which serves a file or a memory buffer
// alike so every parser can be fuzzed on memory. An atomic write goes to a temporary file in
// the target's directory, is fsynced, renamed over the target, and the directory is fsynced,
// so a reader sees either the old file or the complete new one, never a partial write.
#pragma once

#include "support/Result.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace nnc {

/// Random-access bytes of known size: an open regular file or a memory buffer (move-only).
class ByteSource {
public:
  /// Opens `path` for reading; refuses anything but a regular file, naming what it is.
  static Result<ByteSource> openFile(const std::string &path);
  /// Serves `bytes` (which must outlive the source); `name` is used in messages.
  static ByteSource memory(std::string_view bytes, std::string name);

  ByteSource(ByteSource &&other) noexcept;
  ByteSource &operator=(ByteSource &&other) noexcept;
  ByteSource(const ByteSource &) = delete;
  ByteSource &operator=(const ByteSource &) = delete;
  ~ByteSource();

  /// The file name (or the memory buffer's name) for messages.
  const std::string &name() const { return name_; }
  /// The size in bytes (from fstat for a file).
  uint64_t size() const { return size_; }
  /// Reads exactly `n` bytes at `offset` into `dst`; reading past size() is an error.
  Status read(uint64_t offset, void *dst, size_t n) const;

private:
  ByteSource() = default;
  int fd_ = -1;
  std::string_view bytes_;
  std::string name_;
  uint64_t size_ = 0;
};

/// "1.5 GiB", "300 KiB", "12 bytes": a byte count for messages.
std::string byteSizeText(uint64_t bytes);

/// Reads the whole regular file at `path` if it holds at most `maxBytes`; `what` names the
/// kind of file in the size error ("safetensors files"). Errors name the file and the reason.
Result<std::string> readFileBytes(const std::string &path, uint64_t maxBytes, const char *what);

/// Replaces `path` with `bytes` atomically (temporary file, fsync, rename, directory fsync).
/// Temporaries left by earlier writers of `path` that were killed are removed first.
Status writeFileAtomic(const std::string &path, std::string_view bytes);

/// Creates directory `dir` and its missing parents (like mkdir -p).
Status createDirectories(const std::string &dir);

/// Checks, creating nothing, that a file can be written at `path`: its directory exists and
/// is writable, and `path` is not a directory. Errors say which part is wrong.
Status checkWritableFile(const std::string &path);

/// Checks, creating nothing, that directory `dir` exists and is writable or can be created:
/// its nearest existing ancestor is a writable directory.
Status checkCreatableDirectory(const std::string &dir);

/// The XXH3 64-bit hash of `bytes` (xxHash's, seed 0): checkpoints keep it per tensor so a
/// changed bit is found; contentHash("") is 0x2d06800538d394c2.
uint64_t contentHash(std::string_view bytes);

/// An exclusive advisory lock (flock) on DIR/.lock, which holds the owner's process id once
/// claimed; released when the lock is destroyed or the process ends (even by SIGKILL).
class DirectoryLock {
public:
  /// Locks `dir` (which must exist) without waiting; when another process holds the lock the
  /// error names it: "'DIR' is in use by another process (PID 1234)".
  static Result<DirectoryLock> acquire(const std::string &dir);
  /// Writes this process's id into the lock file, for the message a later contender gets.
  Status claim();

  DirectoryLock(DirectoryLock &&other) noexcept;
  DirectoryLock &operator=(DirectoryLock &&other) noexcept;
  DirectoryLock(const DirectoryLock &) = delete;
  DirectoryLock &operator=(const DirectoryLock &) = delete;
  ~DirectoryLock();

private:
  DirectoryLock() = default;
  int fd_ = -1;
  std::string path_;
};

/// Flushes the directory entry list of `dir` to disk (after a rename or create inside it).
Status fsyncDirectory(const std::string &dir);

} // namespace nnc
