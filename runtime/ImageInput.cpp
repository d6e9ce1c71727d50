// Reading a learner's PNG or PGM images as gray and resizing them (see ImageInput.h).
#include "runtime/ImageInput.h"

#include "runtime/ImageFolder.h"
#include "runtime/Png.h"
#include "support/FileUtil.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace nnc {

namespace {

/// Reads PGM header fields: whitespace-separated integers with '#' comments between them.
class PgmHeader {
public:
  PgmHeader(std::string_view bytes, size_t at) : b_(bytes), at_(at) {}

  /// The next unsigned integer of at most 9 digits, or nullopt.
  std::optional<uint32_t> next() {
    while (at_ < b_.size() && (std::isspace(uint8_t(b_[at_])) || b_[at_] == '#')) {
      if (b_[at_] == '#')
        while (at_ < b_.size() && b_[at_] != '\n') ++at_;
      else
        ++at_;
    }
    uint32_t v = 0;
    size_t start = at_;
    while (at_ < b_.size() && std::isdigit(uint8_t(b_[at_])) && at_ - start < 9)
      v = v * 10 + uint32_t(b_[at_++] - '0');
    if (at_ == start || (at_ < b_.size() && std::isdigit(uint8_t(b_[at_])))) return std::nullopt;
    return v;
  }
  /// Where the next field would start.
  size_t position() const { return at_; }

private:
  std::string_view b_;
  size_t at_;
};

/// A sample 0..maxval as a byte 0..255.
uint8_t toByte(uint32_t v, uint32_t maxval) {
  return uint8_t((uint64_t(v) * 255 + maxval / 2) / maxval);
}

} // namespace

Result<GrayImage> decodePgm(std::string_view bytes, const std::string &name) {
  if (bytes.size() < 2 || bytes[0] != 'P' || (bytes[1] != '5' && bytes[1] != '2'))
    return Error{name + ": not a PGM image (expected 'P5' or 'P2' at the start)"};
  bool binary = bytes[1] == '5';
  PgmHeader h(bytes, 2);
  std::optional<uint32_t> w = h.next(), ht = h.next(), maxval = h.next();
  if (!w || !ht || !maxval || *maxval == 0 || *maxval > 65535)
    return Error{name + ": a PGM header needs width, height and a maxval from 1 to 65535"};
  if (*w == 0 || *ht == 0 || uint64_t(*w) * *ht > kMaxPngPixels)
    return Error{name + ": a " + std::to_string(*w) + "x" + std::to_string(*ht) +
                 " PGM image (nnc reads 1 to " + std::to_string(kMaxPngPixels) + " pixels)"};
  GrayImage img;
  img.width = *w;
  img.height = *ht;
  uint64_t n = uint64_t(*w) * *ht;
  img.pixels.reserve(size_t(n));
  if (!binary) {
    for (uint64_t i = 0; i < n; ++i) {
      std::optional<uint32_t> v = h.next();
      if (!v || *v > *maxval)
        return Error{name + ": sample " + std::to_string(i) + " of " + std::to_string(n) +
                     " is missing or above the maxval " + std::to_string(*maxval)};
      img.pixels.push_back(toByte(*v, *maxval));
    }
    return img;
  }
  size_t start = h.position() + 1; // one whitespace byte ends the header
  uint64_t sampleBytes = *maxval > 255 ? 2 : 1;
  if (start > bytes.size() || bytes.size() - start < n * sampleBytes)
    return Error{name + ": the PGM header promises " + std::to_string(n * sampleBytes) +
                 " bytes of pixels, the file has " +
                 std::to_string(bytes.size() - std::min(start, bytes.size()))};
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t *p = reinterpret_cast<const uint8_t *>(bytes.data() + start + i * sampleBytes);
    uint32_t v = sampleBytes == 2 ? uint32_t(p[0]) << 8 | p[1] : p[0];
    img.pixels.push_back(toByte(std::min(v, *maxval), *maxval));
  }
  return img;
}

Result<GrayImage> readGrayImage(const std::string &path) {
  Result<std::string> bytes = readFileBytes(path, kMaxPngBytes, "images");
  if (!bytes) return Error{bytes.error()};
  if (bytes->size() >= 2 && (*bytes)[0] == 'P' && ((*bytes)[1] == '5' || (*bytes)[1] == '2'))
    return decodePgm(*bytes, path);
  if (bytes->size() < 8 || bytes->compare(0, 8, "\x89PNG\r\n\x1a\n") != 0)
    return Error{path + ": not a PNG or PGM image (expected the PNG signature or 'P5'/'P2')"};
  Result<PngImage> png = decodePng(*bytes, path);
  if (!png) return Error{png.error()};
  GrayImage img;
  img.width = png->width;
  img.height = png->height;
  if (png->channels == 1) {
    img.pixels = std::move(png->pixels);
    return img;
  }
  img.pixels.reserve(size_t(img.width) * img.height);
  for (size_t i = 0; i + 2 < png->pixels.size(); i += 3)
    img.pixels.push_back(lumaOf(png->pixels[i], png->pixels[i + 1], png->pixels[i + 2]));
  return img;
}

namespace {

/// For each of `out` target cells along an axis of `in` source pixels, the source pixels it
/// covers and by how much (weights sum to 1).
struct Span {
  int64_t first = 0;
  std::vector<double> weights;
};

/// The spans of `out` target cells over `in` source pixels.
std::vector<Span> spans(int64_t in, int64_t out) {
  std::vector<Span> s(static_cast<size_t>(out));
  double step = double(in) / double(out);
  for (int64_t o = 0; o < out; ++o) {
    double lo = double(o) * step, hi = double(o + 1) * step;
    Span &sp = s[size_t(o)];
    sp.first = int64_t(lo);
    for (int64_t i = sp.first; i < in && double(i) < hi; ++i)
      sp.weights.push_back((std::min(hi, double(i + 1)) - std::max(lo, double(i))) / step);
  }
  return s;
}

} // namespace

std::vector<float> resizeToUnit(const GrayImage &img, int64_t rows, int64_t cols) {
  std::vector<float> out(size_t(rows * cols), 0.f);
  if (img.width == 0 || img.height == 0 || rows <= 0 || cols <= 0) return out;
  std::vector<Span> ys = spans(img.height, rows), xs = spans(img.width, cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const Span &sy = ys[size_t(r)], &sx = xs[size_t(c)];
      double sum = 0;
      for (size_t j = 0; j < sy.weights.size(); ++j)
        for (size_t i = 0; i < sx.weights.size(); ++i)
          sum += sy.weights[j] * sx.weights[i] *
                 img.pixels[size_t((sy.first + int64_t(j)) * img.width + sx.first + int64_t(i))];
      out[size_t(r * cols + c)] = float(std::clamp(sum / 255.0, 0.0, 1.0));
    }
  return out;
}

} // namespace nnc
