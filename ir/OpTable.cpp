// Builds the op table from ir/Ops.def: one OpInfo per OP row, each ARG row appended to the
// row above it.
#include "ir/OpTable.h"

namespace nnc {

namespace {

constexpr ArgDefault kRequired{};
constexpr ArgDefault intDefault(int64_t i) {
  return ArgDefault{ArgDefault::Int, i, 0, false, nullptr};
}
constexpr ArgDefault pairDefault(int64_t i) {
  return ArgDefault{ArgDefault::Pair, i, 0, false, nullptr};
}
constexpr ArgDefault floatDefault(double f) {
  return ArgDefault{ArgDefault::Float, 0, f, false, nullptr};
}
constexpr ArgDefault boolDefault(bool b) {
  return ArgDefault{ArgDefault::Bool, 0, 0, b, nullptr};
}
constexpr ArgDefault wordDefault(const char *w) {
  return ArgDefault{ArgDefault::Word, 0, 0, false, w};
}
constexpr ArgDefault kPoolSize{ArgDefault::PoolSize, 0, 0, false, nullptr};

std::vector<OpInfo> buildTable() {
  std::vector<OpInfo> rows;
#define REQUIRED kRequired
#define INT(i) intDefault(i)
#define PAIR(i) pairDefault(i)
#define FLOAT(x) floatDefault(x)
#define BOOL(b) boolDefault(b)
#define WORD(w) wordDefault(w)
#define POOL_SIZE kPoolSize
#define OP(ID, NAME, CLASS, KERAS, BASE, PROPS)                                                    \
  rows.push_back(OpInfo{OpKind::ID, NAME, OpClass::CLASS, KERAS, BASE, unsigned(PROPS), {}});
#define ARG(NAME, TYPE, DEFAULT, ALIAS, SLOT)                                                      \
  rows.back().args.push_back(ArgSpec{NAME, ArgType::TYPE, DEFAULT, ALIAS, AttrSlot::SLOT});
#include "ir/Ops.def"
#undef REQUIRED
#undef INT
#undef PAIR
#undef FLOAT
#undef BOOL
#undef WORD
#undef POOL_SIZE
  return rows;
}

} // namespace

const std::vector<OpInfo> &opTable() {
  static const std::vector<OpInfo> table = buildTable();
  return table;
}

const OpInfo &opInfo(OpKind op) {
  return opTable()[size_t(op)];
}

const char *opName(OpKind op) {
  return opInfo(op).name;
}

OpClass opClass(OpKind op) {
  return opInfo(op).cls;
}

bool hasProp(OpKind op, OpProp prop) {
  return (opInfo(op).props & prop) != 0;
}

std::optional<OpKind> opFromName(const std::string &name) {
  for (const OpInfo &row : opTable())
    if (name == row.name && (row.cls == OpClass::Forward || row.cls == OpClass::Loss))
      return row.op;
  return std::nullopt;
}

namespace {

// Sets the attribute of `slot` to the default `d` (Required defaults leave it as it is).
void applyDefault(AttrSlot slot, const ArgDefault &d, Attrs &a) {
  if (d.kind == ArgDefault::Required) return;
  double x = d.kind == ArgDefault::Float ? d.f : double(d.i);
  std::string word = d.word ? d.word : "";
  switch (slot) {
  case AttrSlot::Operand:
  case AttrSlot::Shape:
    return;
  case AttrSlot::Units:
    a.units = d.i;
    return;
  case AttrSlot::Kernel:
  case AttrSlot::Size:
    a.kh = a.kw = d.i;
    return;
  case AttrSlot::Pool:
    a.kh = a.kw = a.sh = a.sw = d.i;
    return;
  case AttrSlot::Strides:
    if (d.kind != ArgDefault::PoolSize) a.sh = a.sw = d.i;
    return;
  case AttrSlot::Dilation:
    a.dh = a.dw = d.i;
    return;
  case AttrSlot::Padding:
    a.padding = word == "same" ? Padding::Same : Padding::Valid;
    return;
  case AttrSlot::Activation:
    a.activation = word == "linear" ? std::nullopt : opFromName(word);
    return;
  case AttrSlot::Interpolation:
    a.interpolation = word == "bilinear" ? Interpolation::Bilinear : Interpolation::Nearest;
    return;
  case AttrSlot::UseBias:
    a.useBias = d.b;
    return;
  case AttrSlot::Axis:
    a.axis = d.i;
    return;
  case AttrSlot::Offset:
    a.offset = d.i;
    return;
  case AttrSlot::Nesterov:
    a.nesterov = d.b;
    return;
  case AttrSlot::Lr:
    a.lr = x;
    return;
  case AttrSlot::Momentum:
    a.momentum = x;
    return;
  case AttrSlot::Beta1:
    a.beta1 = x;
    return;
  case AttrSlot::Beta2:
    a.beta2 = x;
    return;
  case AttrSlot::Epsilon:
    a.eps = x;
    return;
  case AttrSlot::Rho:
    a.rho = x;
    return;
  case AttrSlot::Alpha:
    a.alpha = x;
    return;
  case AttrSlot::Margins:
    a.top = a.bottom = a.left = a.right = d.i;
    return;
  }
}

} // namespace

Attrs defaultAttrs(OpKind op) {
  Attrs a;
  for (const ArgSpec &arg : opInfo(op).args) applyDefault(arg.slot, arg.def, a);
  return a;
}

std::vector<const char *> slotChoices(AttrSlot slot) {
  switch (slot) {
  case AttrSlot::Padding:
    return {"valid", "same"};
  case AttrSlot::Activation: {
    std::vector<const char *> words = {"linear"};
    for (const OpInfo &row : opTable())
      if (row.props & ActivationFn) words.push_back(row.name);
    return words;
  }
  case AttrSlot::Interpolation:
    return {"nearest", "bilinear"};
  case AttrSlot::Operand:
  case AttrSlot::Units:
  case AttrSlot::Kernel:
  case AttrSlot::Pool:
  case AttrSlot::Size:
  case AttrSlot::Strides:
  case AttrSlot::Dilation:
  case AttrSlot::UseBias:
  case AttrSlot::Axis:
  case AttrSlot::Shape:
  case AttrSlot::Offset:
  case AttrSlot::Lr:
  case AttrSlot::Momentum:
  case AttrSlot::Nesterov:
  case AttrSlot::Beta1:
  case AttrSlot::Beta2:
  case AttrSlot::Epsilon:
  case AttrSlot::Rho:
  case AttrSlot::Alpha:
  case AttrSlot::Margins:
    return {};
  }
  return {};
}

} // namespace nnc
