// PNG encoding/decoding through libpng's simplified png_image API (no setjmp needed; before
// decoding, every chunk's declared length is checked against the data), and two report
// images drawn on an in-memory canvas: a reconstruction grid (nearest-neighbour upscaling)
// and a loss plot (axes with "nice" 1-2-5 tick steps, grid lines, 2-pixel Bresenham
// polylines with square markers, a legend, text in a 5x7 bitmap font).
#include "runtime/Png.h"

#include "support/FileUtil.h"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <optional>

namespace nnc {

namespace {

/// 5x7 glyphs: seven rows, bit 4 is the leftmost column.
struct Glyph {
  char c;
  uint8_t rows[7];
};

constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'A', {0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {'a', {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}},
    {'b', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}},
    {'c', {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}},
    {'d', {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}},
    {'e', {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
    {'f', {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}},
    {'g', {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}},
    {'j', {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}},
    {'k', {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}},
    {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'m', {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}},
    {'n', {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}},
    {'p', {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}},
    {'q', {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}},
    {'r', {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},
    {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}},
    {'v', {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'w', {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}},
    {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}},
    {'y', {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
    {'z', {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}},
};

/// The glyph for `c`; unknown characters draw as a hollow box, a space as nothing.
const uint8_t *glyphFor(char c) {
  static constexpr uint8_t space[7] = {0, 0, 0, 0, 0, 0, 0};
  static constexpr uint8_t box[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};
  if (c == ' ') return space;
  for (const Glyph &g : kFont)
    if (g.c == c) return g.rows;
  return box;
}

struct Rgb {
  uint8_t r, g, b;
};

constexpr Rgb kBlack{0, 0, 0}, kWhite{255, 255, 255}, kGrid{225, 225, 225}, kFrame{120, 120, 120},
    kTrain{31, 119, 180}, kValidation{230, 110, 20};

/// An RGB raster with clipped drawing primitives.
class Canvas {
public:
  Canvas(int w, int h, Rgb bg) : w_(w), h_(h), px_(static_cast<size_t>(w) * h * 3) {
    fill(0, 0, w, h, bg);
  }
  int width() const { return w_; }
  int height() const { return h_; }
  const std::vector<uint8_t> &pixels() const { return px_; }

  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_) return;
    uint8_t *p = &px_[(static_cast<size_t>(y) * w_ + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }
  void fill(int x, int y, int w, int h, Rgb c) {
    for (int j = y; j < y + h; ++j)
      for (int i = x; i < x + w; ++i) set(i, j, c);
  }
  void rect(int x, int y, int w, int h, Rgb c) {
    fill(x, y, w, 1, c);
    fill(x, y + h - 1, w, 1, c);
    fill(x, y, 1, h, c);
    fill(x + w - 1, y, 1, h, c);
  }
  /// A Bresenham line; `thick` > 1 stamps a thick x thick square at each step.
  void line(int x0, int y0, int x1, int y1, Rgb c, int thick = 1) {
    int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
      fill(x0 - (thick - 1) / 2, y0 - (thick - 1) / 2, thick, thick, c);
      if (x0 == x1 && y0 == y1) break;
      int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  /// Draws `s` with its top-left corner at (x, y), glyphs scaled by `scale`.
  void text(int x, int y, const std::string &s, Rgb c, int scale) {
    for (char ch : s) {
      const uint8_t *g = glyphFor(ch);
      for (int r = 0; r < 7; ++r)
        for (int col = 0; col < 5; ++col)
          if (g[r] & (0x10 >> col)) fill(x + col * scale, y + r * scale, scale, scale, c);
      x += 6 * scale;
    }
  }
  /// Draws `s` rotated 90 degrees counter-clockwise, reading upwards from (x, y) (bottom-left).
  void textUp(int x, int y, const std::string &s, Rgb c, int scale) {
    for (char ch : s) {
      const uint8_t *g = glyphFor(ch);
      for (int r = 0; r < 7; ++r)
        for (int col = 0; col < 5; ++col)
          if (g[r] & (0x10 >> col)) fill(x + r * scale, y - (col + 1) * scale, scale, scale, c);
      y -= 6 * scale;
    }
  }
  static int textWidth(const std::string &s, int scale) {
    return s.empty() ? 0 : static_cast<int>(s.size()) * 6 * scale - scale;
  }

private:
  int w_, h_;
  std::vector<uint8_t> px_;
};

/// A "nice" step (1, 2 or 5 times a power of ten) near range / target.
double niceStep(double range, int target) {
  double raw = range / target;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

std::string formatTick(double v, double step) {
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  if (std::fabs(v) < step * 1e-6) v = 0;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 12), v);
  return buf;
}

/// A value in [0, 1] (clamped; NaN is 0) as a gray byte.
uint8_t grayByte(float v) {
  v = std::isnan(v) ? 0.f : std::clamp(v, 0.f, 1.f);
  return static_cast<uint8_t>(std::lround(v * 255.f));
}

} // namespace

Result<std::string> encodePng(uint32_t width, uint32_t height, int channels,
                              const std::vector<uint8_t> &pixels) {
  if (channels != 1 && channels != 3)
    return Error{"PNG images have 1 (gray) or 3 (RGB) channels, not " + std::to_string(channels)};
  if (width == 0 || height == 0 || width > (1u << 16) || height > (1u << 16))
    return Error{"cannot encode a " + std::to_string(width) + "x" + std::to_string(height) +
                 " PNG (each side must be 1..65536)"};
  uint64_t need = uint64_t(width) * height * channels;
  if (pixels.size() != need)
    return Error{"a " + std::to_string(width) + "x" + std::to_string(height) + " image with " +
                 std::to_string(channels) + " channel(s) needs " + std::to_string(need) +
                 " bytes, got " + std::to_string(pixels.size())};
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = width;
  img.height = height;
  img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  png_int_32 stride = static_cast<png_int_32>(width * channels);
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, pixels.data(), stride, nullptr))
    return Error{std::string("libpng cannot encode the image: ") + img.message};
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&img, out.data(), &size, 0, pixels.data(), stride, nullptr))
    return Error{std::string("libpng cannot encode the image: ") + img.message};
  out.resize(size);
  return out;
}

namespace {

Status writePng(const std::string &path, uint32_t width, uint32_t height, int channels,
                const std::vector<uint8_t> &pixels) {
  Result<std::string> bytes = encodePng(width, height, channels, pixels);
  if (!bytes) return Error{"cannot write '" + path + "': " + bytes.error()};
  return writeFileAtomic(path, *bytes);
}

} // namespace

Status writePngGray(const std::string &path, uint32_t width, uint32_t height,
                    const std::vector<uint8_t> &pixels) {
  return writePng(path, width, height, 1, pixels);
}

Status writePngRgb(const std::string &path, uint32_t width, uint32_t height,
                   const std::vector<uint8_t> &rgb) {
  return writePng(path, width, height, 3, rgb);
}

namespace {

uint32_t loadBE32(std::string_view b, size_t at) {
  return uint32_t(uint8_t(b[at])) << 24 | uint32_t(uint8_t(b[at + 1])) << 16 |
         uint32_t(uint8_t(b[at + 2])) << 8 | uint32_t(uint8_t(b[at + 3]));
}

/// Checks that every chunk up to IEND lies inside `bytes`: libpng allocates a chunk's
/// declared length before reading it, so a 30-byte file could make it allocate 2 GiB.
std::optional<std::string> checkChunks(std::string_view bytes, const std::string &name) {
  size_t at = 8; // after the signature, which libpng checks
  while (at + 8 <= bytes.size()) {
    uint64_t length = loadBE32(bytes, at);
    std::string type(bytes.substr(at + 4, 4));
    if (length + 12 > bytes.size() - at)
      return name + ": PNG chunk '" + type + "' at byte " + std::to_string(at) + " declares " +
             std::to_string(length) + " bytes of data, but the file ends " +
             std::to_string(bytes.size() - at) + " bytes after its start";
    if (type == "IEND") break;
    at += size_t(length) + 12;
  }
  return std::nullopt;
}

} // namespace

Result<PngImage> decodePng(std::string_view bytes, const std::string &name) {
  if (std::optional<std::string> err = checkChunks(bytes, name)) return Error{*err};
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size()))
    return Error{name + ": not a readable PNG: " + img.message};
  if (uint64_t(img.width) * img.height > kMaxPngPixels) {
    png_image_free(&img);
    return Error{name + ": the PNG is too large (" + std::to_string(img.width) + "x" +
                 std::to_string(img.height) + " pixels; nnc reads at most " +
                 std::to_string(kMaxPngPixels) + ")"};
  }
  PngImage out;
  out.channels = (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  img.format = out.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  out.width = img.width;
  out.height = img.height;
  try {
    out.pixels.resize(PNG_IMAGE_SIZE(img));
  } catch (const std::bad_alloc &) {
    png_image_free(&img);
    return Error{name + ": not enough memory to decode the PNG (" + std::to_string(img.width) +
                 "x" + std::to_string(img.height) + ")"};
  }
  png_color background{255, 255, 255};
  if (!png_image_finish_read(&img, &background, out.pixels.data(), 0, nullptr)) {
    std::string msg = name + ": cannot decode the PNG: " + img.message;
    png_image_free(&img);
    return Error{msg};
  }
  return out;
}

Result<PngImage> readPng(const std::string &path) {
  Result<std::string> bytes = readFileBytes(path, kMaxPngBytes, "PNG files");
  if (!bytes) return Error{bytes.error()};
  return decodePng(*bytes, path);
}

Status writeReconstructionGrid(const std::string &path, const std::vector<float> &originals,
                               const std::vector<float> &reconstructions, int64_t count,
                               int64_t rows, int64_t cols, int scale, int64_t columns) {
  std::string where = "cannot write '" + path + "': ";
  if (count <= 0 || rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096 || scale < 1 ||
      scale > 64 || columns < 1)
    return Error{where + "invalid grid of " + std::to_string(count) + " images of " +
                 std::to_string(rows) + "x" + std::to_string(cols) + " at scale " +
                 std::to_string(scale)};
  const int64_t gap = scale, cell = cols * scale, tall = rows * scale;
  const int64_t across = std::min(count, columns), bands = (count + columns - 1) / columns;
  int64_t width = across * cell + (across + 1) * gap, height = bands * (2 * tall + 2 * gap) + gap;
  if (width > 65536 || height > 65536)
    return Error{where + "a grid of " + std::to_string(count) + " images would be " +
                 std::to_string(width) + "x" + std::to_string(height) +
                 " pixels (limit 65536 each way)"};
  uint64_t need = uint64_t(count) * rows * cols;
  if (originals.size() < need || reconstructions.size() < need)
    return Error{where + std::to_string(count) + " images of " + std::to_string(rows) + "x" +
                 std::to_string(cols) + " need " + std::to_string(need) + " values each, got " +
                 std::to_string(originals.size()) + " originals and " +
                 std::to_string(reconstructions.size()) + " reconstructions"};
  std::vector<uint8_t> px(static_cast<size_t>(width * height), 96);
  const std::vector<float> *srcs[2] = {&originals, &reconstructions};
  for (int row = 0; row < 2; ++row)
    for (int64_t k = 0; k < count; ++k) {
      const float *img = srcs[row]->data() + k * rows * cols;
      int64_t x0 = gap + (k % columns) * (cell + gap);
      int64_t y0 = gap + (k / columns) * (2 * tall + 2 * gap) + row * (tall + gap);
      for (int64_t y = 0; y < tall; ++y)
        for (int64_t x = 0; x < cell; ++x)
          px[static_cast<size_t>((y0 + y) * width + x0 + x)] =
              grayByte(img[(y / scale) * cols + x / scale]);
    }
  return writePngGray(path, static_cast<uint32_t>(width), static_cast<uint32_t>(height), px);
}

namespace {

/// Draws one 800x500 panel of curves (axes, ticks, `ylabel`, legend) at height `oy` of `c`;
/// false when no value is finite.
bool drawCurvePanel(Canvas &c, int oy, const std::vector<CurveSeries> &series,
                    const std::string &ylabel) {
  const int W = 800, H = 500, left = 90, right = 20, top = 20, bottom = 70;
  const int px0 = left, px1 = W - right, py0 = oy + top, py1 = oy + H - bottom;
  static const Rgb palette[] = {kTrain,        kValidation,     {44, 160, 44},
                                {214, 39, 40}, {148, 103, 189}, {140, 86, 75}};
  double lo = INFINITY, hi = -INFINITY, emax = 1;
  for (const CurveSeries &s : series)
    for (size_t i = 0; i < s.values.size() && i < s.epochs.size(); ++i)
      if (std::isfinite(s.values[i]) && std::isfinite(s.epochs[i])) {
        lo = std::min(lo, s.values[i]), hi = std::max(hi, s.values[i]);
        emax = std::max(emax, s.epochs[i]);
      }
  if (!std::isfinite(lo)) return false;
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
    double pad = std::fabs(hi) > 0 ? std::fabs(hi) * 0.1 : 1.0;
    lo -= pad, hi += pad;
  }
  double pad = (hi - lo) * 0.05;
  lo -= pad, hi += pad;
  int64_t epochs = static_cast<int64_t>(std::ceil(emax));
  double xlo = 1, xhi = static_cast<double>(epochs);
  if (epochs == 1)
    xlo = 0.5, xhi = 1.5;
  else {
    double xpad = (xhi - xlo) * 0.03;
    xlo -= xpad, xhi += xpad;
  }
  auto sx = [&](double e) {
    return px0 + static_cast<int>(std::lround((e - xlo) / (xhi - xlo) * (px1 - px0)));
  };
  auto sy = [&](double v) {
    return py1 - static_cast<int>(std::lround((v - lo) / (hi - lo) * (py1 - py0)));
  };

  const int fs = 2;
  double ystep = niceStep(hi - lo, 6);
  for (double t = std::ceil(lo / ystep) * ystep; t <= hi + ystep * 1e-9; t += ystep) {
    int y = sy(t);
    c.fill(px0, y, px1 - px0, 1, kGrid);
    c.fill(px0 - 6, y, 6, 1, kBlack);
    std::string label = formatTick(t, ystep);
    c.text(px0 - 10 - Canvas::textWidth(label, fs), y - 7, label, kBlack, fs);
  }
  int64_t xstep =
      std::max<int64_t>(1, static_cast<int64_t>(niceStep(static_cast<double>(epochs), 8)));
  for (int64_t e = xstep == 1 ? 1 : xstep; e <= epochs; e += xstep) {
    int x = sx(static_cast<double>(e));
    c.fill(x, py0, 1, py1 - py0, kGrid);
    c.fill(x, py1, 1, 6, kBlack);
    std::string label = std::to_string(e);
    c.text(x - Canvas::textWidth(label, fs) / 2, py1 + 12, label, kBlack, fs);
  }
  c.rect(px0, py0, px1 - px0 + 1, py1 - py0 + 1, kBlack);
  c.text((px0 + px1 - Canvas::textWidth("epoch", fs)) / 2, oy + H - 26, "epoch", kBlack, fs);
  c.textUp(12, (py0 + py1 + Canvas::textWidth(ylabel, fs)) / 2, ylabel, kBlack, fs);

  auto color = [&](size_t i) { return palette[i % (sizeof palette / sizeof palette[0])]; };
  for (size_t k = 0; k < series.size(); ++k) {
    const CurveSeries &s = series[k];
    bool havePrev = false;
    int xp = 0, yp = 0;
    for (size_t i = 0; i < s.values.size() && i < s.epochs.size(); ++i) {
      double v = s.values[i];
      if (!std::isfinite(v) || !std::isfinite(s.epochs[i])) {
        havePrev = false;
        continue;
      }
      int x = sx(s.epochs[i]), y = sy(v);
      if (havePrev) c.line(xp, yp, x, y, color(k), 2);
      c.fill(x - 3, y - 3, 7, 7, color(k));
      xp = x, yp = y, havePrev = true;
    }
  }

  int legendW = 0;
  for (const CurveSeries &s : series) legendW = std::max(legendW, Canvas::textWidth(s.name, fs));
  legendW += 60;
  int legendH = 12 + 24 * static_cast<int>(series.size());
  // The legend goes into the corner that hides the fewest points (top right on a tie).
  int lx = px1 - legendW - 12, ly = py0 + 12;
  size_t fewest = SIZE_MAX;
  for (auto [cx, cy] : {std::pair{px1 - legendW - 12, py0 + 12},
                        {px0 + 12, py0 + 12},
                        {px1 - legendW - 12, py1 - legendH - 12},
                        {px0 + 12, py1 - legendH - 12}}) {
    size_t hidden = 0;
    for (const CurveSeries &s : series)
      for (size_t i = 0; i < s.values.size() && i < s.epochs.size(); ++i) {
        if (!std::isfinite(s.values[i]) || !std::isfinite(s.epochs[i])) continue;
        int x = sx(s.epochs[i]), y = sy(s.values[i]);
        hidden += x >= cx - 8 && x <= cx + legendW + 8 && y >= cy - 8 && y <= cy + legendH + 8;
      }
    if (hidden < fewest) fewest = hidden, lx = cx, ly = cy;
  }
  c.fill(lx, ly, legendW, legendH, kWhite);
  c.rect(lx, ly, legendW, legendH, kFrame);
  for (size_t i = 0; i < series.size(); ++i) {
    int y = ly + 18 + 24 * static_cast<int>(i);
    c.line(lx + 8, y, lx + 36, y, color(i), 2);
    c.fill(lx + 19, y - 3, 7, 7, color(i));
    c.text(lx + 46, y - 7, series[i].name, kBlack, fs);
  }
  return true;
}

} // namespace

Status writeCurvePlot(const std::string &path, const std::vector<CurveSeries> &series) {
  Canvas c(800, 500, kWhite);
  if (!drawCurvePanel(c, 0, series, "loss"))
    return Error{"cannot write '" + path + "': no finite loss values to plot"};
  return writePngRgb(path, 800, 500, c.pixels());
}

Status writeLossPlot(const std::string &path, const std::vector<double> &train,
                     const std::vector<double> &validation) {
  std::vector<CurveSeries> series = {{"train", {}, train}};
  if (!validation.empty()) series.push_back({"validation", {}, validation});
  for (CurveSeries &s : series)
    for (size_t i = 0; i < s.values.size(); ++i) s.epochs.push_back(double(i + 1));
  return writeCurvePlot(path, series);
}

} // namespace nnc

namespace nnc {

Status writeTrainingPlot(const std::string &path, const std::vector<double> &train,
                         const std::vector<double> &validation,
                         const std::vector<double> &trainAccuracy,
                         const std::vector<double> &validationAccuracy) {
  if (trainAccuracy.empty()) return writeLossPlot(path, train, validation);
  auto curves = [](const std::vector<double> &t, const std::vector<double> &v) {
    std::vector<CurveSeries> series = {{"train", {}, t}};
    if (!v.empty()) series.push_back({"validation", {}, v});
    for (CurveSeries &s : series)
      for (size_t i = 0; i < s.values.size(); ++i) s.epochs.push_back(double(i + 1));
    return series;
  };
  Canvas c(800, 1000, kWhite);
  if (!drawCurvePanel(c, 0, curves(train, validation), "loss"))
    return Error{"cannot write '" + path + "': no finite loss values to plot"};
  if (!drawCurvePanel(c, 500, curves(trainAccuracy, validationAccuracy), "accuracy"))
    return Error{"cannot write '" + path + "': no finite accuracy values to plot"};
  return writePngRgb(path, 800, 1000, c.pixels());
}

} // namespace nnc

namespace nnc {

namespace {

constexpr Rgb kRight{20, 130, 40}, kWrong{210, 30, 30}, kGap{235, 235, 235};

/// `s` in capitals (the bitmap font has only capitals, digits and a few signs).
std::string upper(std::string s) {
  for (char &ch : s) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

/// Draws `s` in capitals at (x, y), cut to `maxWidth` pixels at font scale 1.
void caption(Canvas &c, int x, int y, const std::string &s, Rgb color, int maxWidth) {
  std::string t = upper(s);
  while (!t.empty() && Canvas::textWidth(t, 1) > maxWidth) t.pop_back();
  c.text(x, y, t, color, 1);
}

} // namespace

Status writeLabeledGrid(const std::string &path, const std::vector<float> &images, int64_t count,
                        int64_t rows, int64_t cols, const std::vector<GridCaption> &captions,
                        int64_t columns, int scale) {
  std::string where = "cannot write '" + path + "': ";
  if (count <= 0 || rows <= 0 || cols <= 0 || rows > 4096 || cols > 4096 || scale < 1 ||
      scale > 64 || columns < 1)
    return Error{where + "invalid grid of " + std::to_string(count) + " images of " +
                 std::to_string(rows) + "x" + std::to_string(cols)};
  if (images.size() < uint64_t(count) * rows * cols || captions.size() < uint64_t(count))
    return Error{where + std::to_string(count) + " images of " + std::to_string(rows) + "x" +
                 std::to_string(cols) + " need " + std::to_string(count * rows * cols) +
                 " values and " + std::to_string(count) + " captions, got " +
                 std::to_string(images.size()) + " and " + std::to_string(captions.size())};
  const int64_t gap = 8, cellW = std::max<int64_t>(cols * scale, 104), tall = rows * scale;
  const int64_t cellH = tall + 4 + 2 * 10;
  const int64_t across = std::min(count, columns), down = (count + columns - 1) / columns;
  int64_t width = across * cellW + (across + 1) * gap, height = down * (cellH + gap) + gap;
  if (width > 65536 || height > 65536)
    return Error{where + "a grid of " + std::to_string(count) + " images would be " +
                 std::to_string(width) + "x" + std::to_string(height) +
                 " pixels (limit 65536 each way)"};
  Canvas c(int(width), int(height), kGap);
  for (int64_t k = 0; k < count; ++k) {
    int x0 = int(gap + (k % columns) * (cellW + gap)),
        y0 = int(gap + (k / columns) * (cellH + gap));
    int ix = x0 + int(cellW - cols * scale) / 2;
    const float *img = images.data() + k * rows * cols;
    for (int64_t y = 0; y < tall; ++y)
      for (int64_t x = 0; x < cols * scale; ++x) {
        uint8_t v = grayByte(img[(y / scale) * cols + x / scale]);
        c.set(ix + int(x), y0 + int(y), Rgb{v, v, v});
      }
    const GridCaption &cap = captions[size_t(k)];
    Rgb color = !cap.correct ? kBlack : *cap.correct ? kRight : kWrong;
    if (cap.correct && !*cap.correct) {
      c.rect(ix - 2, y0 - 2, int(cols * scale) + 4, int(tall) + 4, kWrong);
      c.rect(ix - 1, y0 - 1, int(cols * scale) + 2, int(tall) + 2, kWrong);
    }
    caption(c, x0, y0 + int(tall) + 5, cap.top, color, int(cellW));
    caption(c, x0, y0 + int(tall) + 15, cap.bottom, kBlack, int(cellW));
  }
  return writePngRgb(path, uint32_t(width), uint32_t(height), c.pixels());
}

Status writeConfusionPng(const std::string &path, const ConfusionMatrix &m,
                         const std::vector<std::string> &names) {
  const int k = m.classes();
  if (k < 1 || k > 100)
    return Error{"cannot write '" + path + "': a confusion matrix of " + std::to_string(k) +
                 " classes (nnc draws 1 to 100)"};
  int nameW = 0;
  for (int t = 0; t < k; ++t)
    nameW = std::max(nameW, Canvas::textWidth(upper(std::to_string(t) + " " +
                                                    (size_t(t) < names.size() ? names[size_t(t)]
                                                                              : std::string())),
                                              2));
  const int cell = 52, left = nameW + 56, top = 96;
  const int width = left + k * cell + 24, height = top + k * cell + 24;
  Canvas c(width, height, kWhite);
  c.text(left, 12, "CONFUSION MATRIX", kBlack, 2);
  std::string axis = "PREDICTED CLASS";
  c.text(left + (k * cell - Canvas::textWidth(axis, 2)) / 2, 44, axis, kBlack, 2);
  c.textUp(12, top + (k * cell + Canvas::textWidth("TRUE CLASS", 2)) / 2, "TRUE CLASS", kBlack, 2);
  for (int t = 0; t < k; ++t) {
    std::string label = std::to_string(t);
    c.text(left + t * cell + (cell - Canvas::textWidth(label, 2)) / 2, top - 22, label, kBlack, 2);
    std::string row = upper(label + " " + (size_t(t) < names.size() ? names[size_t(t)] : ""));
    c.text(left - 8 - Canvas::textWidth(row, 2), top + t * cell + (cell - 14) / 2, row, kBlack, 2);
    int64_t n = std::max<int64_t>(m.examples(t), 1);
    for (int p = 0; p < k; ++p) {
      double share = double(m.count(t, p)) / double(n);
      Rgb shade{uint8_t(255 - std::lround(share * 222)), uint8_t(255 - std::lround(share * 150)),
                uint8_t(255 - std::lround(share * 75))};
      int x = left + p * cell, y = top + t * cell;
      c.fill(x, y, cell, cell, shade);
      c.rect(x, y, cell + 1, cell + 1, kGrid);
      std::string count = std::to_string(m.count(t, p));
      int fs = Canvas::textWidth(count, 2) <= cell - 6 ? 2 : 1;
      c.text(x + (cell - Canvas::textWidth(count, fs)) / 2, y + (cell - 7 * fs) / 2, count,
             share > 0.5 ? kWhite : kBlack, fs);
    }
  }
  c.rect(left, top, k * cell + 1, k * cell + 1, kFrame);
  return writePngRgb(path, uint32_t(width), uint32_t(height), c.pixels());
}

} // namespace nnc
