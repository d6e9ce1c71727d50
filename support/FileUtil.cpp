// Bounded reads and atomic writes with POSIX calls. Opening: stat the path and refuse what is
// not a regular file before opening it (so a FIFO never blocks us), then open with O_NONBLOCK
// and fstat again in case the path changed in between. Reads use pread at explicit offsets.
// writeFileAtomic: remove stale temporaries of the same target, mkstemp a hidden temporary
// next to the target, write all bytes, fchmod to the target's (or the umask's) mode, fsync,
// close, rename over the target, fsync the directory; any failure removes the temporary and
// leaves the old target untouched.
#include "support/FileUtil.h"

#include <xxhash.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <new>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace nnc {

namespace {

std::string errnoText() {
  return std::strerror(errno);
}

/// The directory part of `path` ("." when there is none).
std::string dirName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string baseName(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// The process umask, read from /proc without changing it (022 if unavailable).
mode_t currentUmask() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Umask:", 0) == 0)
      return static_cast<mode_t>(std::strtol(line.c_str() + 6, nullptr, 8));
  return 022;
}

/// What a non-regular file is, for "'PATH' is a FIFO (named pipe), not a regular file".
const char *fileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISREG(mode)) return "a file";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

Error notRegular(const std::string &path, mode_t mode) {
  return Error{"'" + path + "' is " + fileKind(mode) + ", not a regular file"};
}

/// The hidden temporary names writeFileAtomic gives `base` (mkstemp's six characters).
bool isTemporaryOf(const std::string &name, const std::string &base) {
  std::string prefix = "." + base + ".tmp-";
  return name.size() == prefix.size() + 6 && name.compare(0, prefix.size(), prefix) == 0;
}

/// Removes temporaries of `base` in `dir` left by writers that were killed mid-write.
void removeStaleTemporaries(const std::string &dir, const std::string &base) {
  DIR *d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent *e = ::readdir(d))
    if (isTemporaryOf(e->d_name, base)) stale.emplace_back(e->d_name);
  ::closedir(d);
  for (const std::string &name : stale) ::unlink(((dir == "/" ? "" : dir) + "/" + name).c_str());
}

/// Why nothing can be created in directory `dir` ("" if something can): missing, not a
/// directory, or not writable.
std::string notWritableDirectory(const std::string &dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return "directory '" + dir + "': " + errnoText();
  if (!S_ISDIR(st.st_mode)) return "'" + dir + "' is " + fileKind(st.st_mode) + ", not a directory";
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return "directory '" + dir + "' is not writable: " + errnoText();
  return "";
}

} // namespace

Status createDirectories(const std::string &dir) {
  std::string cur;
  size_t i = 0;
  while (i <= dir.size()) {
    size_t slash = dir.find('/', i);
    if (slash == std::string::npos) slash = dir.size();
    cur = dir.substr(0, slash);
    i = slash + 1;
    if (cur.empty()) continue;
    struct stat st;
    if (::stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        return Error{"cannot create directory '" + dir + "': '" + cur + "' is not a directory"};
      continue;
    }
    if (::mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST)
      return Error{"cannot create directory '" + dir + "': " + std::strerror(errno)};
  }
  return okStatus();
}

Status checkWritableFile(const std::string &path) {
  if (path.empty() || path.back() == '/')
    return Error{"cannot write '" + path + "': not a file name"};
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Error{"cannot write '" + path + "': it is a directory"};
  if (std::string why = notWritableDirectory(dirName(path)); !why.empty())
    return Error{"cannot write '" + path + "': " + why};
  return okStatus();
}

Status checkCreatableDirectory(const std::string &dir) {
  if (dir.empty()) return Error{"cannot use '' as a directory: the name is empty"};
  std::string existing = dir;
  while (existing.size() > 1 && existing.back() == '/') existing.pop_back();
  struct stat st;
  while (::stat(existing.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR)
      return Error{"cannot create '" + dir + "': " + errnoText()};
    std::string parent = dirName(existing);
    if (parent == existing) break;
    existing = parent;
  }
  if (std::string why = notWritableDirectory(existing); !why.empty())
    return Error{"cannot create or write '" + dir + "': " + why};
  return okStatus();
}

Result<ByteSource> ByteSource::openFile(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Error{"cannot read '" + path + "': " + errnoText()};
  if (!S_ISREG(st.st_mode)) return notRegular(path, st.st_mode);
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot read '" + path + "': " + errnoText()};
  ByteSource src;
  src.fd_ = fd;
  src.name_ = path;
  if (::fstat(fd, &st) != 0) return Error{"cannot read '" + path + "': " + errnoText()};
  if (!S_ISREG(st.st_mode)) return notRegular(path, st.st_mode);
  src.size_ = static_cast<uint64_t>(st.st_size);
  return src;
}

ByteSource ByteSource::memory(std::string_view bytes, std::string name) {
  ByteSource src;
  src.bytes_ = bytes;
  src.name_ = std::move(name);
  src.size_ = bytes.size();
  return src;
}

ByteSource::ByteSource(ByteSource &&other) noexcept
    : fd_(other.fd_), bytes_(other.bytes_), name_(std::move(other.name_)), size_(other.size_) {
  other.fd_ = -1;
}

ByteSource &ByteSource::operator=(ByteSource &&other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) ::close(fd_);
  fd_ = other.fd_;
  bytes_ = other.bytes_;
  name_ = std::move(other.name_);
  size_ = other.size_;
  other.fd_ = -1;
  return *this;
}

ByteSource::~ByteSource() {
  if (fd_ >= 0) ::close(fd_);
}

Status ByteSource::read(uint64_t offset, void *dst, size_t n) const {
  if (offset > size_ || n > size_ - offset)
    return Error{name_ + ": reading " + std::to_string(n) + " bytes at offset " +
                 std::to_string(offset) + " runs past the end (" + std::to_string(size_) +
                 " bytes)"};
  if (fd_ < 0) {
    if (n) std::memcpy(dst, bytes_.data() + offset, n);
    return okStatus();
  }
  char *out = static_cast<char *>(dst);
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error{"cannot read '" + name_ + "': " + errnoText()};
    if (got == 0)
      return Error{"cannot read '" + name_ + "': the file ended at " +
                   std::to_string(offset + done) + " bytes (it shrank while being read)"};
    done += static_cast<size_t>(got);
  }
  return okStatus();
}

std::string byteSizeText(uint64_t bytes) {
  static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = double(bytes);
  int u = -1;
  while (v >= 1024 && u < 3) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 && v != double(int64_t(v)) ? "%.1f %s" : "%.0f %s", v,
                units[u]);
  return buf;
}

Result<std::string> readFileBytes(const std::string &path, uint64_t maxBytes, const char *what) {
  Result<ByteSource> src = ByteSource::openFile(path);
  if (!src) return Error{src.error()};
  if (src->size() > maxBytes)
    return Error{"'" + path + "' is " + byteSizeText(src->size()) + "; nnc reads " + what +
                 " of at most " + byteSizeText(maxBytes)};
  std::string out;
  try {
    out.resize(static_cast<size_t>(src->size()));
  } catch (const std::bad_alloc &) {
    return Error{"cannot read '" + path + "': not enough memory for its " +
                 byteSizeText(src->size())};
  }
  if (Status s = src->read(0, out.data(), out.size()); !s) return Error{s.error()};
  return out;
}

Status fsyncDirectory(const std::string &dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open directory '" + dir + "' to sync it: " + errnoText()};
  int rc = ::fsync(fd);
  std::string msg = rc != 0 ? errnoText() : "";
  ::close(fd);
  // Some file systems do not support fsync on directories; that is not a write failure.
  if (rc != 0 && msg != std::strerror(EINVAL) && msg != std::strerror(ENOTSUP))
    return Error{"cannot sync directory '" + dir + "': " + msg};
  return okStatus();
}

Status writeFileAtomic(const std::string &path, std::string_view bytes) {
  if (path.empty() || path.back() == '/')
    return Error{"cannot write '" + path + "': not a file name"};
  std::string dir = dirName(path);
  removeStaleTemporaries(dir, baseName(path));
  std::string tmpl = (dir == "/" ? "" : dir) + "/." + baseName(path) + ".tmp-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0)
    return Error{"cannot write '" + path + "': cannot create a temporary file in '" + dir +
                 "': " + errnoText()};
  std::string tmp(name.data());
  auto fail = [&](const std::string &what) -> Status {
    std::string msg = "cannot write '" + path + "': " + what + ": " + errnoText();
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return Error{msg};
  };

  struct stat st;
  mode_t mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : (0666 & ~currentUmask());
  if (::fchmod(fd, mode) != 0) return fail("cannot set the file mode");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write failed");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("fsync failed");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) return fail("close failed");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename failed");
  return fsyncDirectory(dir);
}

} // namespace nnc

namespace nnc {

uint64_t contentHash(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

Result<DirectoryLock> DirectoryLock::acquire(const std::string &dir) {
  DirectoryLock lock;
  lock.path_ = (dir.empty() || dir.back() == '/' ? dir : dir + "/") + ".lock";
  lock.fd_ = ::open(lock.path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (lock.fd_ < 0)
    return Error{"cannot lock '" + dir + "': cannot open '" + lock.path_ + "': " + errnoText()};
  if (::flock(lock.fd_, LOCK_EX | LOCK_NB) == 0) return lock;
  if (errno != EWOULDBLOCK) return Error{"cannot lock '" + dir + "': " + errnoText()};
  char buf[32] = {};
  ssize_t n = ::pread(lock.fd_, buf, sizeof buf - 1, 0);
  std::string pid = n > 0 ? std::string(buf, size_t(n)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return Error{"'" + dir + "' is in use by another process (PID " +
               (pid.empty() ? std::string("not yet written") : pid) + ")"};
}

Status DirectoryLock::claim() {
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
    return Error{"cannot write '" + path_ + "': " + errnoText()};
  return okStatus();
}

DirectoryLock::DirectoryLock(DirectoryLock &&other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

DirectoryLock &DirectoryLock::operator=(DirectoryLock &&other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) ::close(fd_);
  fd_ = other.fd_;
  path_ = std::move(other.path_);
  other.fd_ = -1;
  return *this;
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_); // closing the only descriptor releases the flock
}

} // namespace nnc
