// Safetensors reading and writing. Reading (from a file or memory, through ByteSource): read
// the 8-byte length, check it against the file size, read only the header, check it is
// UTF-8, scan it for nesting depth (so the recursive JSON parser cannot overflow the stack)
// and duplicate keys (llvm::json::parse keeps only the last one), parse it with llvm::json,
// validate each entry, then sort the entries by offset and require them to tile the data
// section exactly (its size is known from the file size before any data is read). Only then
// is each tensor allocated and its bytes read and converted in chunks, so the file is never
// held in memory as a whole. Writing: build the header with llvm::json, pad it with spaces to
// a multiple of 8 bytes, append little-endian data, write atomically.
#include "runtime/Safetensors.h"

#include "support/FileUtil.h"

#include <llvm/Support/JSON.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <set>
#include <tuple>

namespace nnc {

namespace {

constexpr int kMaxDepth = 64;
constexpr const char *kMetadataKey = "__metadata__";

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string offsetsText(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

/// One validated header entry.
struct Entry {
  std::string name;
  std::string dtype;
  size_t elemSize = 0;
  std::vector<int64_t> shape;
  uint64_t count = 1;
  uint64_t begin = 0, end = 0;
};

/// The validated layout of a file: entries (in offset order), metadata, data section.
struct Layout {
  std::vector<Entry> entries;
  SafetensorsMetadata metadata;
  uint64_t dataOffset = 0, dataSize = 0;
};

/// Skips a JSON string literal starting at `i` (at the opening quote); returns the index
/// one past the closing quote, or json.size() if it is unterminated.
size_t skipString(std::string_view json, size_t i) {
  for (++i; i < json.size(); ++i) {
    if (json[i] == '\\')
      ++i;
    else if (json[i] == '"')
      return i + 1;
  }
  return json.size();
}

/// Rejects nesting deeper than kMaxDepth before the recursive parser sees the text.
std::optional<std::string> checkDepth(std::string_view json) {
  int depth = 0;
  for (size_t i = 0; i < json.size();) {
    char c = json[i];
    if (c == '"') {
      i = skipString(json, i);
      continue;
    }
    if (c == '{' || c == '[') {
      if (++depth > kMaxDepth)
        return "header nests deeper than " + std::to_string(kMaxDepth) + " levels";
    } else if (c == '}' || c == ']') {
      --depth;
    }
    ++i;
  }
  return std::nullopt;
}

/// Finds a repeated key in any object of the (already valid) JSON text.
std::optional<std::string> findDuplicateKey(std::string_view json) {
  struct Frame {
    bool object = false;
    std::string label;   // the key whose value this object or array is
    std::string lastKey; // the most recent key read in this object
    int depth = 0;
    std::set<std::string> keys;
  };
  std::vector<Frame> stack;
  for (size_t i = 0; i < json.size();) {
    char c = json[i];
    if (c == '"') {
      size_t end = skipString(json, i);
      size_t j = end;
      while (j < json.size() &&
             (json[j] == ' ' || json[j] == '\t' || json[j] == '\n' || json[j] == '\r'))
        ++j;
      if (j < json.size() && json[j] == ':' && !stack.empty() && stack.back().object) {
        llvm::Expected<llvm::json::Value> lit = llvm::json::parse(json.substr(i, end - i));
        if (!lit) {
          llvm::consumeError(lit.takeError());
          return std::string("header holds an invalid key");
        }
        std::string key = lit->getAsString().value_or("").str();
        Frame &f = stack.back();
        if (!f.keys.insert(key).second) {
          if (f.depth == 1)
            return key == kMetadataKey ? std::string("duplicate \"__metadata__\" entry")
                                       : "duplicate tensor name '" + key + "'";
          if (f.depth == 2 && f.label == kMetadataKey)
            return "duplicate metadata key '" + key + "'";
          if (f.depth == 2) return "tensor '" + f.label + "': duplicate key '" + key + "'";
          return "duplicate key '" + key + "' in the header";
        }
        f.lastKey = key;
      }
      i = end;
      continue;
    }
    if (c == '{' || c == '[') {
      Frame f;
      f.object = c == '{';
      f.depth = static_cast<int>(stack.size()) + 1;
      if (!stack.empty()) f.label = stack.back().object ? stack.back().lastKey : stack.back().label;
      stack.push_back(std::move(f));
    } else if ((c == '}' || c == ']') && !stack.empty()) {
      stack.pop_back();
    }
    ++i;
  }
  return std::nullopt;
}

/// Reads a non-negative integer from a JSON number (int64 or uint64).
std::optional<uint64_t> asUnsigned(const llvm::json::Value &v) {
  if (std::optional<int64_t> i = v.getAsInteger()) {
    if (*i < 0) return std::nullopt;
    return static_cast<uint64_t>(*i);
  }
  return v.getAsUINT64();
}

/// Validates one tensor entry (everything except its position among the others).
std::optional<std::string> parseEntry(const std::string &name, const llvm::json::Value &value,
                                      uint64_t dataSize, Entry &e) {
  std::string where = "tensor '" + name + "': ";
  if (name.empty()) return std::string("a tensor has an empty name");
  const llvm::json::Object *obj = value.getAsObject();
  if (!obj) return where + "entry is not a JSON object";
  for (const auto &kv : *obj) {
    llvm::StringRef k = kv.first;
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      return where + "unknown key '" + k.str() + "' (expected dtype, shape, data_offsets)";
  }
  e.name = name;

  const llvm::json::Value *dtype = obj->get("dtype");
  if (!dtype) return where + "missing \"dtype\"";
  std::optional<llvm::StringRef> dt = dtype->getAsString();
  if (!dt) return where + "\"dtype\" is not a string";
  e.dtype = dt->str();
  if (e.dtype == "F32")
    e.elemSize = 4;
  else if (e.dtype == "F64")
    e.elemSize = 8;
  else
    return where + "unsupported dtype '" + e.dtype + "' (nnc reads F32 and F64)";

  const llvm::json::Value *shape = obj->get("shape");
  if (!shape) return where + "missing \"shape\"";
  const llvm::json::Array *dims = shape->getAsArray();
  if (!dims) return where + "\"shape\" is not an array";
  e.count = 1;
  bool overflow = false;
  const uint64_t limit = kMaxTensorElements;
  for (size_t i = 0; i < dims->size(); ++i) {
    const llvm::json::Value &d = (*dims)[i];
    std::string which = "shape element " + std::to_string(i);
    if (d.kind() != llvm::json::Value::Number) return where + which + " is not a number";
    if (std::optional<int64_t> v = d.getAsInteger()) {
      if (*v < 0) return where + which + " is negative (" + std::to_string(*v) + ")";
      e.shape.push_back(*v);
    } else if (d.getAsUINT64()) {
      return where + which + " is too large";
    } else {
      double x = d.getAsNumber().value_or(0);
      if (x == std::floor(x)) return where + which + " is too large";
      return where + which + " is not an integer";
    }
    uint64_t dim = static_cast<uint64_t>(e.shape.back());
    if (dim != 0 && e.count > limit / dim)
      overflow = true;
    else
      e.count *= dim;
  }
  // A zero dimension anywhere makes the tensor empty even if other dimensions are huge.
  if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end())
    e.count = 0;
  else if (overflow)
    return where + "shape " + shapeText(e.shape) + " has more than " +
           std::to_string(kMaxTensorElements) + " elements, the limit per tensor";

  const llvm::json::Value *offsets = obj->get("data_offsets");
  if (!offsets) return where + "missing \"data_offsets\"";
  const llvm::json::Array *off = offsets->getAsArray();
  if (!off || off->size() != 2)
    return where + "\"data_offsets\" must be an array of two integers [begin, end]";
  std::optional<uint64_t> b = asUnsigned((*off)[0]), en = asUnsigned((*off)[1]);
  if (!b || !en) return where + "\"data_offsets\" must hold two non-negative integers";
  e.begin = *b;
  e.end = *en;
  if (e.begin > e.end)
    return where + "data_offsets " + offsetsText(e.begin, e.end) + " begin after they end";
  if (e.end > dataSize)
    return where + "data_offsets " + offsetsText(e.begin, e.end) +
           " lie outside the data section (" + std::to_string(dataSize) + " bytes)";
  uint64_t need = e.count * e.elemSize;
  if (e.end - e.begin != need)
    return where + "data_offsets " + offsetsText(e.begin, e.end) + " hold " +
           std::to_string(e.end - e.begin) + " bytes, but " + e.dtype + " shape " +
           shapeText(e.shape) + " needs " + std::to_string(need);
  return std::nullopt;
}

/// Reads the header text of `src` after checking the file size and the header length against
/// the limits and the file size; messages are prefixed with the file name.
Result<std::string> readHeaderText(const ByteSource &src) {
  auto fail = [&](const std::string &msg) -> Result<std::string> {
    return Error{src.name() + ": " + msg};
  };
  if (src.size() > kMaxSafetensorsBytes)
    return fail("the file is " + byteSizeText(src.size()) + "; nnc reads safetensors files of " +
                "at most " + byteSizeText(kMaxSafetensorsBytes));
  if (src.size() < 8)
    return fail("file is " + std::to_string(src.size()) +
                " bytes, too short for the 8-byte header length of a safetensors file");
  char length[8];
  if (Status s = src.read(0, length, 8); !s) return Error{s.error()};
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(length[i]);
  if (n > kMaxHeaderBytes)
    return fail("header length " + std::to_string(n) + " exceeds the limit of " +
                byteSizeText(kMaxHeaderBytes));
  if (n > src.size() - 8)
    return fail("header length " + std::to_string(n) + " runs past the end of the file (" +
                std::to_string(src.size()) + " bytes)");
  std::string header;
  try {
    header.resize(size_t(n));
  } catch (const std::bad_alloc &) {
    return fail("not enough memory for its " + byteSizeText(n) + " header");
  }
  if (Status s = src.read(8, header.data(), header.size()); !s) return Error{s.error()};
  return header;
}

/// Reads and validates the header of `src`; all messages are prefixed with the file name.
Result<Layout> parseLayout(const ByteSource &src) {
  const std::string &file = src.name();
  auto fail = [&](const std::string &msg) -> Result<Layout> { return Error{file + ": " + msg}; };
  Result<std::string> text = readHeaderText(src);
  if (!text) return Error{text.error()};
  const std::string &header = *text;
  Layout out;
  out.dataOffset = 8 + header.size();
  out.dataSize = src.size() - out.dataOffset;
  if (!llvm::json::isUTF8(llvm::StringRef(header.data(), header.size())))
    return fail("header is not valid UTF-8");
  if (std::optional<std::string> err = checkDepth(header)) return fail(*err);
  llvm::Expected<llvm::json::Value> json = llvm::json::parse(header);
  if (!json) return fail("header is not valid JSON: " + llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  if (!root) return fail("header is not a JSON object");
  if (std::optional<std::string> err = findDuplicateKey(header)) return fail(*err);

  for (const auto &kv : *root) {
    std::string name = kv.first.str();
    if (name == kMetadataKey) {
      const llvm::json::Object *meta = kv.second.getAsObject();
      if (!meta) return fail("\"__metadata__\" is not a JSON object");
      for (const auto &m : *meta) {
        std::optional<llvm::StringRef> v = m.second.getAsString();
        if (!v) return fail("metadata value for key '" + m.first.str() + "' is not a string");
        out.metadata[m.first.str()] = v->str();
      }
      continue;
    }
    Entry e;
    if (std::optional<std::string> err = parseEntry(name, kv.second, out.dataSize, e))
      return fail(*err);
    out.entries.push_back(std::move(e));
  }

  std::sort(out.entries.begin(), out.entries.end(), [](const Entry &a, const Entry &b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t pos = 0;
  const Entry *prev = nullptr;
  for (const Entry &e : out.entries) {
    if (e.begin < pos)
      return fail("tensor '" + e.name + "': data_offsets " + offsetsText(e.begin, e.end) +
                  " overlap tensor '" + prev->name + "' " + offsetsText(prev->begin, prev->end));
    if (e.begin > pos)
      return fail("tensor '" + e.name + "': data_offsets " + offsetsText(e.begin, e.end) +
                  " leave a gap: bytes " + offsetsText(pos, e.begin) +
                  " of the data section belong to no tensor");
    pos = e.end;
    prev = &e;
  }
  if (pos != out.dataSize)
    return fail(std::to_string(out.dataSize - pos) +
                " trailing bytes after the last tensor (the data section is " +
                std::to_string(out.dataSize) + " bytes, the tensors end at " + std::to_string(pos) +
                ")");
  return out;
}

uint64_t loadLE(const char *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

/// Reads the values of `e` from `src` into `t`, converting them from the file's dtype.
template <typename T>
Status readValues(const ByteSource &src, const Layout &layout, const Entry &e, TensorOf<T> &t) {
  t.shape = e.shape;
  t.data.resize(size_t(e.count));
  char chunk[1 << 16];
  const uint64_t perChunk = sizeof chunk / e.elemSize;
  for (uint64_t i = 0; i < e.count; i += perChunk) {
    uint64_t k = std::min(perChunk, e.count - i);
    if (Status s =
            src.read(layout.dataOffset + e.begin + i * e.elemSize, chunk, size_t(k * e.elemSize));
        !s)
      return s;
    const char *p = chunk;
    for (uint64_t j = 0; j < k; ++j, p += e.elemSize) {
      if (e.elemSize == 4)
        t.data[i + j] = static_cast<T>(std::bit_cast<float>(static_cast<uint32_t>(loadLE(p, 4))));
      else
        t.data[i + j] = static_cast<T>(std::bit_cast<double>(loadLE(p, 8)));
    }
  }
  return okStatus();
}

template <typename T, typename Out> Result<Out> decode(const ByteSource &src) {
  Result<Layout> layout = parseLayout(src);
  if (!layout) return Error{layout.error()};
  Out out;
  out.metadata = std::move(layout->metadata);
  for (const Entry &e : layout->entries) {
    try {
      TensorOf<T> t;
      if (Status s = readValues(src, *layout, e, t); !s) return Error{s.error()};
      out.dtypes[e.name] = e.dtype;
      out.tensors.emplace(e.name, std::move(t));
    } catch (const std::bad_alloc &) {
      return Error{src.name() + ": not enough memory for tensor '" + e.name + "' (" +
                   std::to_string(e.count) + " values)"};
    }
  }
  return out;
}

template <typename T>
Result<std::string> encode(const std::map<std::string, TensorOf<T>> &tensors,
                           const SafetensorsMetadata &metadata) {
  constexpr size_t size = sizeof(T);
  const char *dtype = size == 4 ? "F32" : "F64";
  llvm::json::Object header;
  uint64_t offset = 0;
  for (const auto &[name, t] : tensors) {
    if (name.empty() || name == kMetadataKey || !llvm::json::isUTF8(name))
      return Error{"cannot store a tensor named '" + name + "' in safetensors"};
    // As in the reader, a zero dimension makes the tensor empty whatever the others are.
    bool empty = std::find(t.shape.begin(), t.shape.end(), 0) != t.shape.end();
    uint64_t count = empty ? 0 : 1;
    for (int64_t d : t.shape) {
      if (d < 0) return Error{"tensor '" + name + "' has a negative dimension"};
      if (empty) continue;
      if (count > (uint64_t(1) << 56) / static_cast<uint64_t>(d))
        return Error{"tensor '" + name + "' has too many elements"};
      count *= static_cast<uint64_t>(d);
    }
    if (count != t.data.size())
      return Error{"tensor '" + name + "' has shape " + shapeText(t.shape) + " but " +
                   std::to_string(t.data.size()) + " values"};
    llvm::json::Array shape;
    for (int64_t d : t.shape) shape.push_back(d);
    header[name] =
        llvm::json::Object{{"dtype", dtype},
                           {"shape", std::move(shape)},
                           {"data_offsets", llvm::json::Array{offset, offset + count * size}}};
    offset += count * size;
  }
  if (!metadata.empty()) {
    llvm::json::Object meta;
    for (const auto &[k, v] : metadata) {
      if (!llvm::json::isUTF8(k) || !llvm::json::isUTF8(v))
        return Error{"metadata key '" + k + "' or its value is not valid UTF-8"};
      meta[k] = v;
    }
    header[kMetadataKey] = std::move(meta);
  }
  std::string json;
  llvm::raw_string_ostream os(json);
  os << llvm::json::Value(std::move(header));
  os.flush();
  while (json.size() % 8 != 0) json += ' ';

  std::string out;
  out.reserve(8 + json.size() + offset);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((json.size() >> (8 * i)) & 0xff);
  out += json;
  for (const auto &[name, t] : tensors) {
    for (T x : t.data) {
      uint64_t bits;
      if constexpr (size == 4)
        bits = std::bit_cast<uint32_t>(x);
      else
        bits = std::bit_cast<uint64_t>(x);
      for (size_t i = 0; i < size; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
    }
  }
  return out;
}

template <typename T, typename Out> Result<Out> readFile(const std::string &path) {
  Result<ByteSource> src = ByteSource::openFile(path);
  if (!src) return Error{src.error()};
  return decode<T, Out>(*src);
}

template <typename T>
Status finite(const std::map<std::string, TensorOf<T>> &tensors, const std::string &what) {
  for (const auto &[name, t] : tensors)
    for (size_t i = 0; i < t.data.size(); ++i)
      if (!std::isfinite(t.data[i]))
        return Error{what + ": tensor '" + name + "' holds " +
                     (std::isnan(t.data[i]) ? "NaN"
                      : t.data[i] > 0       ? "+infinity"
                                            : "-infinity") +
                     " at index " + std::to_string(i) + " of " + std::to_string(t.data.size()) +
                     "; weights must be finite numbers"};
  return okStatus();
}

template <typename T>
Status writeFile(const std::string &path, const std::map<std::string, TensorOf<T>> &tensors,
                 const SafetensorsMetadata &metadata) {
  Result<std::string> bytes = encode(tensors, metadata);
  if (!bytes) return Error{"cannot write '" + path + "': " + bytes.error()};
  return writeFileAtomic(path, *bytes);
}

} // namespace

Result<Safetensors> parseSafetensors(std::string_view bytes, const std::string &name) {
  return decode<float, Safetensors>(ByteSource::memory(bytes, name));
}

Result<SafetensorsD> parseSafetensorsD(std::string_view bytes, const std::string &name) {
  return decode<double, SafetensorsD>(ByteSource::memory(bytes, name));
}

Result<Safetensors> readSafetensors(const std::string &path) {
  return readFile<float, Safetensors>(path);
}

Result<SafetensorsD> readSafetensorsD(const std::string &path) {
  return readFile<double, SafetensorsD>(path);
}

Result<std::string> encodeSafetensors(const TensorMap &tensors,
                                      const SafetensorsMetadata &metadata) {
  return encode(tensors, metadata);
}

Result<std::string> encodeSafetensorsD(const TensorMapD &tensors,
                                       const SafetensorsMetadata &metadata) {
  return encode(tensors, metadata);
}

Status writeSafetensors(const std::string &path, const TensorMap &tensors,
                        const SafetensorsMetadata &metadata) {
  return writeFile(path, tensors, metadata);
}

Status writeSafetensorsD(const std::string &path, const TensorMapD &tensors,
                         const SafetensorsMetadata &metadata) {
  return writeFile(path, tensors, metadata);
}

Status checkShapes(const TensorMap &tensors,
                   const std::map<std::string, std::vector<int64_t>> &expected,
                   const std::string &what) {
  std::map<std::string, std::vector<int64_t>> actual;
  for (const auto &[name, t] : tensors) actual[name] = t.shape;
  return checkShapes(actual, expected, what);
}

Status checkShapes(const std::map<std::string, std::vector<int64_t>> &actual,
                   const std::map<std::string, std::vector<int64_t>> &expected,
                   const std::string &what) {
  std::string msg;
  size_t problems = 0;
  auto add = [&](const std::string &line) {
    if (++problems <= kMaxShapeProblemsShown) msg += (msg.empty() ? "" : "\n") + what + ": " + line;
  };
  for (const auto &[name, shape] : expected) {
    auto it = actual.find(name);
    if (it == actual.end())
      add("missing tensor '" + name + "' (the model expects shape " + shapeText(shape) + ")");
    else if (it->second != shape)
      add("tensor '" + name + "' has shape " + shapeText(it->second) + ", the model expects " +
          shapeText(shape));
  }
  for (const auto &[name, shape] : actual)
    if (!expected.count(name))
      add("unexpected tensor '" + name + "' with shape " + shapeText(shape) +
          " (the model has no parameter or optimizer state of that name)");
  if (problems > kMaxShapeProblemsShown)
    msg += "\n" + what + ": " + std::to_string(problems - kMaxShapeProblemsShown) +
           " more problems not shown";
  if (!msg.empty()) return Error{msg};
  return okStatus();
}

Status checkFinite(const TensorMapD &tensors, const std::string &what) {
  return finite(tensors, what);
}

Status checkFinite(const TensorMap &tensors, const std::string &what) {
  return finite(tensors, what);
}

} // namespace nnc
