// The init, eval and gradcheck subcommands, run as the nnc executable.
#include "TestUtil.h"
#include "runtime/Safetensors.h"

#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using nnc::test::slurp;

namespace {

struct Run {
  int code;
  std::string out;
};

// Runs nnc with `args` (stderr merged into stdout).
Run runNnc(const std::string &args) {
  std::string cmd = std::string(NNC_BINARY) + " " + args + " 2>&1";
  FILE *p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const std::string kSrc = NNC_SOURCE_DIR;

} // namespace

TEST_CASE("nnc init is deterministic per seed") {
  nnc::test::TempDir tmp("nnc_test_ad_cli_");
  std::string d = tmp.path.string();
  std::string model = kSrc + "/examples/autoencoder.nn";
  REQUIRE(runNnc("init " + model + " --seed 5 --out " + d + "/a.st").code == 0);
  REQUIRE(runNnc("init " + model + " --seed 5 --out " + d + "/b.st").code == 0);
  Run c = runNnc("init " + model + " --seed 6 --out " + d + "/c.st");
  REQUIRE(c.code == 0);
  CHECK(c.out.find("3369 parameters") != std::string::npos);
  CHECK(slurp(d + "/a.st") == slurp(d + "/b.st"));
  CHECK(slurp(d + "/a.st") != slurp(d + "/c.st"));
  nnc::Result<nnc::Safetensors> w = nnc::readSafetensors(d + "/a.st");
  REQUIRE(w.ok());
  CHECK(w->tensors.size() == 14);
  CHECK(w->tensors.at("conv2d.kernel").shape == std::vector<int64_t>{3, 3, 1, 16});
}

TEST_CASE("nnc eval prints the loss and writes gradients and outputs") {
  nnc::test::TempDir tmp("nnc_test_ad_cli_");
  std::string d = tmp.path.string();
  std::string model = kSrc + "/examples/autoencoder.nn";
  REQUIRE(runNnc("init " + model + " --seed 1 --out " + d + "/w.st").code == 0);
  nnc::Tensor x{{2, 28, 28, 1}, std::vector<float>(2 * 28 * 28, 0.25f)};
  REQUIRE(nnc::writeSafetensors(d + "/x.st", {{"x", x}}).ok());
  Run r = runNnc("eval " + model + " --weights " + d + "/w.st --inputs " + d + "/x.st --grads " +
                 d + "/g.st --outputs " + d + "/y.st --backend=interp");
  INFO(r.out);
  REQUIRE(r.code == 0);
  CHECK(r.out.rfind("loss ", 0) == 0);
  nnc::Result<nnc::Safetensors> g = nnc::readSafetensors(d + "/g.st");
  REQUIRE(g.ok());
  CHECK(g->tensors.size() == 14);
  nnc::Result<nnc::Safetensors> y = nnc::readSafetensors(d + "/y.st");
  REQUIRE(y.ok());
  CHECK(y->tensors.at("y").shape == std::vector<int64_t>{2, 28, 28, 1});

  Run bad =
      runNnc("eval " + model + " --weights " + d + "/w.st --inputs " + d + "/x.st --backend=bogus");
  CHECK(bad.code == 1);
  CHECK(bad.out.find("unknown backend 'bogus'") != std::string::npos);
}

TEST_CASE("nnc gradcheck prints one row per tensor") {
  Run r = runNnc("gradcheck " + kSrc + "/examples/mnist_cnn.nn --batch 2 --seed 4 --coords 4");
  INFO(r.out);
  CHECK(r.code == 0);
  for (const char *t : {"\nx ", "\nconv2d.kernel ", "\nconv2d_1.bias ", "\ndense.kernel "}) {
    CAPTURE(t);
    CHECK(r.out.find(t) != std::string::npos);
  }
  CHECK(r.out.find("\nlabel") == std::string::npos); // a loss target is not differentiated
  CHECK(r.out.find("ok: 7 tensors within tolerance") != std::string::npos);

  Run noLoss = runNnc("gradcheck " + kSrc + "/examples/dilation.nn");
  CHECK(noLoss.code == 1);
  CHECK(noLoss.out.find("no loss statement") != std::string::npos);
}
