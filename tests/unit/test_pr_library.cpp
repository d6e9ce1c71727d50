// The library behind nnc predict and evaluate: top classes and confusion matrices with their
// text tables, PGM decoding and gray conversion of a learner's images, the area resize, the
// hand-written npy header (read back by NumPy), raw output files, and the labelled grid and
// confusion matrix pictures (sizes, wrapping, colours).
#include "runtime/Classifier.h"
#include "runtime/ImageInput.h"
#include "runtime/Npz.h"
#include "runtime/Png.h"
#include "runtime/Predict.h"
#include "runtime/Safetensors.h"

#include "TestUtil.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace nnc;
using nnc::test::TempDir;
namespace fs = std::filesystem;

namespace {

/// Number of pixels of an RGB image with exactly this colour.
size_t pixelsOfColor(const PngImage &img, uint8_t r, uint8_t g, uint8_t b) {
  size_t n = 0;
  for (size_t i = 0; i + 2 < img.pixels.size(); i += 3)
    n += img.pixels[i] == r && img.pixels[i + 1] == g && img.pixels[i + 2] == b;
  return n;
}

} // namespace

TEST_CASE("test_pr top classes are ordered by value, ties by index, NaN last") {
  float v[] = {0.1f, 0.5f, 0.2f, 0.5f, NAN};
  CHECK(argmax(v, 5) == 1);
  CHECK(topClasses(v, 5, 3) == std::vector<int>{1, 3, 2});
  CHECK(topClasses(v, 5, 9) == std::vector<int>{1, 3, 2, 0, 4});
  float nanFirst[] = {NAN, -1.f, -2.f};
  CHECK(argmax(nanFirst, 3) == 1);
}

TEST_CASE("test_pr a confusion matrix counts pairs and reports per-class accuracy") {
  ConfusionMatrix m(3);
  for (auto [t, p] : {std::pair{0, 0}, {0, 0}, {0, 2}, {1, 1}, {2, 0}, {2, 2}, {2, 2}, {2, 2}})
    CHECK(m.add(t, p));
  CHECK_FALSE(m.add(3, 0));
  CHECK_FALSE(m.add(0, -1));
  CHECK(m.total() == 8);
  CHECK(m.correct() == 6);
  CHECK(m.count(2, 0) == 1);
  CHECK(m.examples(2) == 4);
  CHECK(*m.classAccuracy(0) == doctest::Approx(2.0 / 3));
  CHECK(*m.classAccuracy(2) == doctest::Approx(0.75));
  ConfusionMatrix empty(2);
  CHECK_FALSE(empty.classAccuracy(0));

  std::vector<std::string> names = classNames(false, 3);
  CHECK(perClassTable(m, names) == "class  name   examples   correct  accuracy\n"
                                   "    0  0             3         2    0.6667\n"
                                   "    1  1             1         1    1.0000\n"
                                   "    2  2             4         3    0.7500\n"
                                   "  all                8         6    0.7500\n");
  CHECK(confusionText(m, names) == "Confusion matrix (rows: true class, columns: predicted class)\n"
                                   "  true   0   1   2\n"
                                   "     0   2   0   1  0\n"
                                   "     1   0   1   0  1\n"
                                   "     2   1   0   3  2\n");
  CHECK(classNames(true, 10)[9] == "Ankle boot");
  CHECK(classNames(true, 3)[2] == "2");
}

TEST_CASE("test_pr confusionOf takes the argmax of each output row") {
  Tensor out{{3, 2}, {0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f}};
  ConfusionMatrix m = confusionOf(out, {0, 1, 1});
  CHECK(m.classes() == 2);
  CHECK(m.count(0, 0) == 1);
  CHECK(m.count(1, 1) == 1);
  CHECK(m.count(1, 0) == 1);
}

TEST_CASE("test_pr PGM images decode in binary and text form, 8 and 16 bits") {
  std::string p5 = "P5\n# a comment\n3 2\n255\n";
  p5 += std::string("\x00\x10\x20\x30\x40\xff", 6);
  Result<GrayImage> a = decodePgm(p5, "a.pgm");
  REQUIRE_MESSAGE(a.ok(), a.error());
  CHECK(a->width == 3);
  CHECK(a->height == 2);
  CHECK(a->pixels == std::vector<uint8_t>{0x00, 0x10, 0x20, 0x30, 0x40, 0xff});

  Result<GrayImage> b = decodePgm("P2 2 1 15\n0 15\n", "b.pgm");
  REQUIRE_MESSAGE(b.ok(), b.error());
  CHECK(b->pixels == std::vector<uint8_t>{0, 255});

  std::string wide = "P5 1 1 65535\n";
  wide += std::string("\x80\x00", 2);
  Result<GrayImage> c = decodePgm(wide, "c.pgm");
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(c->pixels == std::vector<uint8_t>{128});

  Result<GrayImage> truncated = decodePgm("P5 4 4 255\n\x01\x02", "t.pgm");
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.error() == "t.pgm: the PGM header promises 16 bytes of pixels, the file has 2");
  Result<GrayImage> above = decodePgm("P2 1 1 10\n11\n", "h.pgm");
  REQUIRE_FALSE(above.ok());
  CHECK(above.error().find("above the maxval 10") != std::string::npos);
  CHECK_FALSE(decodePgm("P5 0 3 255\n", "z.pgm").ok());
  CHECK_FALSE(decodePgm("P6 1 1 255\n\x01\x01\x01", "rgb.ppm").ok());
}

TEST_CASE("test_pr readGrayImage makes RGB PNGs gray by luma and refuses other files") {
  TempDir dir;
  std::string rgb = (dir.path / "c.png").string();
  REQUIRE(writePngRgb(rgb, 2, 1, {255, 0, 0, 0, 0, 255}).ok());
  Result<GrayImage> img = readGrayImage(rgb);
  REQUIRE_MESSAGE(img.ok(), img.error());
  CHECK(img->pixels == std::vector<uint8_t>{76, 29}); // Pillow's convert("L")
  std::ofstream(dir.path / "note.txt") << "hello";
  Result<GrayImage> text = readGrayImage((dir.path / "note.txt").string());
  REQUIRE_FALSE(text.ok());
  CHECK(text.error().find("not a PNG or PGM image") != std::string::npos);
  Result<GrayImage> missing = readGrayImage((dir.path / "nope.png").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().find("nope.png") != std::string::npos);
}

TEST_CASE("test_pr the area resize averages what each target pixel covers") {
  GrayImage img{4, 4, {}};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) img.pixels.push_back((x + y) % 2 ? 255 : 0);
  std::vector<float> half = resizeToUnit(img, 2, 2);
  for (float v : half) CHECK(v == doctest::Approx(0.5));
  std::vector<float> same = resizeToUnit(img, 4, 4);
  CHECK(same[0] == 0.f);
  CHECK(same[1] == 1.f);
  GrayImage flat{3, 3, std::vector<uint8_t>(9, 51)};
  for (float v : resizeToUnit(flat, 7, 5)) CHECK(v == doctest::Approx(0.2));
  // 3 -> 2 columns: the middle source pixel is shared half and half.
  GrayImage row{3, 1, {0, 255, 0}};
  std::vector<float> two = resizeToUnit(row, 1, 2);
  CHECK(two[0] == doctest::Approx(1.0 / 3));
  CHECK(two[1] == doctest::Approx(1.0 / 3));
}

TEST_CASE("test_pr npy files are read back by NumPy with their shape and values") {
  Result<std::string> npy = encodeNpyF32({2, 3}, {0.f, 1.5f, -2.f, 3.25f, 1e-8f, 7.f});
  REQUIRE_MESSAGE(npy.ok(), npy.error());
  size_t headerLen = uint8_t((*npy)[8]) | size_t(uint8_t((*npy)[9])) << 8;
  CHECK((10 + headerLen) % 64 == 0);
  CHECK(npy->size() == 10 + headerLen + 6 * 4);
  CHECK_FALSE(encodeNpyF32({2, 2}, {1.f}).ok());
  Result<std::string> vec = encodeNpyF32({3}, {1.f, 2.f, 3.f});
  REQUIRE(vec.ok());
  CHECK(vec->find("'shape': (3,)") != std::string::npos);

  if (!fs::exists("/usr/bin/python3")) return;
  TempDir dir;
  std::ofstream(dir.path / "a.npy", std::ios::binary) << *npy;
  std::ofstream(dir.path / "v.npy", std::ios::binary) << *vec;
  std::string script =
      "import numpy as n, sys; a = n.load(sys.argv[1]); v = n.load(sys.argv[2]); "
      "ok = a.dtype == n.float32 and a.shape == (2, 3) and a[1, 1] == n.float32(1e-8) and "
      "a[0, 2] == -2 and v.shape == (3,) and v.sum() == 6; sys.exit(0 if ok else 1)";
  std::string cmd = "/usr/bin/python3 -c '" + script + "' " + (dir.path / "a.npy").string() + " " +
                    (dir.path / "v.npy").string() + " 2>/dev/null";
  int rc = std::system(cmd.c_str());
  if (WEXITSTATUS(rc) == 0) return;
  // Without NumPy the script fails at its import: only then is the check skipped.
  int numpy = std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null");
  if (WEXITSTATUS(numpy) != 0) return;
  FAIL("NumPy did not read the npy files as written");
}

TEST_CASE("test_pr raw outputs are written as csv, safetensors and npy by extension") {
  TempDir dir;
  Tensor out{{2, 2}, {0.25f, 0.75f, 1.f, 0.f}};
  std::vector<std::string> names = {"a.png", "b,c.png"};
  std::string csv = (dir.path / "o.csv").string(), st = (dir.path / "o.safetensors").string();
  REQUIRE(writeOutputs(csv, out, names, "y").ok());
  CHECK(nnc::test::slurp(csv) == "image,0,1\na.png,0.25,0.75\n\"b,c.png\",1,0\n");
  REQUIRE(writeOutputs(st, out, names, "y").ok());
  Result<Safetensors> back = readSafetensors(st);
  REQUIRE_MESSAGE(back.ok(), back.error());
  CHECK(back->tensors.at("y").shape == out.shape);
  CHECK(back->tensors.at("y").data == out.data);
  REQUIRE(writeOutputs((dir.path / "o.npy").string(), out, names, "y").ok());
  CHECK(nnc::test::slurp(dir.path / "o.npy").substr(1, 5) == "NUMPY");
  Status bad = writeOutputs((dir.path / "o.txt").string(), out, names, "y");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("must end in .npy, .csv or .safetensors") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path / "o.txt"));
}

TEST_CASE("test_pr grids wrap into rows of ten and mark wrong predictions in red") {
  TempDir dir;
  const int64_t n = 12, rows = 28, cols = 28;
  std::vector<float> images(size_t(n * rows * cols), 0.5f);
  std::vector<GridCaption> caps(size_t(n), GridCaption{"7 99%", "true: 7", true});
  caps[3] = {"1 60%", "true: 7", false};
  std::string path = (dir.path / "g.png").string();
  REQUIRE(writeLabeledGrid(path, images, n, rows, cols, caps).ok());
  Result<PngImage> g = readPng(path);
  REQUIRE_MESSAGE(g.ok(), g.error());
  // Cells 104 wide (at least 28 x 3) and 84 + 4 + 20 high, 8-pixel gaps; 10 across, 2 down.
  CHECK(g->width == 10 * 104 + 11 * 8);
  CHECK(g->height == 2 * (84 + 24 + 8) + 8);
  CHECK(pixelsOfColor(*g, 210, 30, 30) > 4 * 84); // the red frame (and caption) of image 3
  caps[3].correct = true;
  REQUIRE(writeLabeledGrid(path, images, n, rows, cols, caps).ok());
  CHECK(pixelsOfColor(*readPng(path), 210, 30, 30) == 0);
  CHECK_FALSE(writeLabeledGrid(path, images, n, rows, cols, {caps[0]}).ok());

  std::vector<float> recon(images.size(), 1.f);
  REQUIRE(writeReconstructionGrid(path, images, recon, n, rows, cols, 4).ok());
  Result<PngImage> r = readPng(path);
  REQUIRE(r.ok());
  CHECK(r->width == 10 * 112 + 11 * 4);
  CHECK(r->height == 2 * (2 * 112 + 2 * 4) + 4);
}

TEST_CASE("test_pr the confusion matrix picture has a cell per pair, shaded by share") {
  TempDir dir;
  ConfusionMatrix m(10);
  for (int c = 0; c < 10; ++c)
    for (int k = 0; k < 10; ++k) m.add(c, c);
  m.add(3, 5);
  std::string path = (dir.path / "c.png").string();
  REQUIRE(writeConfusionPng(path, m, classNames(true, 10)).ok());
  Result<PngImage> img = readPng(path);
  REQUIRE_MESSAGE(img.ok(), img.error());
  CHECK(img->channels == 3);
  CHECK(img->width > 10 * 52);
  CHECK(img->height == 96 + 10 * 52 + 24);
  // A diagonal cell of a class with no mistakes has the darkest shade.
  CHECK(pixelsOfColor(*img, 33, 105, 180) > 9 * 40 * 40);
  CHECK_FALSE(writeConfusionPng(path, ConfusionMatrix(0), {}).ok());
}
