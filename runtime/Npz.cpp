// .npy / .npz reading. An npy file is the magic "\x93NUMPY", a version byte pair (1.0: a 2-byte
// little-endian header length; 2.0 and 3.0: 4 bytes), the header, and the raw data. The header is
// a Python dict literal, parsed here by recursive descent:
//   header := '{' [entry (',' entry)* [',']] '}' spaces '\n'
//   entry  := string ':' value
//   value  := string | 'True' | 'False' | '(' [int (',' int)* [',']] ')'
// with exactly the keys descr ('|u1': uint8 is all nnc reads), fortran_order (False) and shape,
// whose product (checked for overflow and against kMaxNpyBytes) must equal the bytes that follow.
// An npz file is a zip archive of such files; libzip opens it from memory, and each member's
// sizes (uncompressed, compressed, method) are checked before its data buffer is allocated and
// read in one pass to its end, where libzip checks the member's CRC.
#include "runtime/Npz.h"

#include "support/FileUtil.h"

#include <zip.h>

#include <cstring>
#include <memory>
#include <new>

namespace nnc {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
/// Deflate expands at most 1032:1; a member claiming more is refused before allocating.
constexpr uint64_t kMaxDeflateRatio = 1032;

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

/// A recursive-descent parser of the header dict; errors name the file and the byte offset.
class HeaderParser {
public:
  HeaderParser(std::string_view text, uint64_t base, const std::string &name)
      : text_(text), base_(base), name_(name) {}

  /// Parses the whole dict into `h` (descr, fortran_order, shape).
  Status parse(NpyHeader &h) {
    skipSpace();
    if (!eat('{')) return fail("'{' opening the header dict");
    bool seen[3] = {false, false, false};
    for (;;) {
      skipSpace();
      if (eat('}')) break;
      if (Status s = parseEntry(h, seen); !s) return s;
      skipSpace();
      if (eat(',')) continue;
      if (eat('}')) break;
      return fail("',' or '}' after a dict entry");
    }
    skipSpace();
    if (pos_ != text_.size()) return fail("the end of the header after '}'");
    if (text_.empty() || text_.back() != '\n')
      return Error{name_ + ": the npy header does not end with a newline"};
    static const char *keys[3] = {"descr", "fortran_order", "shape"};
    for (int i = 0; i < 3; ++i)
      if (!seen[i]) return Error{name_ + ": the npy header has no '" + keys[i] + "' key"};
    return okStatus();
  }

private:
  Status parseEntry(NpyHeader &h, bool seen[3]) {
    size_t keyPos = pos_;
    Result<std::string> key = parseString();
    if (!key) return Error{key.error()};
    int slot = *key == "descr" ? 0 : *key == "fortran_order" ? 1 : *key == "shape" ? 2 : -1;
    if (slot < 0)
      return Error{where(keyPos) + "unknown key '" + *key +
                   "' (an npy header has descr, fortran_order and shape)"};
    if (seen[slot]) return Error{where(keyPos) + "the key '" + *key + "' is given twice"};
    seen[slot] = true;
    skipSpace();
    if (!eat(':')) return fail("':' after the key '" + *key + "'");
    skipSpace();
    if (slot == 0) {
      Result<std::string> d = parseString();
      if (!d) return Error{d.error()};
      h.descr = d.take();
      return okStatus();
    }
    if (slot == 1) return parseBool(h.fortranOrder);
    return parseShape(h.shape);
  }

  Result<std::string> parseString() {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      return Error{failText("a quoted string")};
    char quote = text_[pos_++];
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') return Error{where(pos_) + "escape sequences are not supported"};
      ++pos_;
    }
    if (pos_ >= text_.size()) return Error{where(start - 1) + "unterminated string"};
    return std::string(text_.substr(start, pos_++ - start));
  }

  Status parseBool(bool &out) {
    for (bool v : {true, false}) {
      std::string_view word = v ? "True" : "False";
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        out = v;
        return okStatus();
      }
    }
    return fail("True or False for 'fortran_order'");
  }

  Status parseShape(std::vector<int64_t> &shape) {
    if (!eat('(')) return fail("a tuple '(...)' for 'shape'");
    for (;;) {
      skipSpace();
      if (eat(')')) return okStatus();
      if (shape.size() == 32) return Error{where(pos_) + "more than 32 dimensions"};
      Result<int64_t> dim = parseInt();
      if (!dim) return Error{dim.error()};
      shape.push_back(*dim);
      skipSpace();
      if (eat(',')) continue;
      if (eat(')')) return okStatus();
      return fail("',' or ')' in the shape tuple");
    }
  }

  /// A non-negative decimal integer (Python 2's trailing 'L' allowed) of at most kMaxNpyBytes.
  Result<int64_t> parseInt() {
    size_t start = pos_;
    uint64_t v = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      v = v * 10 + uint64_t(text_[pos_++] - '0');
      if (v > kMaxNpyBytes)
        return Error{where(start) + "dimension larger than " + std::to_string(kMaxNpyBytes)};
    }
    if (pos_ == start) return Error{failText("a non-negative integer dimension")};
    eat('L');
    return int64_t(v);
  }

  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool eat(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  std::string where(size_t at) const {
    return name_ + ": npy header, byte " + std::to_string(base_ + at) + ": ";
  }
  std::string failText(const std::string &expected) const {
    std::string found =
        pos_ >= text_.size() ? "the end of the header" : "'" + std::string(1, text_[pos_]) + "'";
    return where(pos_) + "expected " + expected + ", found " + found;
  }
  Error fail(const std::string &expected) const { return Error{failText(expected)}; }

  std::string_view text_;
  uint64_t base_;
  const std::string &name_;
  size_t pos_ = 0;
};

/// Checks what nnc supports: uint8, C order, and a size within kMaxNpyBytes.
Status checkSupported(NpyHeader &h, const std::string &name) {
  if (h.descr != "|u1" && h.descr != "<u1" && h.descr != ">u1" && h.descr != "u1")
    return Error{name + ": dtype '" + h.descr +
                 "' is not uint8 ('|u1'): nnc reads only uint8 arrays"};
  if (h.fortranOrder) return Error{name + ": fortran_order is True: nnc reads only C-order arrays"};
  uint64_t bytes = 1;
  for (int64_t d : h.shape) {
    if (d != 0 && bytes > kMaxNpyBytes / uint64_t(d))
      return Error{name + ": the array of shape " + shapeText(h.shape) + " is larger than " +
                   byteSizeText(kMaxNpyBytes)};
    bytes *= uint64_t(d);
  }
  h.dataBytes = bytes;
  return okStatus();
}

std::string promiseText(const NpyHeader &h) {
  return "shape " + shapeText(h.shape) + " of uint8 (" + std::to_string(h.dataBytes) + " bytes)";
}

/// Checks that `actual` data bytes follow the header: exactly what its shape promises.
Status checkDataSize(const NpyHeader &h, uint64_t actual, const std::string &name) {
  if (actual < h.dataBytes)
    return Error{name + ": truncated data: the header promises " + promiseText(h) + " but only " +
                 std::to_string(actual) + " bytes follow"};
  if (actual > h.dataBytes)
    return Error{name + ": " + std::to_string(actual - h.dataBytes) +
                 " trailing bytes after the data of " + promiseText(h)};
  return okStatus();
}

using ZipPtr = std::unique_ptr<zip_t, decltype(&zip_discard)>;
using ZipFilePtr = std::unique_ptr<zip_file_t, decltype(&zip_fclose)>;

/// Reads up to `n` bytes of a member into `dst`; fewer only at its end.
Result<uint64_t> readMemberBytes(zip_file_t *zf, uint8_t *dst, uint64_t n,
                                 const std::string &name) {
  uint64_t done = 0;
  while (done < n) {
    zip_int64_t got = zip_fread(zf, dst + done, n - done);
    if (got < 0) return Error{name + ": cannot read the member: " + zip_file_strerror(zf)};
    if (got == 0) break;
    done += uint64_t(got);
  }
  return done;
}

/// Checks a member's stated sizes and method before anything is read from it.
Status checkMemberStat(const zip_stat_t &st, const std::string &name) {
  const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  if ((st.valid & need) != need) return Error{name + ": the zip entry does not state its sizes"};
  if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)
    return Error{name + ": compression method " + std::to_string(st.comp_method) +
                 " (nnc reads stored and deflated members, as numpy writes them)"};
  if (st.size > kMaxNpyBytes + kMaxNpyHeaderBytes + 16)
    return Error{name + ": the member is " + byteSizeText(st.size) + ", more than the limit of " +
                 byteSizeText(kMaxNpyBytes)};
  uint64_t most = st.comp_method == ZIP_CM_STORE ? st.comp_size : st.comp_size * kMaxDeflateRatio;
  if (st.size > most)
    return Error{name + ": the zip entry claims " + std::to_string(st.size) + " bytes from " +
                 std::to_string(st.comp_size) + " compressed, more than its method can hold"};
  return okStatus();
}

/// Reads one npy member: its header first, then (sizes checked) its data, to the member's end.
Result<NpyArray> readMember(zip_t *za, const std::string &archive, const std::string &member) {
  std::string name = archive + ", member " + member;
  zip_int64_t index = zip_name_locate(za, member.c_str(), 0);
  if (index < 0) return Error{archive + ": the npz archive has no member " + member};
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, zip_uint64_t(index), 0, &st) != 0)
    return Error{name + ": " + zip_strerror(za)};
  if (Status s = checkMemberStat(st, name); !s) return Error{s.error()};
  ZipFilePtr zf(zip_fopen_index(za, zip_uint64_t(index), 0), &zip_fclose);
  if (!zf) return Error{name + ": cannot open the member: " + zip_strerror(za)};
  std::vector<uint8_t> prefix(size_t(std::min<uint64_t>(st.size, kMaxNpyHeaderBytes + 16)));
  Result<uint64_t> got = readMemberBytes(zf.get(), prefix.data(), prefix.size(), name);
  if (!got) return Error{got.error()};
  prefix.resize(size_t(*got));
  std::string_view view(reinterpret_cast<const char *>(prefix.data()), prefix.size());
  Result<NpyHeader> h = parseNpyHeader(view, name);
  if (!h) return Error{h.error()};
  if (Status s = checkDataSize(*h, st.size - h->dataOffset, name); !s) return Error{s.error()};
  NpyArray out;
  out.shape = h->shape;
  try {
    out.data.resize(size_t(h->dataBytes));
  } catch (const std::bad_alloc &) {
    return Error{name + ": not enough memory for " + promiseText(*h)};
  }
  uint64_t inPrefix = prefix.size() - h->dataOffset;
  if (inPrefix > 0) // an empty array has no buffer, and memcpy must not get a null pointer
    std::memcpy(out.data.data(), prefix.data() + h->dataOffset, size_t(inPrefix));
  got = readMemberBytes(zf.get(), out.data.data() + inPrefix, h->dataBytes - inPrefix, name);
  if (!got) return Error{got.error()};
  if (Status s = checkDataSize(*h, inPrefix + *got, name); !s) return Error{s.error()};
  uint8_t extra;
  got = readMemberBytes(zf.get(), &extra, 1, name); // reaching the end checks the CRC
  if (!got) return Error{got.error()};
  if (*got != 0) return Error{name + ": the member holds more data than its zip entry states"};
  return out;
}

} // namespace

Result<NpyHeader> parseNpyHeader(std::string_view prefix, const std::string &name) {
  if (prefix.size() < kMagic.size() || prefix.substr(0, kMagic.size()) != kMagic)
    return Error{name + ": not an npy file (it does not start with \"\\x93NUMPY\")"};
  if (prefix.size() < 8) return Error{name + ": truncated npy header"};
  int major = uint8_t(prefix[6]), minor = uint8_t(prefix[7]);
  if (major < 1 || major > 3 || minor != 0)
    return Error{name + ": npy format version " + std::to_string(major) + "." +
                 std::to_string(minor) + " (nnc reads 1.0, 2.0 and 3.0)"};
  size_t lenBytes = major == 1 ? 2 : 4;
  if (prefix.size() < 8 + lenBytes) return Error{name + ": truncated npy header"};
  uint32_t len = 0;
  for (size_t i = 0; i < lenBytes; ++i) len |= uint32_t(uint8_t(prefix[8 + i])) << (8 * i);
  if (len > kMaxNpyHeaderBytes)
    return Error{name + ": the npy header is " + std::to_string(len) + " bytes, more than " +
                 std::to_string(kMaxNpyHeaderBytes)};
  uint64_t start = 8 + lenBytes;
  if (prefix.size() < start + len)
    return Error{name + ": truncated npy header: it is " + std::to_string(len) +
                 " bytes but only " + std::to_string(prefix.size() - start) + " follow"};
  NpyHeader h;
  h.dataOffset = start + len;
  HeaderParser parser(prefix.substr(size_t(start), len), start, name);
  if (Status s = parser.parse(h); !s) return Error{s.error()};
  if (Status s = checkSupported(h, name); !s) return Error{s.error()};
  return h;
}

Result<std::string> encodeNpyF32(const std::vector<int64_t> &shape,
                                 const std::vector<float> &data) {
  uint64_t elements = 1;
  std::string dims; // a Python tuple's inside: "3," or "2, 3"
  for (int64_t d : shape) {
    if (d < 0) return Error{"an npy shape cannot hold the negative dimension " + std::to_string(d)};
    elements *= uint64_t(d);
    dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  }
  if (shape.size() == 1) dims += ",";
  if (elements != data.size())
    return Error{"an npy array of shape (" + dims + ") holds " + std::to_string(elements) +
                 " values, not " + std::to_string(data.size())};
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  size_t total = kMagic.size() + 4 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 65535) return Error{"the npy header of shape (" + dims + ") is too long"};
  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += char(dict.size() & 0xff);
  out += char(dict.size() >> 8);
  out += dict;
  out.reserve(out.size() + data.size() * 4);
  for (float v : data) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    for (int b = 0; b < 4; ++b) out += char((bits >> (8 * b)) & 0xff);
  }
  return out;
}

Result<NpyArray> parseNpy(std::string_view bytes, const std::string &name) {
  Result<NpyHeader> h = parseNpyHeader(bytes, name);
  if (!h) return Error{h.error()};
  if (Status s = checkDataSize(*h, bytes.size() - h->dataOffset, name); !s) return Error{s.error()};
  NpyArray out;
  out.shape = h->shape;
  const uint8_t *data = reinterpret_cast<const uint8_t *>(bytes.data()) + h->dataOffset;
  out.data.assign(data, data + h->dataBytes);
  return out;
}

Result<std::map<std::string, NpyArray>> readNpz(std::string_view bytes, const std::string &name,
                                                const std::vector<std::string> &members) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &ze);
  zip_t *raw = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : nullptr;
  if (!raw) {
    std::string why = zip_error_strerror(&ze);
    if (src) zip_source_free(src);
    zip_error_fini(&ze);
    return Error{name + ": not a readable npz (zip) archive: " + why};
  }
  zip_error_fini(&ze);
  ZipPtr za(raw, &zip_discard);
  std::map<std::string, NpyArray> out;
  for (const std::string &m : members) {
    Result<NpyArray> a = readMember(za.get(), name, m);
    if (!a) return Error{a.error()};
    out[m] = a.take();
  }
  return out;
}

Result<std::map<std::string, NpyArray>> readNpzFile(const std::string &path,
                                                    const std::vector<std::string> &members) {
  Result<std::string> bytes = readFileBytes(path, kMaxNpzBytes, "npz files");
  if (!bytes) return Error{bytes.error()};
  return readNpz(*bytes, path, members);
}

} // namespace nnc
