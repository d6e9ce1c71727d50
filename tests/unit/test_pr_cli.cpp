// nnc predict and nnc evaluate end to end on a small classifier trained on a few hundred
// bundled digits: the top classes per test image and the labelled grid, the learner's own
// PNG/PGM images (no labels needed), raw outputs read back, the Keras-style evaluation line
// with the per-class table and confusion matrix (and its picture), and every refused flag
// with its message, before anything is written.
#include "TestUtil.h"

#include "runtime/Png.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <sys/wait.h>

namespace fs = std::filesystem;
using namespace nnc;

namespace {

struct Outcome {
  int code = -1;
  std::string err, out;
};

/// Runs `nnc ARGS` in `dir` (its output captured under dir/logs); exit code, stderr, stdout.
Outcome runNnc(const fs::path &dir, const std::string &args) {
  fs::create_directories(dir / "logs");
  std::string cmd = "cd '" + dir.string() + "' && " + NNC_BINARY + " " + args + " >logs/stdout" +
                    " 2>logs/stderr </dev/null";
  int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, test::slurp(dir / "logs/stderr"),
          test::slurp(dir / "logs/stdout")};
}

/// Every file under `dir` but the logs.
std::set<std::string> filesUnder(const fs::path &dir) {
  std::set<std::string> files;
  for (const fs::directory_entry &e : fs::recursive_directory_iterator(dir))
    if (e.path().parent_path().filename() != "logs" && e.path().filename() != "logs")
      files.insert(fs::relative(e.path(), dir).string());
  return files;
}

const char *kClassifier = "model digits\n"
                          "input x: [28, 28, 1]\n"
                          "input label: [10]\n"
                          "h = flatten(x)\n"
                          "y = dense(h, 10, activation=softmax)\n"
                          "loss categorical_crossentropy(y, label)\n"
                          "train optimizer=adam, lr=0.01, epochs=3, batch=32\n";

/// A scratch directory with the classifier trained (interpreter, 3 epochs of 320 digits).
struct Trained {
  test::TempDir dir{"nnc_pr_"};
  Outcome train;
  Trained() {
    std::ofstream(dir.path / "digits.nn") << kClassifier;
    test::writeSmallMnist(dir.path / "data", 320, 100);
    train = runNnc(dir.path, "train digits.nn --data data --backend interp --threads 1 "
                             "--checkpoint run");
  }
};

/// The trained classifier, shared by the tests of this file.
const Trained &trained() {
  static Trained t;
  return t;
}

} // namespace

TEST_CASE("test_pr predict shows a classifier's top classes and draws the test images") {
  const Trained &t = trained();
  REQUIRE_MESSAGE(t.train.code == 0, t.train.err);
  Outcome p = runNnc(t.dir.path, "predict digits.nn --weights run --index 0,5,17 --top 2 "
                                 "--out p.png --outputs p.csv");
  REQUIRE_MESSAGE(p.code == 0, p.err);
  // One line per image: its number, true class, and the two likeliest classes.
  std::regex line(R"(test image (0|5|17) \(true: \d\)( WRONG)?: \d 0\.\d{4}, \d 0\.\d{4}\n)");
  CHECK(std::distance(std::sregex_iterator(p.out.begin(), p.out.end(), line),
                      std::sregex_iterator()) == 3);
  CHECK(std::regex_search(p.out, std::regex(R"(\d of 3 right \(accuracy [01]\.\d{4}\))")));
  CHECK(p.out.find("Wrote p.png: 3 images with the predicted class") != std::string::npos);
  Result<PngImage> grid = readPng((t.dir.path / "p.png").string());
  REQUIRE_MESSAGE(grid.ok(), grid.error());
  CHECK(grid->width == 3 * 104 + 4 * 8);
  std::string csv = test::slurp(t.dir.path / "p.csv");
  CHECK(csv.rfind("image,0,1,2,3,4,5,6,7,8,9\ntest image 0,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 4);
}

TEST_CASE("test_pr predict runs on a learner's PNG and PGM images without labels") {
  const Trained &t = trained();
  REQUIRE_MESSAGE(t.train.code == 0, t.train.err);
  Result<DataSplit> d = loadDataset("mnist-10k");
  REQUIRE(d.ok());
  // Test digit 0 as a 56x56 RGB PNG (each pixel doubled) and as a 28x28 PGM.
  std::vector<uint8_t> rgb;
  for (int y = 0; y < 56; ++y)
    for (int x = 0; x < 56; ++x)
      for (int c = 0; c < 3; ++c) rgb.push_back(d->test.pixels[size_t((y / 2) * 28 + x / 2)]);
  REQUIRE(writePngRgb((t.dir.path / "big.png").string(), 56, 56, rgb).ok());
  std::string pgm = "P5 28 28 255\n";
  pgm.append(reinterpret_cast<const char *>(d->test.pixels.data()), 784);
  std::ofstream(t.dir.path / "digit.pgm", std::ios::binary) << pgm;

  std::string negative = "P5 28 28 255\n";
  for (int i = 0; i < 784; ++i) negative += char(255 - d->test.pixels[size_t(i)]);
  std::ofstream(t.dir.path / "negative.pgm", std::ios::binary) << negative;

  Outcome own = runNnc(t.dir.path, "predict digits.nn --weights run --input big.png digit.pgm "
                                   "--outputs own.npy --out own.png");
  REQUIRE_MESSAGE(own.code == 0, own.err);
  Outcome test0 = runNnc(t.dir.path, "predict digits.nn --weights run --first 1 --top 3");
  REQUIRE_MESSAGE(test0.code == 0, test0.err);
  // The same digit gives the same answer from the test split and from both files.
  std::string answer = test0.out.substr(test0.out.find("): ") + 3);
  answer = answer.substr(0, answer.find('\n'));
  CHECK(own.out.find("big.png: " + answer) != std::string::npos);
  CHECK(own.out.find("digit.pgm: " + answer) != std::string::npos);
  Outcome inverted = runNnc(t.dir.path, "predict digits.nn --weights run --input negative.pgm "
                                        "--invert --out inverted.png");
  REQUIRE_MESSAGE(inverted.code == 0, inverted.err);
  CHECK(inverted.out.find("negative.pgm: " + answer) != std::string::npos);
  CHECK(own.out.find("Wrote own.npy: the outputs 'y', shape [2, 10]") != std::string::npos);
  std::string npy = test::slurp(t.dir.path / "own.npy");
  CHECK(npy.find("'shape': (2, 10)") != std::string::npos);
}

TEST_CASE("test_pr evaluate prints loss and accuracy as Keras does, per class and confused") {
  const Trained &t = trained();
  REQUIRE_MESSAGE(t.train.code == 0, t.train.err);
  Outcome e = runNnc(t.dir.path, "evaluate digits.nn --weights run --out cm.png");
  REQUIRE_MESSAGE(e.code == 0, e.err);
  // 100 test digits in batches of 32: 4 steps; the values match training's last validation.
  std::smatch m;
  REQUIRE(std::regex_search(e.out, m,
                            std::regex(R"(4/4 - \d+s \S+/step - loss: (\d\.\d{4}) - )"
                                       R"(accuracy: (\d\.\d{4})\n)")));
  std::string history = test::slurp(t.dir.path / "run/history.csv");
  std::smatch last;
  REQUIRE(std::regex_search(history, last, std::regex(R"(\n3,[^,]+,([^,]+),)")));
  CHECK(std::stod(m[1].str()) == doctest::Approx(std::stod(last[1].str())).epsilon(2e-4));
  CHECK(std::stod(m[2].str()) > 0.5); // ten classes: chance is 0.1
  CHECK(e.out.find("class  name   examples   correct  accuracy\n") != std::string::npos);
  CHECK(e.out.find("  all              100") != std::string::npos);
  CHECK(
      e.out.find("Confusion matrix (rows: true class, columns: predicted class)\n  true   0   1") !=
      std::string::npos);
  Result<PngImage> cm = readPng((t.dir.path / "cm.png").string());
  REQUIRE_MESSAGE(cm.ok(), cm.error());
  CHECK(cm->height == 96 + 10 * 52 + 24);
}

TEST_CASE("test_pr predict and evaluate refuse bad flags before writing anything") {
  const Trained &t = trained();
  REQUIRE_MESSAGE(t.train.code == 0, t.train.err);
  std::set<std::string> before = filesUnder(t.dir.path);
  std::string p = "predict digits.nn --weights run ";
  struct Case {
    std::string args, message;
  } cases[] = {
      {p + "--first 0", "nnc: error: --first: expected an integer of 1 or more, found '0'"},
      {p + "--count x", "nnc: error: --count: expected an integer of 1 or more, found 'x'"},
      {p + "--first 2 --count 2", "nnc: error: --count is another name for --first"},
      {p + "--index 1,,2", "nnc: error: --index: expected test image numbers of 0 or more "
                           "separated by commas, found '1,,2'"},
      {p + "--index 3 --first 2", "nnc: error: --index and --first pick test images two ways"},
      {p + "--index 100", "nnc: error: --index: 100 is out of range: the test split of data has "
                          "100 images (0 to 99)"},
      {p + "--input nope.png", "nnc: error: --input: cannot read 'nope.png'"},
      {p + "--input digits.nn", "nnc: error: --input: digits.nn: not a PNG or PGM image"},
      {p + "--input x.png --first 3", "nnc: error: --input predicts your own images"},
      {p + "extra.png", "nnc: error: unexpected argument 'extra.png'"},
      {p + "--outputs o.txt", "nnc: error: --outputs: cannot tell the format of 'o.txt'"},
      {p + "--outputs /no/dir/o.npy", "nnc: error: --outputs: cannot write '/no/dir/o.npy'"},
      {p + "--out /no/dir/p.png", "nnc: error: --out: cannot write '/no/dir/p.png'"},
      {p + "--invert", "nnc: error: --invert applies to --input images only"},
      {p + "--top 0", "nnc: error: --top: expected an integer from 1 to 1000, found '0'"},
      {p + "--threads 0", "nnc: error: --threads: expected an integer from 1 to 1024"},
      {"evaluate digits.nn --weights run --batch 0",
       "nnc: error: --batch: expected an integer from 1 to 1000000, found '0'"},
      {"evaluate digits.nn --weights run --out /no/dir/c.png",
       "nnc: error: --out: cannot write '/no/dir/c.png'"},
      {"evaluate digits.nn --weights nope", "nope"},
  };
  for (const Case &c : cases) {
    CAPTURE(c.args);
    Outcome o = runNnc(t.dir.path, c.args);
    CHECK(o.code == 1);
    CHECK_MESSAGE(o.err.find(c.message) != std::string::npos, o.err);
    CHECK(filesUnder(t.dir.path) == before);
  }
}

TEST_CASE("test_pr evaluate draws a confusion matrix only for a classifier") {
  test::TempDir dir("nnc_pr_");
  std::ofstream(dir.path / "ae.nn") << "model ae\ninput x: [28, 28, 1]\nh = flatten(x)\n"
                                       "h = dense(h, 784, activation=sigmoid)\n"
                                       "y = reshape(h, shape=[28, 28, 1])\n"
                                       "loss binary_crossentropy(y, x)\n";
  REQUIRE(runNnc(dir.path, "init ae.nn --seed 1 --out w.safetensors").code == 0);
  test::writeSmallMnist(dir.path / "data", 10, 150);
  Outcome e = runNnc(dir.path, "evaluate ae.nn --weights w.safetensors --data data --out c.png");
  CHECK(e.code == 1);
  CHECK(e.err.find("nnc: error: --out: a confusion matrix needs a classifier") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir.path / "c.png"));
  Outcome ok = runNnc(dir.path, "evaluate ae.nn --weights w.safetensors --data data --batch 16");
  REQUIRE_MESSAGE(ok.code == 0, ok.err);
  CHECK(std::regex_search(ok.out, std::regex(R"(\n10/10 - \d+s \S+/step - loss: 0\.\d{4}\n)")));
  Outcome recon = runNnc(dir.path, "predict ae.nn --weights w.safetensors --data data --first 25 "
                                   "--out r.png");
  REQUIRE_MESSAGE(recon.code == 0, recon.err);
  Result<PngImage> r = readPng((dir.path / "r.png").string());
  REQUIRE(r.ok());
  CHECK(r->width == 10 * 112 + 11 * 4);
  CHECK(r->height == 3 * (2 * 112 + 2 * 4) + 4); // 25 pairs wrap into three bands of ten
  // Beyond 100 images a row holds about the square root of their number: 13 for 150.
  Outcome many = runNnc(dir.path, "predict ae.nn --weights w.safetensors --data data --first 150 "
                                  "--backend interp --out many.png");
  REQUIRE_MESSAGE(many.code == 0, many.err);
  Result<PngImage> m = readPng((dir.path / "many.png").string());
  REQUIRE(m.ok());
  CHECK(m->width == 13 * 112 + 14 * 4);
  CHECK(m->height == 12 * (2 * 112 + 2 * 4) + 4);
}

TEST_CASE("test_pr predict refuses a model whose input is not a gray image, naming its shape") {
  test::TempDir dir("nnc_pr_");
  std::ofstream(dir.path / "rgb.nn") << "model rgb\ninput x: [28, 28, 3]\nh = flatten(x)\n"
                                        "y = dense(h, 10, activation=softmax)\n"
                                        "input label: [10]\n"
                                        "loss categorical_crossentropy(y, label)\n";
  REQUIRE(runNnc(dir.path, "init rgb.nn --seed 1 --out w.safetensors").code == 0);
  REQUIRE(writePngGray((dir.path / "g.png").string(), 2, 2, {0, 1, 2, 3}).ok());
  Outcome o = runNnc(dir.path, "predict rgb.nn --weights w.safetensors --input g.png");
  CHECK(o.code == 1);
  CHECK(o.err == "nnc: error: input 'x' has shape f32[N,28,28,3]: 3 channels; nnc feeds gray "
                 "images (1 channel)\n");
  CHECK_FALSE(fs::exists(dir.path / "predictions.png"));
}

TEST_CASE("test_pr predict prints the outputs of a model that is neither kind") {
  test::TempDir dir("nnc_pr_");
  std::ofstream(dir.path / "tags.nn") << "model tags\ninput x: [28, 28, 1]\ninput label: [10]\n"
                                         "h = flatten(x)\ny = dense(h, 10, activation=sigmoid)\n"
                                         "loss binary_crossentropy(y, label)\n";
  REQUIRE(runNnc(dir.path, "init tags.nn --seed 1 --out w.safetensors").code == 0);
  test::writeSmallMnist(dir.path / "data", 10, 20);
  Outcome o = runNnc(dir.path, "predict tags.nn --weights w.safetensors --data data --first 2 "
                               "--outputs t.csv");
  REQUIRE_MESSAGE(o.code == 0, o.err);
  std::regex line(R"(test image [01]: (0\.\d{4} ){7}0\.\d{4} \.\.\.\n)");
  CHECK(std::distance(std::sregex_iterator(o.out.begin(), o.out.end(), line),
                      std::sregex_iterator()) == 2);
  CHECK(o.out.find("Wrote t.csv: the outputs 'y', shape [2, 10]") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path / "predictions.png"));
}
