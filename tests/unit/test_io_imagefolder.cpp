// PNG images in class folders as a dataset: the split layout (train/ and test/) and the flat one
// (every fifth image of a class to test), gray and RGB files (luma as Pillow computes it), and
// each refusal naming its file: an odd size, a folder not named 0..9, a file that is not a PNG,
// half a split, too few images to hold one out. nnc train reads such a folder end to end.
#include "runtime/ImageFolder.h"
#include "runtime/Png.h"

#include "TestUtil.h"
#include "test_io_util.h"

#include <doctest/doctest.h>

#include <fstream>
#include <iterator>

using namespace nnc;
using nnc::test::TempDir;
namespace fs = std::filesystem;

namespace {

/// Writes a gray w x h PNG whose pixels are all `value`.
void gray(const fs::path &p, uint8_t value, uint32_t w = 4, uint32_t h = 3) {
  fs::create_directories(p.parent_path());
  REQUIRE(writePngGray(p.string(), w, h, std::vector<uint8_t>(size_t(w) * h, value)).ok());
}

/// Writes an RGB 4 x 3 PNG whose pixels are all (r, g, b).
void rgb(const fs::path &p, uint8_t r, uint8_t g, uint8_t b) {
  fs::create_directories(p.parent_path());
  std::vector<uint8_t> px;
  for (int i = 0; i < 12; ++i) px.insert(px.end(), {r, g, b});
  REQUIRE(writePngRgb(p.string(), 4, 3, px).ok());
}

std::string loadError(const fs::path &dir) {
  Result<DataSplit> r = loadDataset(dir.string());
  return r ? std::string("(accepted)") : r.error();
}

} // namespace

TEST_CASE("io: luma is Pillow's convert('L')") {
  // PIL: Image.new('RGB', (1, 1), c).convert('L').getpixel((0, 0)) for each c below.
  CHECK(lumaOf(255, 0, 0) == 76);
  CHECK(lumaOf(0, 255, 0) == 150);
  CHECK(lumaOf(0, 0, 255) == 29);
  CHECK(lumaOf(255, 255, 255) == 255);
  CHECK(lumaOf(10, 200, 30) == 124);
}

TEST_CASE("io: PNG class folders train/D and test/D are a dataset") {
  TempDir dir;
  gray(dir.path / "train/0/a.png", 10);
  gray(dir.path / "train/0/b.png", 20);
  rgb(dir.path / "train/3/c.png", 255, 0, 0);
  gray(dir.path / "test/9/d.png", 200);
  gray(dir.path / "test/3/.hidden.png", 1, 9, 9); // hidden: skipped
  std::ofstream(dir.path / "README.txt") << "files next to the folders are ignored";
  Result<DataSplit> d = loadDataset(dir.path.string());
  REQUIRE_MESSAGE(d.ok(), d.error());
  CHECK(d->train.count == 3);
  CHECK(d->test.count == 1);
  CHECK(d->train.rows == 3);
  CHECK(d->train.cols == 4);
  CHECK(d->train.labels == std::vector<uint8_t>{0, 0, 3});
  CHECK(d->test.labels == std::vector<uint8_t>{9});
  REQUIRE(d->train.pixels.size() == 36);
  CHECK(d->train.pixels[0] == 10);
  CHECK(d->train.pixels[12] == 20);
  CHECK(d->train.pixels[24] == 76); // red by luma
  CHECK(d->test.pixels[11] == 200);
  CHECK(d->description == dir.path.string() + ", PNG class folders (3 train / 1 test, 3x4)");
}

TEST_CASE("io: PNG class folders without train/test hold every fifth image out for test") {
  TempDir dir;
  for (int i = 0; i < 6; ++i)
    gray(dir.path / "2" / ("img" + std::to_string(i) + ".png"), uint8_t(i));
  for (int i = 0; i < 5; ++i)
    gray(dir.path / "7" / ("x" + std::to_string(i) + ".png"), uint8_t(100 + i));
  Result<DataSplit> d = loadDataset(dir.path.string());
  REQUIRE_MESSAGE(d.ok(), d.error());
  CHECK(d->train.count == 9);
  CHECK(d->test.count == 2);
  CHECK(d->train.labels == std::vector<uint8_t>{2, 2, 2, 2, 2, 7, 7, 7, 7});
  CHECK(d->test.labels == std::vector<uint8_t>{2, 7});
  CHECK(d->test.pixels[0] == 4);       // img4.png, the fifth of class 2 by name
  CHECK(d->test.pixels[12] == 104);    // x4.png
  CHECK(d->train.pixels[4 * 12] == 5); // img5.png stays in train
  CHECK(d->description.find("every fifth image of each class held out for test") !=
        std::string::npos);
}

TEST_CASE("io: PNG class folders are refused naming the file or folder at fault") {
  TempDir dir;
  fs::path root = dir.path;
  SUBCASE("an image of another size") {
    gray(root / "train/1/a.png", 1);
    gray(root / "test/1/b.png", 1, 5, 3);
    CHECK(loadError(root) == (root / "test/1/b.png").string() +
                                 ": the image is 5 pixels wide and 3 high, but " +
                                 (root / "train/1/a.png").string() +
                                 " is 4 wide and 3 high: all images must have one size");
  }
  SUBCASE("a folder not named 0..9") {
    gray(root / "1/a.png", 1);
    gray(root / "cats/b.png", 1);
    CHECK(loadError(root) ==
          (root / "cats").string() + ": not a class folder (class folders are named 0 to 9)");
  }
  SUBCASE("a file that is not a PNG") {
    gray(root / "train/1/a.png", 1);
    gray(root / "test/1/a.png", 1);
    std::ofstream(root / "test/1/b.jpg") << "jpeg";
    CHECK(loadError(root) == (root / "test/1/b.jpg").string() +
                                 ": not a .png file (class folders hold PNG images only)");
  }
  SUBCASE("a .png that is not a PNG") {
    gray(root / "train/1/a.png", 1);
    std::ofstream(root / "train/1/b.png") << "not a png";
    gray(root / "test/1/a.png", 1);
    CHECK(loadError(root).find((root / "train/1/b.png").string() + ": ") == 0);
  }
  SUBCASE("train/ without test/") {
    gray(root / "train/1/a.png", 1);
    CHECK(loadError(root) == root.string() + ": has train/ but no test/ folder (a split dataset "
                                             "needs both)");
  }
  SUBCASE("too few images to hold one out") {
    gray(root / "4/a.png", 1);
    CHECK(loadError(root) == root.string() + ": no PNG images for the test split (every fifth "
                                             "image of a class is held out: a class needs at "
                                             "least 5 images)");
  }
  SUBCASE("neither IDX files nor class folders") {
    std::ofstream(root / "notes.txt") << "x";
    CHECK(loadError(root).find("cannot load a dataset from '" + root.string() +
                               "': missing train-images-idx3-ubyte[.gz]") == 0);
    CHECK(loadError(root).find("no class folders 0..9 of PNG images (DIR/train/3/x.png and "
                               "DIR/test/3/y.png, or DIR/3/x.png)") != std::string::npos);
  }
}

TEST_CASE("io: nnc train --data DIR trains on PNG class folders") {
  TempDir dir;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 5; ++i)
      gray(dir.path / "digits" / std::to_string(c) / (std::to_string(i) + ".png"),
           uint8_t(40 * c + i), 8, 8);
  std::ofstream(dir.path / "m.nn") << "model m\ninput x: [8, 8, 1]\nh = flatten(x)\n"
                                      "h = dense(h, 64, activation=sigmoid)\n"
                                      "y = reshape(h, shape=[8, 8, 1])\n"
                                      "loss mse(y, x)\n";
  std::string err = (dir.path / "err").string();
  test::ChildRun r = test::runNncChild(
      {"train", (dir.path / "m.nn").string(), "--data", (dir.path / "digits").string(), "--epochs",
       "1", "--backend", "interp", "--checkpoint", (dir.path / "ck").string()},
      err, 60);
  std::ifstream in(err);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO(out);
  CHECK(r.code == 0);
  CHECK(out.find("PNG class folders, every fifth image of each class held out for test (12 train "
                 "/ 3 test, 8x8)") != std::string::npos);
}
