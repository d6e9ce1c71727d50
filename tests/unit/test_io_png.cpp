// PNG output: pixel-exact gray/RGB round trips through libpng, the reconstruction grid's
// layout, the loss plot's size and colours, and the errors for unusable input (chunks that
// run past the end, images beyond the pixel limit).
#include "runtime/Png.h"

#include "TestUtil.h"

#include <doctest/doctest.h>

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

using namespace nnc;
using nnc::test::TempDir;
namespace fs = std::filesystem;

namespace {

/// Number of pixels of an RGB image with exactly this colour.
size_t countColor(const PngImage &img, uint8_t r, uint8_t g, uint8_t b) {
  size_t n = 0;
  for (size_t i = 0; i + 2 < img.pixels.size(); i += 3)
    n += img.pixels[i] == r && img.pixels[i + 1] == g && img.pixels[i + 2] == b;
  return n;
}

} // namespace

TEST_CASE("io: PNG gray and RGB images round trip exactly") {
  TempDir dir;
  std::vector<uint8_t> gray(7 * 5), rgb(4 * 3 * 3);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(255 - i * 5);
  std::string gp = (dir.path / "g.png").string(), cp = (dir.path / "c.png").string();
  REQUIRE(writePngGray(gp, 7, 5, gray).ok());
  REQUIRE(writePngRgb(cp, 4, 3, rgb).ok());
  Result<PngImage> g = readPng(gp), c = readPng(cp);
  REQUIRE_MESSAGE(g.ok(), g.error());
  REQUIRE_MESSAGE(c.ok(), c.error());
  CHECK(g->width == 7);
  CHECK(g->height == 5);
  CHECK(g->channels == 1);
  CHECK(g->pixels == gray);
  CHECK(c->channels == 3);
  CHECK(c->pixels == rgb);

  Status wrongSize = writePngGray(gp, 7, 6, gray);
  REQUIRE(!wrongSize.ok());
  CHECK(wrongSize.error().find("needs 42 bytes, got 35") != std::string::npos);
  Result<PngImage> notPng = readPng((dir.path / "x").string());
  CHECK(!notPng.ok());
}

TEST_CASE("io: reconstruction grid puts originals above reconstructions") {
  TempDir dir;
  const int count = 8, rows = 28, cols = 28, scale = 4;
  std::vector<float> orig(count * rows * cols), recon(orig.size());
  for (int k = 0; k < count; ++k)
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < cols; ++x) {
        // A filled disc whose radius grows with k; the reconstruction is a blurrier copy.
        float r = std::hypot(y - 13.5f, x - 13.5f);
        orig[(k * rows + y) * cols + x] = r < 4 + k ? 1.f : 0.f;
        recon[(k * rows + y) * cols + x] = std::clamp(4.5f + k - r, 0.f, 1.f) * 0.8f;
      }
  std::string path = (dir.path / "recon.png").string();
  REQUIRE(writeReconstructionGrid(path, orig, recon, count, rows, cols, scale).ok());
  Result<PngImage> img = readPng(path);
  REQUIRE_MESSAGE(img.ok(), img.error());
  CHECK(img->width == count * cols * scale + (count + 1) * scale);
  CHECK(img->height == 2 * rows * scale + 3 * scale);
  CHECK(img->channels == 1);
  auto at = [&](int x, int y) { return img->pixels[size_t(y) * img->width + x]; };
  const int cell = cols * scale + scale;
  CHECK(at(0, 0) == 96);                                         // gap colour
  CHECK(at(scale + 56, scale + 56) == 255);                      // centre of original 0
  CHECK(at(scale, scale) == 0);                                  // corner of original 0
  CHECK(at(scale + 7 * cell + 56, 2 * scale + 112 + 56) == 204); // centre of recon 7 (0.8)

  std::vector<float> tooFew(10);
  Status s = writeReconstructionGrid(path, tooFew, recon, count);
  REQUIRE(!s.ok());
  CHECK(s.error().find("need 6272 values each, got 10 originals") != std::string::npos);
  CHECK(!writeReconstructionGrid(path, orig, recon, 0).ok());
}

TEST_CASE("io: loss plot is an 800x500 RGB image with one colour per series") {
  TempDir dir;
  std::string both = (dir.path / "loss.png").string(), one = (dir.path / "train.png").string();
  std::vector<double> train = {0.25, 0.16, 0.131, 0.118, 0.109, 0.104, 0.1, 0.097, 0.095, 0.093};
  std::vector<double> val = {0.18, 0.14, 0.125, 0.115, 0.11, 0.106, 0.103, 0.101, 0.1, 0.099};
  REQUIRE(writeLossPlot(both, train, val).ok());
  REQUIRE(writeLossPlot(one, {0.7, NAN, 0.5}, {}).ok());
  Result<PngImage> a = readPng(both), b = readPng(one);
  REQUIRE_MESSAGE(a.ok(), a.error());
  REQUIRE_MESSAGE(b.ok(), b.error());
  CHECK(a->width == 800);
  CHECK(a->height == 500);
  CHECK(a->channels == 3);
  CHECK(countColor(*a, 31, 119, 180) > 500); // train line, markers and legend
  CHECK(countColor(*a, 230, 110, 20) > 500); // validation likewise
  CHECK(countColor(*b, 31, 119, 180) > 50);
  CHECK(countColor(*b, 230, 110, 20) == 0);

  Status none = writeLossPlot(one, {NAN}, {});
  REQUIRE(!none.ok());
  CHECK(none.error().find("no finite loss values to plot") != std::string::npos);
  REQUIRE(writeLossPlot(one, {2.0}, {2.0}).ok());
  Status noDir = writeLossPlot((dir.path / "no" / "x.png").string(), train, val);
  CHECK(!noDir.ok());
}

TEST_CASE("io: a curve plot draws every series, sparse epochs included") {
  TempDir dir;
  std::string path = (dir.path / "curves.png").string();
  std::vector<CurveSeries> series = {{"nnc", {1, 2, 3, 4, 5, 6}, {0.69, 0.68, 0.6, 0.5, 0.4, 0.35}},
                                     {"torch", {1, 2, 3}, {0.69, 0.67, 0.61}},
                                     {"keras", {1, 10, 50}, {0.7, 0.6, 0.3}}};
  REQUIRE(writeCurvePlot(path, series).ok());
  Result<PngImage> img = readPng(path);
  REQUIRE(img.ok());
  CHECK(img->width == 800);
  CHECK(img->height == 500);
  // The palette's first three colours: blue, orange, green (lines, points and legend).
  CHECK(countColor(*img, 31, 119, 180) > 200);
  CHECK(countColor(*img, 230, 110, 20) > 100);
  CHECK(countColor(*img, 44, 160, 44) > 200);
  series.pop_back();
  REQUIRE(writeCurvePlot(path, series).ok());
  img = readPng(path);
  REQUIRE(img.ok());
  CHECK(countColor(*img, 44, 160, 44) == 0);
  Status empty = writeCurvePlot(path, {{"none", {1}, {NAN}}});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().find("no finite loss values") != std::string::npos);
}

TEST_CASE("io: a curve plot puts its legend where it hides the fewest points") {
  TempDir dir;
  std::string path = (dir.path / "legend.png").string();
  // Rising curves fill the top right corner, the default place of the legend.
  std::vector<double> epochs, rising;
  for (int e = 1; e <= 40; ++e) epochs.push_back(e), rising.push_back(0.1 + 0.01 * e * e / 16);
  REQUIRE(writeCurvePlot(path, {{"rising", epochs, rising}}).ok());
  Result<PngImage> img = readPng(path);
  REQUIRE(img.ok());
  size_t frameLeft = 0, frameRight = 0;
  for (uint32_t y = 0; y < img->height; ++y)
    for (uint32_t x = 0; x < img->width; ++x) {
      const uint8_t *p = &img->pixels[(size_t(y) * img->width + x) * 3];
      if (p[0] == 120 && p[1] == 120 && p[2] == 120)
        (x < img->width / 2 ? frameLeft : frameRight)++;
    }
  CHECK(frameLeft > 100);
  CHECK(frameRight < frameLeft / 4);
}

TEST_CASE("io: PNG chunks and sizes are checked before libpng allocates for them") {
  // Found by fuzz_png: an eXIf chunk declaring 838860800 bytes in a 63-byte file made libpng
  // allocate 800 MiB before noticing the file had ended.
  const unsigned char exif[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00,
                                0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00,
                                0x00, 0x01, 0x08, 0x04, 0x00, 0x00, 0x00, 0x5e, 0x2b, 0xb7, 0x01,
                                0x32, 0x00, 0x00, 0x00, 0x65, 0x58, 0x49, 0x66, 0x0d, 0x49, 0x44,
                                0x41, 0x54, 0x78, 0x9c, 0x63, 0x70, 0xf8, 0x7f, 0x80, 0x01, 0x00,
                                0x05, 0x82, 0x02, 0x00, 0x08, 0xe7, 0xdd, 0x98};
  Result<PngImage> r =
      decodePng(std::string(reinterpret_cast<const char *>(exif), sizeof exif), "f.png");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "f.png: PNG chunk 'eXIf' at byte 33 declares 838860800 bytes of data, but "
                     "the file ends 30 bytes after its start");

  // A header promising 16384 x 16384 pixels is refused from the header alone.
  Result<std::string> small = encodePng(2, 1, 1, {0, 255});
  REQUIRE(small.ok());
  std::string big = *small;
  for (size_t at : {16, 20}) big.replace(at, 4, std::string("\0\0\x40\0", 4));
  uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef *>(big.data() + 12), 17));
  for (int i = 0; i < 4; ++i) big[29 + i] = char(crc >> (24 - 8 * i));
  Result<PngImage> tooBig = decodePng(big, "big.png");
  REQUIRE_FALSE(tooBig.ok());
  CHECK(tooBig.error() == "big.png: the PNG is too large (16384x16384 pixels; nnc reads at most "
                          "67108864)");
  Result<PngImage> ok = decodePng(*small, "small.png");
  REQUIRE_MESSAGE(ok.ok(), ok.error());
  CHECK(ok->pixels == std::vector<uint8_t>{0, 255});
}
