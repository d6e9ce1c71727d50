// A verified download, in steps: (1) FILE.part, if left by an earlier run, is kept and the
// transfer asks for the rest with a range request (libcurl's resume offset); a server that
// ignores ranges makes the .part start over. (2) Bytes are appended to the .part as they arrive;
// more than the expected size (or the limit) stops the transfer. (3) A connection lost after some
// data is resumed, up to the limit of attempts; a connection that cannot be made fails at once.
// (4) The complete .part is hashed with OpenSSL's EVP SHA-256; a mismatch deletes it, a match is
// fsynced and renamed to FILE. Progress ("Downloading data from URL", bytes / total) goes to the
// log: a bar redrawn in place on a terminal, one line at the end otherwise.
#include "runtime/Download.h"

#include "support/FileUtil.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace nnc {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

/// What one transfer attempt achieved.
enum class Outcome { Done, Retry, Restart, Complete, Failed };

struct Attempt {
  Outcome outcome;
  std::string error;
};

/// State shared with libcurl's callbacks during one transfer.
struct Transfer {
  int fd = -1;
  uint64_t offset = 0, received = 0, limit = 0, expected = 0;
  std::string part, writeError;
  /// "Downloading data from URL", printed when the first bytes arrive (then cleared).
  std::string announce;
  std::FILE *log = nullptr;
  bool tty = false;
  Clock::time_point start, lastShown;
};

std::string progressLine(uint64_t done, uint64_t total, double seconds) {
  std::string line = std::to_string(done) + "/" + (total ? std::to_string(total) : "?");
  if (total) {
    int filled = int(30 * std::min<uint64_t>(done, total) / total);
    line += " [" + std::string(size_t(filled), '=') + std::string(size_t(30 - filled), '.') + "]";
  }
  return line + " - " + std::to_string(int(seconds + 0.5)) + "s";
}

void announceOnce(Transfer &t) {
  if (t.announce.empty()) return;
  std::fprintf(t.log, "%s\n", t.announce.c_str());
  t.announce.clear();
}

size_t onData(char *ptr, size_t size, size_t count, void *user) {
  Transfer &t = *static_cast<Transfer *>(user);
  size_t n = size * count;
  announceOnce(t);
  if (t.offset + t.received + n > t.limit) {
    t.writeError = "the server sent more than the " + std::to_string(t.limit) + " bytes expected";
    return 0;
  }
  for (size_t done = 0; done < n;) {
    ssize_t w = ::write(t.fd, ptr + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      t.writeError = "cannot write '" + t.part + "': " + std::strerror(errno);
      return 0;
    }
    done += size_t(w);
  }
  t.received += n;
  return n;
}

uint64_t totalOf(const Transfer &t, curl_off_t remaining) {
  return t.expected ? t.expected : remaining > 0 ? t.offset + uint64_t(remaining) : 0;
}

int onProgress(void *user, curl_off_t remaining, curl_off_t now, curl_off_t, curl_off_t) {
  Transfer &t = *static_cast<Transfer *>(user);
  Clock::time_point at = Clock::now();
  if (!t.tty || now <= 0 || at - t.lastShown < std::chrono::milliseconds(200)) return 0;
  t.lastShown = at;
  double seconds = std::chrono::duration<double>(at - t.start).count();
  std::fprintf(t.log, "\r%s",
               progressLine(t.offset + uint64_t(now), totalOf(t, remaining), seconds).c_str());
  std::fflush(t.log);
  return 0;
}

using CurlPtr = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;

/// Sets the options of one transfer of `url` from byte `t.offset` on into `t`.
void configure(CURL *c, const std::string &url, Transfer &t, const DownloadLimits &limits,
               char *errorBuffer) {
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errorBuffer);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "nnc");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, limits.connectTimeoutSeconds);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, limits.lowSpeedBytes);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, limits.lowSpeedSeconds);
  curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, curl_off_t(t.offset));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, onProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
}

/// Classifies a finished transfer: done, worth resuming, to restart, or failed (with why).
Attempt classify(CURLcode code, long http, const Transfer &t, const std::string &url,
                 const char *errorBuffer) {
  if (code == CURLE_OK) return {Outcome::Done, ""};
  std::string why = !t.writeError.empty()               ? t.writeError
                    : code == CURLE_HTTP_RETURNED_ERROR ? "HTTP status " + std::to_string(http)
                    : *errorBuffer                      ? std::string(errorBuffer)
                                                        : std::string(curl_easy_strerror(code));
  why = url + ": " + why;
  if (!t.writeError.empty()) return {Outcome::Failed, why};
  if (code == CURLE_RANGE_ERROR) return {Outcome::Restart, why};
  if (code == CURLE_HTTP_RETURNED_ERROR && http == 416 && t.offset > 0)
    return {Outcome::Complete, ""}; // nothing past the .part: it may already be whole
  bool lost = code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR ||
              code == CURLE_OPERATION_TIMEDOUT || code == CURLE_GOT_NOTHING;
  return {lost && t.received > 0 ? Outcome::Retry : Outcome::Failed, why};
}

/// One transfer of the rest of `spec` (from byte `offset` on) appended to `part`; `announce`
/// is printed once data arrives.
Attempt transferOnce(const DownloadSpec &spec, const std::string &part, uint64_t offset,
                     const DownloadLimits &limits, std::FILE *log, const std::string &announce) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (offset ? O_APPEND : O_TRUNC);
  int fd = ::open(part.c_str(), flags, 0644);
  if (fd < 0) return {Outcome::Failed, "cannot write '" + part + "': " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return {Outcome::Failed, "'" + part + "' is not a regular file"};
  }
  Transfer t;
  t.fd = fd;
  t.offset = offset;
  t.expected = spec.size;
  t.limit = spec.size ? spec.size : limits.maxBytes;
  t.part = part;
  t.announce = announce;
  t.log = log;
  t.tty = ::isatty(::fileno(log));
  t.start = Clock::now();
  char errorBuffer[CURL_ERROR_SIZE] = "";
  CurlPtr c(curl_easy_init(), &curl_easy_cleanup);
  if (!c) {
    ::close(fd);
    return {Outcome::Failed, "cannot start libcurl"};
  }
  configure(c.get(), spec.url, t, limits, errorBuffer);
  CURLcode code = curl_easy_perform(c.get());
  long http = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &http);
  curl_off_t remaining = 0;
  curl_easy_getinfo(c.get(), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &remaining);
  double seconds = std::chrono::duration<double>(Clock::now() - t.start).count();
  if (code == CURLE_OK) announceOnce(t);
  if (code == CURLE_OK || t.received > 0)
    std::fprintf(log, "%s%s\n", t.tty ? "\r" : "",
                 progressLine(offset + t.received, totalOf(t, remaining), seconds).c_str());
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  Attempt a = classify(code, http, t, spec.url, errorBuffer);
  if (a.outcome == Outcome::Failed && offset == 0 && t.received == 0) ::unlink(part.c_str());
  if (a.outcome == Outcome::Done && !synced)
    return {Outcome::Failed, "cannot sync '" + part + "': " + std::strerror(errno)};
  if (a.outcome == Outcome::Retry)
    std::fprintf(log, "the connection was lost after %llu bytes; resuming\n",
                 static_cast<unsigned long long>(offset + t.received));
  return a;
}

/// The size of an existing .part (0 if there is none), or why it cannot be used.
Result<uint64_t> partSize(const std::string &part) {
  struct stat st {};
  if (::lstat(part.c_str(), &st) != 0) {
    if (errno == ENOENT) return uint64_t(0);
    return Error{"cannot inspect '" + part + "': " + std::strerror(errno)};
  }
  if (!S_ISREG(st.st_mode)) return Error{"'" + part + "' is not a regular file"};
  return uint64_t(st.st_size);
}

/// Transfers until `part` holds the whole file (as far as the server says), resuming it.
Status fetchPart(const DownloadSpec &spec, const std::string &part, const DownloadLimits &limits,
                 std::FILE *log) {
  for (int attempt = 1;; ++attempt) {
    Result<uint64_t> offset = partSize(part);
    if (!offset) return Error{offset.error()};
    if (spec.size && *offset > spec.size) {
      fs::remove(part);
      *offset = 0;
    }
    if (spec.size && *offset == spec.size) return okStatus();
    std::string announce =
        attempt > 1 ? ""
                    : "Downloading data from " + spec.url +
                          (*offset ? " (resuming at byte " + std::to_string(*offset) + ")" : "");
    Attempt a = transferOnce(spec, part, *offset, limits, log, announce);
    if (a.outcome == Outcome::Done || a.outcome == Outcome::Complete) return okStatus();
    if (a.outcome == Outcome::Failed || attempt >= limits.attempts)
      return Error{a.outcome == Outcome::Failed
                       ? a.error
                       : a.error + " (gave up after " + std::to_string(attempt) + " attempts)"};
    if (a.outcome == Outcome::Restart) fs::remove(part);
  }
}

/// Flushes the file at `path` to disk.
Status fsyncFile(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open '" + path + "': " + std::strerror(errno)};
  bool ok = ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok) return Error{"cannot sync '" + path + "': " + std::strerror(err)};
  return okStatus();
}

} // namespace

Result<std::string> sha256File(const std::string &path) {
  Result<ByteSource> src = ByteSource::openFile(path);
  if (!src) return Error{src.error()};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return Error{path + ": cannot start SHA-256"};
  std::vector<uint8_t> chunk(1 << 20);
  for (uint64_t pos = 0; pos < src->size();) {
    size_t n = size_t(std::min<uint64_t>(chunk.size(), src->size() - pos));
    if (Status s = src->read(pos, chunk.data(), n); !s) return Error{s.error()};
    if (EVP_DigestUpdate(ctx.get(), chunk.data(), n) != 1) return Error{path + ": SHA-256 failed"};
    pos += n;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) return Error{path + ": SHA-256 failed"};
  static const char *hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

Status downloadVerified(const DownloadSpec &spec, std::FILE *log, const DownloadLimits &limits) {
  static std::once_flag curlReady;
  std::call_once(curlReady, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::string part = spec.path + ".part";
  if (Status s = fetchPart(spec, part, limits, log); !s) return s;
  Result<std::string> got = sha256File(part);
  if (!got) return Error{got.error()};
  if (*got != spec.sha256) {
    std::error_code ec;
    fs::remove(part, ec);
    return Error{spec.path + ": SHA-256 mismatch: expected " + spec.sha256 + ", got " + *got +
                 " (downloaded from " + spec.url + "; the download was deleted)"};
  }
  if (Status s = fsyncFile(part); !s) return s;
  if (std::rename(part.c_str(), spec.path.c_str()) != 0)
    return Error{"cannot rename '" + part + "' to '" + spec.path + "': " + std::strerror(errno)};
  return fsyncDirectory(fs::path(spec.path).parent_path().string());
}

} // namespace nnc
