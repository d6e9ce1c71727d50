// Full MNIST as Keras gets it, without the internet: the lookup order ($NNC_DATA/mnist, Keras's
// mnist.npz, nnc's cache), and the download against tests/data/range_server.py on 127.0.0.1
// serving a small MNIST-format split: success, resume after a connection cut mid-file (in one
// run, and from a .part left by an earlier run), a stalled transfer cut by the low-speed limit,
// a server that ignores ranges, a tampered file refused by its SHA-256 with nothing left in the
// cache, and no network (NNC_OFFLINE=1, a closed port): the one-line fallback to the bundled
// subset, quickly. HOME, XDG_CACHE_HOME and KERAS_HOME point into a scratch directory, so
// nothing touches the real home.
#include "runtime/Download.h"
#include "runtime/Mnist.h"

#include "TestUtil.h"
#include "test_io_util.h"

#include <doctest/doctest.h>

#include <zlib.h>

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace nnc;
using nnc::test::ScopedEnv;
using nnc::test::slurp;
using nnc::test::TempDir;
namespace fs = std::filesystem;

namespace {

void put(const fs::path &p, const std::string &bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string gzip(const std::string &raw) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, raw.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(raw.data()));
  zs.avail_in = uInt(raw.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = uInt(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

/// A scratch home: HOME, XDG_CACHE_HOME and KERAS_HOME in a temp dir, the other variables that
/// steer the lookup unset, and proxies off for 127.0.0.1.
struct Home {
  TempDir dir{"nnc_mnist_"};
  fs::path home = dir.path / "home", cache = dir.path / "cache", keras = dir.path / "keras";
  ScopedEnv h{"HOME", home.string()}, x{"XDG_CACHE_HOME", cache.string()},
      k{"KERAS_HOME", keras.string()}, d{"NNC_DATA", std::nullopt}, o{"NNC_OFFLINE", std::nullopt},
      m{"NNC_MNIST_MIRROR", std::nullopt}, s{"NNC_MNIST_SHA256", std::nullopt},
      p1{"no_proxy", "127.0.0.1"}, p2{"NO_PROXY", "127.0.0.1"};
  fs::path mnistCache() const { return cache / "nnc" / "mnist"; }
};

/// The log of one loadDataset call (an in-memory FILE).
struct Log {
  char *buf = nullptr;
  size_t len = 0;
  std::FILE *f = open_memstream(&buf, &len);
  Log() = default;
  Log(const Log &) = delete;
  Log &operator=(const Log &) = delete;
  ~Log() {
    std::fclose(f);
    std::free(buf);
  }
  std::string text() {
    std::fflush(f);
    return std::string(buf, len);
  }
};

/// A small MNIST split as the four .gz files a mirror serves (60 train / 20 test digits) and
/// the NNC_MNIST_SHA256 value that names their hashes.
struct Mirror {
  fs::path dir;
  std::string hashes;
  explicit Mirror(const fs::path &root) : dir(root / "mirror") {
    fs::path raw = root / "raw";
    std::string err = test::writeSmallMnist(raw, 60, 20);
    REQUIRE_MESSAGE(err.empty(), err);
    fs::create_directories(dir);
    for (const MnistFile &f : kMnistFiles) {
      std::string name = f.name;
      put(dir / name, gzip(slurp(raw / name.substr(0, name.size() - 3))));
      Result<std::string> h = sha256File((dir / name).string());
      REQUIRE_MESSAGE(h.ok(), h.error());
      hashes += (hashes.empty() ? "" : ",") + name + "=" + *h;
    }
  }
};

/// tests/data/range_server.py serving `dir` on 127.0.0.1, stopped (SIGTERM) at scope exit.
struct Server {
  pid_t pid = -1;
  int port = 0;
  fs::path log;
  Server(const fs::path &dir, const fs::path &work, const std::vector<std::string> &faults = {}) {
    fs::path portFile = work / "port";
    log = work / "requests.log";
    fs::remove(portFile);
    fs::remove(log);
    std::vector<std::string> words = {"/usr/bin/python3",
                                      NNC_SOURCE_DIR "/tests/data/range_server.py", dir.string(),
                                      portFile.string(), log.string()};
    words.insert(words.end(), faults.begin(), faults.end());
    pid = ::fork();
    if (pid == 0) {
      std::vector<char *> argv;
      for (std::string &w : words) argv.push_back(w.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(portFile); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE_MESSAGE(fs::exists(portFile), "the test server did not start");
    port = std::stoi(slurp(portFile));
  }
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;
  ~Server() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/"; }
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
};

/// A port on 127.0.0.1 that nothing listens on (bound, read, and closed again).
int closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

/// The names in `dir`, sorted.
std::vector<std::string> entries(const fs::path &dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto &e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<std::string> kCached = {".lock", "t10k-images-idx3-ubyte.gz",
                                          "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
                                          "train-labels-idx1-ubyte.gz"};

} // namespace

TEST_CASE("io: sha256File hashes with OpenSSL (FIPS 180-2 test vectors)") {
  TempDir dir;
  put(dir.path / "abc", "abc");
  put(dir.path / "empty", "");
  CHECK(sha256File((dir.path / "abc").string()).take() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256File((dir.path / "empty").string()).take() ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Result<std::string> dirHash = sha256File(dir.path.string());
  REQUIRE(!dirHash.ok());
  CHECK(dirHash.error().find("directory") != std::string::npos);
}

TEST_CASE("io: mnist downloads once into nnc's cache, verified, and is read from there after") {
  Home home;
  Mirror mirror(home.dir.path);
  Server server(mirror.dir, home.dir.path);
  ScopedEnv url("NNC_MNIST_MIRROR", server.url()), sha("NNC_MNIST_SHA256", mirror.hashes);
  Log log;
  Result<DataSplit> d = loadDataset("mnist", log.f);
  REQUIRE_MESSAGE(d.ok(), d.error());
  std::string out = log.text();
  INFO(out);
  CHECK(d->train.count == 60);
  CHECK(d->test.count == 20);
  CHECK(d->dir == home.mnistCache().string());
  CHECK(d->description.find("mnist, downloaded into " + home.mnistCache().string()) == 0);
  CHECK(out.find("Downloading data from " + server.url() + "train-images-idx3-ubyte.gz\n") !=
        std::string::npos);
  uintmax_t size = fs::file_size(mirror.dir / "t10k-labels-idx1-ubyte.gz");
  CHECK(out.find(std::to_string(size) + "/" + std::to_string(size) + " [====") !=
        std::string::npos);
  CHECK(out.find("bundled") == std::string::npos);
  CHECK(entries(home.mnistCache()) == kCached);
  Result<DataSplit> small = loadDataset("mnist-10k");
  REQUIRE(small.ok());
  CHECK(d->train.labels ==
        std::vector<uint8_t>(small->train.labels.begin(), small->train.labels.begin() + 60));
  CHECK(server.requests().size() == 4);

  Log again;
  Result<DataSplit> cached = loadDataset("mnist", again.f);
  REQUIRE_MESSAGE(cached.ok(), cached.error());
  CHECK(cached->description.find("mnist from nnc's cache") == 0);
  CHECK(again.text().empty());
  CHECK(server.requests().size() == 4); // nothing fetched again
}

TEST_CASE("io: a transfer cut mid-file is resumed with a range request") {
  Home home;
  Mirror mirror(home.dir.path);
  ScopedEnv sha("NNC_MNIST_SHA256", mirror.hashes);
  const std::string name = "train-images-idx3-ubyte.gz";
  uintmax_t size = fs::file_size(mirror.dir / name);

  SUBCASE("in one run: the server closes the connection after half of the file") {
    Server server(mirror.dir, home.dir.path, {"--truncate", name});
    ScopedEnv url("NNC_MNIST_MIRROR", server.url());
    Log log;
    Result<DataSplit> d = loadDataset("mnist", log.f);
    REQUIRE_MESSAGE(d.ok(), d.error());
    std::string out = log.text();
    INFO(out);
    CHECK(d->train.count == 60);
    std::vector<std::string> r = server.requests();
    REQUIRE(r.size() == 5);
    CHECK(r[0] == "GET /" + name + " range=-");
    CHECK(r[1] == "GET /" + name + " range=bytes=" + std::to_string(size / 2) + "-");
    CHECK(out.find("the connection was lost after " + std::to_string(size / 2) +
                   " bytes; resuming") != std::string::npos);
    CHECK(entries(home.mnistCache()) == kCached);
  }
  SUBCASE("across runs: a .part left by an earlier run is continued") {
    fs::create_directories(home.mnistCache());
    put(home.mnistCache() / (name + ".part"), slurp(mirror.dir / name).substr(0, 1000));
    Server server(mirror.dir, home.dir.path);
    ScopedEnv url("NNC_MNIST_MIRROR", server.url());
    Log log;
    Result<DataSplit> d = loadDataset("mnist", log.f);
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(server.requests()[0] == "GET /" + name + " range=bytes=1000-");
    CHECK(log.text().find("(resuming at byte 1000)") != std::string::npos);
    CHECK(entries(home.mnistCache()) == kCached);
  }
  SUBCASE("a server that ignores ranges: the .part starts over") {
    fs::create_directories(home.mnistCache());
    put(home.mnistCache() / (name + ".part"), std::string(1000, 'x'));
    Server server(mirror.dir, home.dir.path, {"--no-range"});
    ScopedEnv url("NNC_MNIST_MIRROR", server.url());
    Log log;
    Result<DataSplit> d = loadDataset("mnist", log.f);
    REQUIRE_MESSAGE(d.ok(), (d.error() + "\n" + log.text()));
    CHECK(d->train.count == 60);
    CHECK(entries(home.mnistCache()) == kCached);
  }
}

TEST_CASE("io: a stalled transfer is abandoned by the low-speed limit and resumed") {
  TempDir dir;
  Mirror mirror(dir.path);
  const std::string name = "t10k-images-idx3-ubyte.gz";
  Server server(mirror.dir, dir.path, {"--stall", name});
  DownloadSpec spec{server.url() + name, (dir.path / name).string(),
                    sha256File((mirror.dir / name).string()).take(), 0};
  DownloadLimits limits;
  limits.lowSpeedBytes = 1000;
  limits.lowSpeedSeconds = 1;
  Log log;
  auto start = std::chrono::steady_clock::now();
  Status s = downloadVerified(spec, log.f, limits);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string out = log.text();
  INFO(out);
  REQUIRE_MESSAGE(s.ok(), s.error());
  CHECK(seconds < 10);
  CHECK(out.find("the connection was lost after ") != std::string::npos);
  std::vector<std::string> r = server.requests();
  REQUIRE(r.size() == 2);
  CHECK(r[1].find("GET /" + name + " range=bytes=") == 0);
  CHECK(slurp(dir.path / name) == slurp(mirror.dir / name));
  CHECK(!fs::exists(dir.path / (name + ".part")));
}

TEST_CASE("io: a tampered download is refused by its SHA-256 and nothing of it is kept") {
  Home home;
  Mirror mirror(home.dir.path);
  const std::string name = "train-images-idx3-ubyte.gz";
  std::string tampered = slurp(mirror.dir / name);
  tampered.back() = char(uint8_t(tampered.back()) ^ 0xff);
  put(home.dir.path / "tampered", tampered);
  std::string badHash = sha256File((home.dir.path / "tampered").string()).take();
  std::string goodHash = sha256File((mirror.dir / name).string()).take();
  Server server(mirror.dir, home.dir.path, {"--tamper", name});
  ScopedEnv url("NNC_MNIST_MIRROR", server.url()), sha("NNC_MNIST_SHA256", mirror.hashes);
  Log log;
  Result<DataSplit> d = loadDataset("mnist", log.f);
  REQUIRE_MESSAGE(d.ok(), d.error());
  std::string out = log.text();
  INFO(out);
  CHECK(d->train.count == 8004); // the bundled subset
  std::string path = (home.mnistCache() / name).string();
  CHECK(out.find("the download failed: " + path + ": SHA-256 mismatch: expected " + goodHash +
                 ", got " + badHash) != std::string::npos);
  CHECK(count(out, "using the bundled 10k subset") == 1);
  CHECK(entries(home.mnistCache()) == std::vector<std::string>{".lock"});

  // The published table is used when NNC_MNIST_SHA256 does not override it.
  ScopedEnv published("NNC_MNIST_SHA256", std::nullopt);
  Server plain(mirror.dir, home.dir.path);
  ScopedEnv url2("NNC_MNIST_MIRROR", plain.url());
  Log log2;
  REQUIRE(loadDataset("mnist", log2.f).ok());
  CHECK(log2.text().find(std::string("expected ") + kMnistFiles[0].sha256) != std::string::npos);
  CHECK(entries(home.mnistCache()) == std::vector<std::string>{".lock"});
}

TEST_CASE("io: without a network mnist falls back to the bundled subset in one line, quickly") {
  Home home;
  Log log;
  auto start = std::chrono::steady_clock::now();
  std::string where;
  SUBCASE("NNC_OFFLINE=1: nothing is downloaded") {
    Mirror mirror(home.dir.path);
    Server server(mirror.dir, home.dir.path);
    ScopedEnv url("NNC_MNIST_MIRROR", server.url()), off("NNC_OFFLINE", "1");
    Result<DataSplit> d = loadDataset("mnist", log.f);
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(d->train.count == 8004);
    CHECK(server.requests().empty());
    CHECK(log.text().find("; NNC_OFFLINE=1, so nothing was downloaded: using the bundled 10k "
                          "subset in ") != std::string::npos);
  }
  SUBCASE("a closed port") {
    std::string url = "http://127.0.0.1:" + std::to_string(closedPort()) + "/";
    ScopedEnv mirror("NNC_MNIST_MIRROR", url);
    Result<DataSplit> d = loadDataset("mnist", log.f);
    REQUIRE_MESSAGE(d.ok(), d.error());
    CHECK(d->train.count == 8004);
    CHECK(log.text().find("the download failed: " + url + "train-images-idx3-ubyte.gz: ") !=
          std::string::npos);
    CHECK(!fs::exists(home.mnistCache() / "train-images-idx3-ubyte.gz.part"));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string out = log.text();
  INFO(out);
  CHECK(seconds < 5);
  CHECK(count(out, "\n") == 1);
  CHECK(out.find("nnc: full MNIST is not in $NNC_DATA/mnist ($NNC_DATA is not set), " +
                 (home.keras / "datasets/mnist.npz").string() + ", " +
                 (home.home / ".keras/datasets/mnist.npz").string() + " or " +
                 home.mnistCache().string() + "; ") == 0);
}

TEST_CASE("io: nnc train --data mnist on a closed port says so once and trains on the subset") {
  Home home;
  put(home.dir.path / "tiny.nn", "model tiny\ninput x: [28, 28, 1]\nh = flatten(x)\n"
                                 "h = dense(h, 4, activation=relu)\n"
                                 "h = dense(h, 784, activation=sigmoid)\n"
                                 "y = reshape(h, shape=[28, 28, 1])\n"
                                 "loss binary_crossentropy(y, x)\n");
  ScopedEnv mirror("NNC_MNIST_MIRROR", "http://127.0.0.1:" + std::to_string(closedPort()) + "/");
  std::string err = (home.dir.path / "err").string();
  test::ChildRun r = test::runNncChild({"train", (home.dir.path / "tiny.nn").string(), "--data",
                                        "mnist", "--epochs", "1", "--batch", "256", "--checkpoint",
                                        (home.dir.path / "ck").string()},
                                       err, 120);
  std::string out = slurp(err);
  INFO(out);
  CHECK(r.code == 0);
  CHECK(count(out, "nnc: full MNIST is not in") == 1);
  CHECK(count(out, "the download failed") == 1);
  CHECK(out.find("on mnist, bundled 10k subset (8004 train / 1996 test, 28x28)") !=
        std::string::npos);
}

TEST_CASE("io: mnist looks in $NNC_DATA/mnist, then Keras's mnist.npz, then nnc's cache") {
  Home home;
  ScopedEnv off("NNC_OFFLINE", "1");
  // Keras's cache: an npz written by numpy, as keras.datasets.mnist.load_data() finds it.
  std::string script =
      "import numpy as np, sys\n"
      "r = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)\n"
      "np.savez_compressed(sys.argv[1], x_train=r, y_train=np.array([0, 1, 2, 3, 9], np.uint8),\n"
      "                    x_test=r[:2], y_test=np.array([7, 8], np.uint8))\n";
  put(home.dir.path / "make.py", script);
  auto makeNpz = [&](const fs::path &path) {
    fs::create_directories(path.parent_path());
    std::string cmd =
        "/usr/bin/python3 " + (home.dir.path / "make.py").string() + " " + path.string();
    REQUIRE(std::system(cmd.c_str()) == 0);
  };
  makeNpz(home.home / ".keras/datasets/mnist.npz");
  std::string err = test::writeSmallMnist(home.mnistCache(), 30, 10);
  REQUIRE(err.empty());

  Log log;
  Result<DataSplit> keras = loadDataset("mnist", log.f);
  REQUIRE_MESSAGE(keras.ok(), keras.error());
  CHECK(keras->description == "mnist from Keras's cache " +
                                  (home.home / ".keras/datasets/mnist.npz").string() +
                                  " (5 train / 2 test, 4x3)");
  CHECK(keras->train.labels == std::vector<uint8_t>{0, 1, 2, 3, 9});
  CHECK(keras->train.pixels[13] == 13);
  CHECK(keras->test.labels == std::vector<uint8_t>{7, 8});
  CHECK(log.text().empty());

  makeNpz(home.keras / "datasets/mnist.npz"); // $KERAS_HOME comes before ~/.keras
  CHECK(loadDataset("mnist", log.f)->dir == (home.keras / "datasets/mnist.npz").string());

  test::writeSmallMnist(home.dir.path / "data" / "mnist", 20, 5);
  {
    ScopedEnv data("NNC_DATA", (home.dir.path / "data").string());
    Result<DataSplit> first = loadDataset("mnist", log.f);
    REQUIRE(first.ok());
    CHECK(first->description == "mnist from $NNC_DATA/mnist (20 train / 5 test, 28x28)");
  }
  fs::remove(home.keras / "datasets/mnist.npz");
  fs::remove(home.home / ".keras/datasets/mnist.npz");
  Result<DataSplit> cache = loadDataset("mnist", log.f);
  REQUIRE(cache.ok());
  CHECK(cache->description ==
        "mnist from nnc's cache " + home.mnistCache().string() + " (30 train / 10 test, 28x28)");

  // A Keras cache that has the file but cannot be read is an error naming it, not a fallback.
  put(home.home / ".keras/datasets/mnist.npz", "not a zip");
  Result<DataSplit> broken = loadDataset("mnist", log.f);
  REQUIRE(!broken.ok());
  CHECK(broken.error().find((home.home / ".keras/datasets/mnist.npz").string() +
                            ": not a readable npz (zip) archive") == 0);
  CHECK(log.text().empty());
}

TEST_CASE("io: NNC_MNIST_SHA256 entries are checked") {
  Home home;
  ScopedEnv url("NNC_MNIST_MIRROR", "http://127.0.0.1:" + std::to_string(closedPort()) + "/");
  struct Case {
    std::string value, message;
  };
  for (const Case &c : std::vector<Case>{
           {"mnist.npz=" + std::string(64, 'a'),
            "NNC_MNIST_SHA256: 'mnist.npz' is not one of the MNIST files"},
           {"train-images-idx3-ubyte.gz=ABC",
            "NNC_MNIST_SHA256: the hash of train-images-idx3-ubyte.gz is not 64 lowercase hex "
            "digits: 'ABC'"}}) {
    ScopedEnv sha("NNC_MNIST_SHA256", c.value);
    Log log;
    REQUIRE(loadDataset("mnist", log.f).ok());
    CHECK_MESSAGE(log.text().find("the download failed: " + c.message) != std::string::npos,
                  log.text());
  }
}
