// Class-folder datasets. The layout is found first (train/ and test/ both present: split;
// otherwise the class folders sit directly under DIR), then each class folder 0..9 is listed:
// hidden entries are skipped, anything but a .png file is refused by name, and the files are
// sorted by name so that the order (and the every-fifth-to-test rule) does not depend on the
// file system. The number of images is known before any is decoded; the first image fixes the
// size, which bounds the whole buffer (kMaxIdxBytes) before it is reserved, and every other image
// must match it.
#include "runtime/ImageFolder.h"

#include "runtime/Png.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <system_error>
#include <vector>

namespace nnc {

namespace {

namespace fs = std::filesystem;

/// One image to read and its label.
struct Item {
  std::string path;
  uint8_t label = 0;
};

/// The images of one class folder after another (class 0 first), each in file-name order.
using Classes = std::array<std::vector<Item>, 10>;

bool isClassName(const std::string &n) {
  return n.size() == 1 && n[0] >= '0' && n[0] <= '9';
}

bool isPngName(const std::string &n) {
  if (n.size() < 4) return false;
  std::string ext = n.substr(n.size() - 4);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".png";
}

/// Lists the PNG files of class folder `dir` (label `label`) into `out`, refusing anything else.
Status listClass(const fs::path &dir, uint8_t label, std::vector<Item> &out, uint64_t &total) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (!it->is_regular_file(ec) || !isPngName(name))
      return Error{it->path().string() + ": not a .png file (class folders hold PNG images only)"};
    if (++total > kMaxIdxCount)
      return Error{dir.string() + ": more than " + std::to_string(kMaxIdxCount) + " images"};
    out.push_back({it->path().string(), label});
  }
  if (ec) return Error{"cannot list '" + dir.string() + "': " + ec.message()};
  std::sort(out.begin(), out.end(), [](const Item &a, const Item &b) { return a.path < b.path; });
  return okStatus();
}

/// Lists the class folders 0..9 directly under `dir`; other folders are refused, files ignored.
Result<Classes> listClasses(const fs::path &dir, uint64_t &total) {
  Classes classes;
  std::error_code ec;
  bool any = false;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !it->is_directory(ec)) continue;
    if (!isClassName(name))
      return Error{it->path().string() + ": not a class folder (class folders are named 0 to 9)"};
    any = true;
    uint8_t label = uint8_t(name[0] - '0');
    if (Status s = listClass(it->path(), label, classes[label], total); !s) return Error{s.error()};
  }
  if (ec) return Error{"cannot list '" + dir.string() + "': " + ec.message()};
  if (!any) return Error{dir.string() + ": no class folders 0..9"};
  return classes;
}

/// The first image's size, which every image must have.
struct FirstImage {
  std::string path;
  uint32_t width = 0, height = 0;
};

/// Reads `items` as gray images into `d`; `expected` images in all fix the buffer size.
Status readImages(const std::vector<Item> &items, Dataset &d, FirstImage &first,
                  uint64_t expected) {
  for (const Item &item : items) {
    Result<PngImage> img = readPng(item.path);
    if (!img) return Error{img.error()};
    if (first.path.empty()) {
      if (img->width > kMaxIdxSide || img->height > kMaxIdxSide)
        return Error{item.path + ": the image is " + std::to_string(img->width) +
                     " pixels wide and " + std::to_string(img->height) +
                     " high; nnc reads at most " + std::to_string(kMaxIdxSide) + " each way"};
      if (expected * img->width * img->height > kMaxIdxBytes)
        return Error{item.path + ": " + std::to_string(expected) +
                     " images of this size are more than " + byteSizeText(kMaxIdxBytes)};
      first = {item.path, img->width, img->height};
    }
    if (img->width != first.width || img->height != first.height)
      return Error{item.path + ": the image is " + std::to_string(img->width) +
                   " pixels wide and " + std::to_string(img->height) + " high, but " + first.path +
                   " is " + std::to_string(first.width) + " wide and " +
                   std::to_string(first.height) + " high: all images must have one size"};
    d.rows = first.height;
    d.cols = first.width;
    if (d.pixels.empty()) d.pixels.reserve(size_t(items.size() * first.width * first.height));
    const std::vector<uint8_t> &px = img->pixels;
    if (img->channels == 1) {
      d.pixels.insert(d.pixels.end(), px.begin(), px.end());
    } else {
      for (size_t i = 0; i + 2 < px.size(); i += 3)
        d.pixels.push_back(lumaOf(px[i], px[i + 1], px[i + 2]));
    }
    d.labels.push_back(item.label);
    ++d.count;
  }
  return okStatus();
}

std::vector<Item> flatten(const Classes &classes) {
  std::vector<Item> out;
  for (const std::vector<Item> &c : classes) out.insert(out.end(), c.begin(), c.end());
  return out;
}

} // namespace

uint8_t lumaOf(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((19595u * r + 38470u * g + 7471u * b + 0x8000u) >> 16);
}

bool hasClassFolders(const std::string &dir) {
  std::error_code ec;
  if (fs::is_directory(fs::path(dir) / "train", ec) || fs::is_directory(fs::path(dir) / "test", ec))
    return true;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (isClassName(it->path().filename().string()) && it->is_directory(ec)) return true;
  return false;
}

Result<DataSplit> readImageFolders(const std::string &dir) {
  fs::path root(dir);
  std::error_code ec;
  bool hasTrain = fs::is_directory(root / "train", ec),
       hasTest = fs::is_directory(root / "test", ec);
  std::vector<Item> train, test;
  uint64_t total = 0;
  std::string description = dir + ", PNG class folders";
  if (hasTrain || hasTest) {
    if (!hasTrain || !hasTest)
      return Error{dir + ": has " + (hasTrain ? "train/ but no test/" : "test/ but no train/") +
                   " folder (a split dataset needs both)"};
    Result<Classes> tr = listClasses(root / "train", total);
    if (!tr) return Error{tr.error()};
    Result<Classes> te = listClasses(root / "test", total);
    if (!te) return Error{te.error()};
    train = flatten(*tr);
    test = flatten(*te);
  } else {
    Result<Classes> all = listClasses(root, total);
    if (!all) return Error{all.error()};
    for (const std::vector<Item> &c : *all)
      for (size_t i = 0; i < c.size(); ++i) (i % 5 == 4 ? test : train).push_back(c[i]);
    description += ", every fifth image of each class held out for test";
  }
  if (train.empty()) return Error{dir + ": no PNG images for the train split"};
  if (test.empty())
    return Error{dir + ": no PNG images for the test split" +
                 (hasTrain ? std::string()
                           : " (every fifth image of a class is held out: a class "
                             "needs at least 5 images)")};
  FirstImage first;
  Dataset trainSet, testSet;
  if (Status st = readImages(train, trainSet, first, total); !st) return Error{st.error()};
  if (Status st = readImages(test, testSet, first, total); !st) return Error{st.error()};
  return makeSplit(std::move(trainSet), std::move(testSet), dir, description);
}

} // namespace nnc
