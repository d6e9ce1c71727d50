// Whole-file reads and atomic writes with POSIX calls. writeFileAtomic: mkstemp a hidden
// temporary next to the target, write all bytes, fchmod to the target's (or the umask's)
// mode, fsync, close, rename over the target, fsync the directory; any failure removes the
// temporary and leaves the old target untouched.
#include "runtime/FileUtil.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
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

} // namespace

Result<std::string> readFileBytes(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot read '" + path + "': " + errnoText()};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    std::string msg = "cannot read '" + path + "': " + errnoText();
    ::close(fd);
    return Error{msg};
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Error{"cannot read '" + path + "': it is a directory"};
  }
  std::string out;
  if (S_ISREG(st.st_mode)) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string msg = "cannot read '" + path + "': " + errnoText();
      ::close(fd);
      return Error{msg};
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
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
