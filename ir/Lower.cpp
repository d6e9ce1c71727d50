// Lowering AST -> Graph. Statements are visited in order; each layer call is matched against
// its signature (positional then keyword arguments, with defaults), its operands are resolved
// in the current scope (later assignments shadow earlier ones), its parameters are created
// with Keras layouts and initializers, and its type comes from the op's shape rule. Errors are
// reported at the offending token; a failed layer poisons its name so errors do not cascade.
#include "ir/Lower.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace nnc {

namespace {

enum class ArgType { Value, Int, IntPair, Bool, Enum, Number, ShapeList, Name };

struct ParamSpec {
  const char *name;
  ArgType type;
  const char *def; // default in source form, or nullptr if required
  std::vector<const char *> choices = {};
};

struct OpSig {
  const char *op;
  const char *kerasType; // for summaries
  const char *layerBase; // Keras default layer name
  std::vector<ParamSpec> params;
};

const std::vector<const char *> kActs = {"linear", "relu", "sigmoid", "tanh", "softmax"};
const std::vector<const char *> kPads = {"valid", "same"};

const std::vector<OpSig> &signatures() {
  static const std::vector<OpSig> sigs = {
      {"dense",
       "Dense",
       "dense",
       {{"x", ArgType::Value, nullptr},
        {"units", ArgType::Int, nullptr},
        {"use_bias", ArgType::Bool, "true"},
        {"activation", ArgType::Enum, "linear", kActs}}},
      {"conv2d",
       "Conv2D",
       "conv2d",
       {{"x", ArgType::Value, nullptr},
        {"filters", ArgType::Int, nullptr},
        {"kernel", ArgType::IntPair, nullptr},
        {"strides", ArgType::IntPair, "1"},
        {"padding", ArgType::Enum, "valid", kPads},
        {"dilation", ArgType::IntPair, "1"},
        {"use_bias", ArgType::Bool, "true"},
        {"activation", ArgType::Enum, "linear", kActs}}},
      {"conv2d_transpose",
       "Conv2DTranspose",
       "conv2d_transpose",
       {{"x", ArgType::Value, nullptr},
        {"filters", ArgType::Int, nullptr},
        {"kernel", ArgType::IntPair, nullptr},
        {"strides", ArgType::IntPair, "1"},
        {"padding", ArgType::Enum, "valid", kPads},
        {"use_bias", ArgType::Bool, "true"},
        {"activation", ArgType::Enum, "linear", kActs}}},
      {"maxpool2d",
       "MaxPooling2D",
       "max_pooling2d",
       {{"x", ArgType::Value, nullptr},
        {"pool", ArgType::IntPair, "2"},
        {"strides", ArgType::IntPair, "pool"},
        {"padding", ArgType::Enum, "valid", kPads}}},
      {"avgpool2d",
       "AveragePooling2D",
       "average_pooling2d",
       {{"x", ArgType::Value, nullptr},
        {"pool", ArgType::IntPair, "2"},
        {"strides", ArgType::IntPair, "pool"},
        {"padding", ArgType::Enum, "valid", kPads}}},
      {"upsample2d",
       "UpSampling2D",
       "up_sampling2d",
       {{"x", ArgType::Value, nullptr},
        {"size", ArgType::IntPair, "2"},
        {"interpolation", ArgType::Enum, "nearest", {"nearest", "bilinear"}}}},
      {"flatten", "Flatten", "flatten", {{"x", ArgType::Value, nullptr}}},
      {"reshape",
       "Reshape",
       "reshape",
       {{"x", ArgType::Value, nullptr}, {"shape", ArgType::ShapeList, nullptr}}},
      {"squeeze",
       "Squeeze",
       "squeeze",
       {{"x", ArgType::Value, nullptr}, {"axis", ArgType::Int, "-1"}}},
      {"relu", "ReLU", "re_lu", {{"x", ArgType::Value, nullptr}}},
      {"sigmoid", "Activation", "activation", {{"x", ArgType::Value, nullptr}}},
      {"tanh", "Activation", "activation", {{"x", ArgType::Value, nullptr}}},
      {"softmax", "Softmax", "softmax", {{"x", ArgType::Value, nullptr}}},
      {"add", "Add", "add", {{"a", ArgType::Value, nullptr}, {"b", ArgType::Value, nullptr}}},
      {"concat",
       "Concatenate",
       "concatenate",
       {{"a", ArgType::Value, nullptr},
        {"b", ArgType::Value, nullptr},
        {"axis", ArgType::Int, "-1"}}},
      {"binary_crossentropy",
       "Loss",
       "loss",
       {{"pred", ArgType::Value, nullptr}, {"target", ArgType::Value, nullptr}}},
      {"mse",
       "Loss",
       "loss",
       {{"pred", ArgType::Value, nullptr}, {"target", ArgType::Value, nullptr}}},
      {"categorical_crossentropy",
       "Loss",
       "loss",
       {{"pred", ArgType::Value, nullptr}, {"target", ArgType::Value, nullptr}}},
  };
  return sigs;
}

const OpSig *findSig(const std::string &op) {
  for (const OpSig &s : signatures())
    if (op == s.op) return &s;
  return nullptr;
}

size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

/// " (did you mean 'x'?)" for the closest candidate within distance 2, else "".
std::string suggest(const std::string &word, const std::vector<std::string> &cands) {
  std::string best;
  size_t bestD = 3;
  for (const std::string &c : cands) {
    size_t d = editDistance(word, c);
    if (d < bestD) bestD = d, best = c;
  }
  return best.empty() ? "" : fmt::format("; did you mean '{}'?", best);
}

std::string describe(const Literal &l) {
  switch (l.kind) {
  case Literal::Int:
    return fmt::format("the integer {}", l.i);
  case Literal::Float:
    return fmt::format("the number {}", printLiteral(l));
  case Literal::Bool:
    return l.b ? "true" : "false";
  case Literal::Ident:
    return fmt::format("'{}'", l.s);
  case Literal::String:
    return fmt::format("the string \"{}\"", l.s);
  case Literal::Tuple:
    return fmt::format("the tuple {}", printLiteral(l));
  case Literal::Shape:
    return fmt::format("the list {}", printLiteral(l));
  }
  return "?";
}

struct Bound {
  const Literal *lit = nullptr; // nullptr: default used
  SourceLoc loc;
};

class Lowerer {
public:
  Lowerer(const Module &m, DiagEngine &d) : m_(m), d_(d) {}
  std::optional<Graph> run();

private:
  const Module &m_;
  DiagEngine &d_;
  Graph g_;
  std::map<std::string, ValueId> scope_; // name -> value (kNoValue: poisoned)
  std::map<std::string, int> nameCount_; // value-name uses, for shadowing suffixes
  std::set<std::string> layerNames_;
  std::map<std::string, int> layerCounters_;
  ValueId last_ = kNoValue;
  bool sawOutput_ = false, sawLoss_ = false, sawTrain_ = false;

  void input(const Stmt &s);
  void assign(const Stmt &s);
  void output(const Stmt &s);
  void loss(const Stmt &s);
  void train(const Stmt &s);
  bool bind(const Stmt &s, const OpSig &sig, std::vector<Bound> &out);
  std::string valueName(const std::string &var);
  std::string layerName(const OpSig &sig, const Bound &explicitName, bool &ok);
  ValueId resolve(const Literal &l, bool &poisoned);
  ValueId addParam(const std::string &layer, const char *which, std::vector<int64_t> dims,
                   Init init, SourceLoc loc);
  // Literal accessors with type errors.
  bool getInt(const Literal &l, const char *what, int64_t &out);
  bool getPair(const Literal &l, const char *what, int64_t &a, int64_t &b);
  bool getBool(const Literal &l, const char *what, bool &out);
  bool getNumber(const Literal &l, const char *what, double &out);
  bool getEnum(const Literal &l, const ParamSpec &p, std::string &out);
};

std::string Lowerer::valueName(const std::string &var) {
  int n = nameCount_[var]++;
  std::string name = n == 0 ? var : fmt::format("{}.{}", var, n);
  while (g_.find(name) != kNoValue) name = fmt::format("{}.{}", var, nameCount_[var]++);
  return name;
}

bool Lowerer::getInt(const Literal &l, const char *what, int64_t &out) {
  if (l.kind == Literal::Int) {
    out = l.i;
    return true;
  }
  d_.error(l.loc, fmt::format("expected an integer for '{}', found {}", what, describe(l)));
  return false;
}

bool Lowerer::getPair(const Literal &l, const char *what, int64_t &a, int64_t &b) {
  if (l.kind == Literal::Int) {
    a = b = l.i;
    return true;
  }
  if (l.kind == Literal::Tuple && l.elems.size() == 2 && l.elems[0].kind == Literal::Int &&
      l.elems[1].kind == Literal::Int) {
    a = l.elems[0].i;
    b = l.elems[1].i;
    return true;
  }
  d_.error(l.loc, fmt::format("expected an integer or a pair (h, w) for '{}', found {}", what,
                              describe(l)));
  return false;
}

bool Lowerer::getBool(const Literal &l, const char *what, bool &out) {
  if (l.kind == Literal::Bool) {
    out = l.b;
    return true;
  }
  d_.error(l.loc, fmt::format("expected true or false for '{}', found {}", what, describe(l)));
  return false;
}

bool Lowerer::getNumber(const Literal &l, const char *what, double &out) {
  if (l.kind == Literal::Int || l.kind == Literal::Float) {
    out = l.kind == Literal::Int ? double(l.i) : l.f;
    return true;
  }
  d_.error(l.loc, fmt::format("expected a number for '{}', found {}", what, describe(l)));
  return false;
}

bool Lowerer::getEnum(const Literal &l, const ParamSpec &p, std::string &out) {
  std::string choices;
  std::vector<std::string> cands;
  for (const char *c : p.choices) {
    choices += (choices.empty() ? "" : ", ") + std::string(c);
    cands.push_back(c);
  }
  if ((l.kind == Literal::Ident || l.kind == Literal::String)) {
    for (const char *c : p.choices)
      if (l.s == c) {
        out = l.s;
        return true;
      }
    d_.error(l.loc, fmt::format("unknown {} '{}'{} (expected one of: {})", p.name, l.s,
                                suggest(l.s, cands), choices));
    return false;
  }
  d_.error(l.loc,
           fmt::format("expected one of {} for '{}', found {}", choices, p.name, describe(l)));
  return false;
}

// Matches call arguments to the signature: positional in order, then keywords by name.
bool Lowerer::bind(const Stmt &s, const OpSig &sig, std::vector<Bound> &out) {
  out.assign(sig.params.size() + 1, Bound{}); // last slot: name=
  bool ok = true, sawKeyword = false;
  size_t pos = 0;
  for (const Arg &a : s.args) {
    size_t slot;
    if (a.key.empty()) {
      if (sawKeyword) {
        d_.error(a.value.loc, "positional argument after a keyword argument");
        ok = false;
        continue;
      }
      if (pos >= sig.params.size()) {
        d_.error(a.value.loc, fmt::format("{} takes at most {} positional argument{}", sig.op,
                                          sig.params.size(), sig.params.size() == 1 ? "" : "s"));
        ok = false;
        continue;
      }
      slot = pos++;
    } else {
      sawKeyword = true;
      if (a.key == "name") {
        slot = sig.params.size();
      } else {
        slot = sig.params.size() + 1;
        std::vector<std::string> cands;
        for (size_t i = 0; i < sig.params.size(); ++i) {
          cands.push_back(sig.params[i].name);
          if (a.key == sig.params[i].name) slot = i;
        }
        if (slot > sig.params.size()) {
          std::string list;
          for (const std::string &c : cands) list += (list.empty() ? "" : ", ") + c;
          d_.error(a.keyLoc,
                   fmt::format("{} has no argument '{}'{}", sig.op, a.key, suggest(a.key, cands)))
              .notes.push_back(fmt::format("{} takes: {}, name", sig.op, list));
          ok = false;
          continue;
        }
      }
    }
    if (out[slot].lit) {
      d_.error(a.key.empty() ? a.value.loc : a.keyLoc,
               fmt::format("argument '{}' is given twice",
                           slot < sig.params.size() ? sig.params[slot].name : "name"));
      ok = false;
      continue;
    }
    out[slot] = Bound{&a.value, a.key.empty() ? a.value.loc : a.keyLoc};
  }
  for (size_t i = 0; i < sig.params.size(); ++i)
    if (!out[i].lit && !sig.params[i].def) {
      d_.error(s.opLoc,
               fmt::format("{}: missing required argument '{}'", sig.op, sig.params[i].name));
      ok = false;
    }
  return ok;
}

ValueId Lowerer::resolve(const Literal &l, bool &poisoned) {
  if (l.kind != Literal::Ident) {
    d_.error(l.loc,
             fmt::format("expected a value (an input or an earlier layer), found {}", describe(l)));
    return kNoValue;
  }
  auto it = scope_.find(l.s);
  if (it == scope_.end()) {
    std::vector<std::string> cands;
    for (auto &[k, v] : scope_) cands.push_back(k);
    d_.error(l.loc, fmt::format("use of undefined name '{}'{}", l.s, suggest(l.s, cands)));
    return kNoValue;
  }
  if (it->second == kNoValue) poisoned = true;
  return it->second;
}

std::string Lowerer::layerName(const OpSig &sig, const Bound &explicitName, bool &ok) {
  if (explicitName.lit) {
    const Literal &l = *explicitName.lit;
    if (l.kind != Literal::Ident && l.kind != Literal::String) {
      d_.error(l.loc, fmt::format("expected a layer name for 'name', found {}", describe(l)));
      ok = false;
      return "";
    }
    if (l.s.empty() || !layerNames_.insert(l.s).second) {
      d_.error(l.loc,
               fmt::format("layer name '{}' is {}", l.s, l.s.empty() ? "empty" : "already used"));
      ok = false;
      return "";
    }
    return l.s;
  }
  for (;;) {
    int n = layerCounters_[sig.layerBase]++;
    std::string name = n == 0 ? sig.layerBase : fmt::format("{}_{}", sig.layerBase, n);
    if (layerNames_.insert(name).second) return name;
  }
}

ValueId Lowerer::addParam(const std::string &layer, const char *which, std::vector<int64_t> dims,
                          Init init, SourceLoc loc) {
  Node p;
  p.op = OpKind::Param;
  p.name = layer + "." + which;
  p.layer = layer;
  p.loc = loc;
  p.trainable = true;
  p.attrs.init = init;
  if (init == Init::GlorotUniform) {
    // Keras fans: the last two dims are (in, out), the rest the receptive field.
    int64_t rf = 1;
    for (size_t i = 0; i + 2 < dims.size(); ++i) rf *= dims[i];
    p.attrs.fanIn = dims[dims.size() - 2] * rf;
    p.attrs.fanOut = dims.back() * rf;
  }
  p.type = TensorType{false, std::move(dims)};
  ValueId id = g_.add(std::move(p));
  g_.params.push_back(id);
  return id;
}

void Lowerer::input(const Stmt &s) {
  if (scope_.count(s.name)) {
    d_.error(s.nameLoc, fmt::format("input '{}' is already defined", s.name));
    return;
  }
  TensorType t{true, {}};
  bool ok = true;
  int64_t total = 1;
  if (s.shape.kind != Literal::Shape) {
    d_.error(s.shape.loc, fmt::format("expected a shape like [28, 28, 1] for input '{}'", s.name));
    ok = false;
  } else {
    for (const Literal &e : s.shape.elems) {
      if (e.kind != Literal::Int || e.i <= 0) {
        d_.error(e.loc,
                 fmt::format("input dimensions must be positive integers, found {}", describe(e)));
        ok = false;
        continue;
      }
      if (__builtin_mul_overflow(total, e.i, &total) || total > kMaxElements) {
        d_.error(e.loc, fmt::format("input '{}' is too large: more than 2^40 elements per example",
                                    s.name));
        ok = false;
        break;
      }
      t.dims.push_back(e.i);
    }
  }
  if (!ok) {
    scope_[s.name] = kNoValue;
    return;
  }
  Node n;
  n.op = OpKind::Input;
  n.name = valueName(s.name);
  n.layer = s.name;
  n.loc = s.loc;
  n.type = t;
  ValueId id = g_.add(std::move(n));
  g_.inputs.push_back(id);
  scope_[s.name] = id;
  layerNames_.insert(s.name);
}

void Lowerer::assign(const Stmt &s) {
  const OpSig *sig = findSig(s.op);
  auto poison = [&] { scope_[s.name] = kNoValue; };
  if (!sig || std::string(sig->kerasType) == "Loss") {
    std::vector<std::string> cands;
    for (const OpSig &o : signatures())
      if (std::string(o.kerasType) != "Loss") cands.push_back(o.op);
    auto &e = d_.error(s.opLoc, fmt::format("unknown operator '{}'{}", s.op, suggest(s.op, cands)));
    if (sig) e.notes.push_back(fmt::format("'{}' is a loss; use it in a 'loss' statement", s.op));
    return poison();
  }
  std::vector<Bound> b;
  if (!bind(s, *sig, b)) return poison();
  Node n;
  n.op = *opFromName(sig->op);
  n.loc = s.opLoc;
  Attrs &a = n.attrs;
  bool ok = true, poisoned = false;
  std::vector<ValueId> operands;
  std::string strides;
  for (size_t i = 0; i < sig->params.size(); ++i) {
    const ParamSpec &p = sig->params[i];
    std::string name = p.name;
    if (p.type == ArgType::Value) {
      ValueId v = resolve(*b[i].lit, poisoned);
      if (v == kNoValue && !poisoned) ok = false;
      operands.push_back(v);
      continue;
    }
    Literal def;
    if (!b[i].lit) {
      if (std::string(p.def) == "pool") continue; // strides default to the pool size
      def.loc = s.opLoc;
      std::string d = p.def;
      if (d == "true" || d == "false")
        def.kind = Literal::Bool, def.b = d == "true";
      else if (p.type == ArgType::Enum)
        def.kind = Literal::Ident, def.s = d;
      else
        def.kind = Literal::Int, def.i = std::stoll(d);
    }
    const Literal &l = b[i].lit ? *b[i].lit : def;
    std::string e;
    if (name == "units" || name == "filters") {
      ok &= getInt(l, p.name, a.units);
      if (ok && (a.units <= 0 || a.units > (int64_t(1) << 30))) {
        d_.error(l.loc, fmt::format("'{}' must be between 1 and 2^30, found {}", p.name, a.units));
        ok = false;
      }
    } else if (name == "kernel" || name == "pool" || name == "size") {
      ok &= getPair(l, p.name, a.kh, a.kw);
      if (ok && (a.kh <= 0 || a.kw <= 0 || a.kh > 65536 || a.kw > 65536)) {
        d_.error(l.loc, fmt::format("'{}' must be between 1 and 65536, found ({}, {})", p.name,
                                    a.kh, a.kw));
        ok = false;
      }
      if (name == "pool") a.sh = a.kh, a.sw = a.kw;
    } else if (name == "strides" || name == "dilation") {
      int64_t &x = name == "strides" ? a.sh : a.dh;
      int64_t &y = name == "strides" ? a.sw : a.dw;
      ok &= getPair(l, p.name, x, y);
      if (ok && (x <= 0 || y <= 0 || x > 65536 || y > 65536)) {
        d_.error(l.loc,
                 fmt::format("'{}' must be between 1 and 65536, found ({}, {})", p.name, x, y));
        ok = false;
      }
    } else if (name == "padding") {
      ok &= getEnum(l, p, e);
      a.padding = e == "same" ? Padding::Same : Padding::Valid;
    } else if (name == "activation") {
      ok &= getEnum(l, p, e);
      for (int k = 0; k < 5; ++k)
        if (e == activationName(Activation(k))) a.activation = Activation(k);
    } else if (name == "interpolation") {
      ok &= getEnum(l, p, e);
      a.interpolation = e == "bilinear" ? Interpolation::Bilinear : Interpolation::Nearest;
    } else if (name == "use_bias") {
      ok &= getBool(l, p.name, a.useBias);
    } else if (name == "axis") {
      ok &= getInt(l, p.name, a.axis);
    } else if (name == "shape") {
      if (l.kind != Literal::Shape && l.kind != Literal::Tuple) {
        d_.error(l.loc,
                 fmt::format("expected a shape like [7, 7, 4] for 'shape', found {}", describe(l)));
        ok = false;
      } else {
        for (const Literal &x : l.elems) {
          int64_t v = 0;
          if (!getInt(x, "shape", v)) ok = false;
          a.shape.push_back(v);
        }
      }
    }
  }
  std::string layer = layerName(*sig, b.back(), ok);
  if (!ok || poisoned) return poison();
  const TensorType &x = g_[operands[0]].type;
  // Axis arguments count N as axis 0, as in Keras; store them per example.
  if (n.op == OpKind::Squeeze || n.op == OpKind::Concat) {
    int64_t rank = x.rank();
    int64_t ax = a.axis < 0 ? a.axis + rank : a.axis;
    if (ax < 0 || ax >= rank || (x.batched && ax == 0)) {
      const Literal *lit = b[n.op == OpKind::Squeeze ? 1 : 2].lit;
      d_.error(lit ? lit->loc : s.opLoc,
               fmt::format("axis {} is out of range for {} (valid: 1 to {}, or -1 to -{})", a.axis,
                           x.str(), rank - 1, rank - 1));
      return poison();
    }
    a.axis = x.batched ? ax - 1 : ax;
  }
  if (n.op == OpKind::Conv2DTranspose && (a.dh != 1 || a.dw != 1)) a.dh = a.dw = 1;
  n.layer = layer;
  n.inputs = operands;
  // Parameters, shaped from the input as Keras builds layers.
  bool hasKernel =
      n.op == OpKind::Dense || n.op == OpKind::Conv2D || n.op == OpKind::Conv2DTranspose;
  if (hasKernel) {
    std::vector<int64_t> kdims;
    if (n.op == OpKind::Dense) {
      if (!x.batched || x.dims.empty()) {
        d_.error(s.opLoc, fmt::format("dense acts on the last axis, but '{}' is {} which has none "
                                      "besides N",
                                      g_[operands[0]].name, x.str()));
        return poison();
      }
      kdims = {x.dims.back(), a.units};
    } else {
      if (!x.batched || x.dims.size() != 3) {
        d_.error(s.opLoc, fmt::format("{} expects an image batch [N, height, width, channels] "
                                      "(rank 4), but '{}' is {} (rank {})",
                                      sig->op, g_[operands[0]].name, x.str(), x.rank()));
        return poison();
      }
      int64_t c = x.dims[2];
      kdims = n.op == OpKind::Conv2D ? std::vector<int64_t>{a.kh, a.kw, c, a.units}
                                     : std::vector<int64_t>{a.kh, a.kw, a.units, c};
      int64_t total = 1;
      for (int64_t d : kdims)
        if (__builtin_mul_overflow(total, d, &total) || total > kMaxElements) {
          d_.error(s.opLoc, fmt::format("{}: the kernel has more than 2^40 weights", sig->op));
          return poison();
        }
    }
    n.inputs.push_back(addParam(layer, "kernel", kdims, Init::GlorotUniform, s.opLoc));
    if (a.useBias) n.inputs.push_back(addParam(layer, "bias", {a.units}, Init::Zeros, s.opLoc));
  } else {
    a.useBias = false;
  }
  TypeResult r = inferType(g_, n);
  if (!r.type) {
    auto &e = d_.error(s.opLoc, r.error);
    e.notes = r.notes;
    return poison();
  }
  n.type = *r.type;
  n.name = valueName(s.name);
  ValueId id = g_.add(std::move(n));
  scope_[s.name] = id;
  last_ = id;
}

void Lowerer::output(const Stmt &s) {
  if (sawOutput_) {
    d_.error(s.loc, "'output' may appear only once");
    return;
  }
  sawOutput_ = true;
  for (auto &[name, loc] : s.outputs) {
    Literal l;
    l.kind = Literal::Ident;
    l.s = name;
    l.loc = loc;
    bool poisoned = false;
    ValueId v = resolve(l, poisoned);
    if (v != kNoValue) g_.outputs.push_back(v);
  }
}

void Lowerer::loss(const Stmt &s) {
  if (sawLoss_) {
    d_.error(s.loc, "'loss' may appear only once");
    return;
  }
  sawLoss_ = true;
  const OpSig *sig = findSig(s.op);
  if (!sig || std::string(sig->kerasType) != "Loss") {
    d_.error(s.opLoc,
             fmt::format("unknown loss '{}'{}", s.op,
                         suggest(s.op, {"binary_crossentropy", "mse", "categorical_crossentropy"})))
        .notes.push_back("losses are binary_crossentropy, mse, categorical_crossentropy");
    return;
  }
  std::vector<Bound> b;
  if (!bind(s, *sig, b)) return;
  if (b.back().lit) {
    d_.error(b.back().loc, "a loss takes no 'name'");
    return;
  }
  bool poisoned = false;
  ValueId pred = resolve(*b[0].lit, poisoned), target = resolve(*b[1].lit, poisoned);
  if (pred == kNoValue || target == kNoValue) return;
  Node n;
  n.op = *opFromName(s.op);
  n.inputs = {pred, target};
  n.loc = s.loc;
  n.layer = "loss";
  TypeResult r = inferType(g_, n);
  if (!r.type) {
    auto &e = d_.error(s.opLoc, r.error);
    e.notes = r.notes;
    return;
  }
  n.type = *r.type;
  n.name = valueName("loss");
  g_.loss = g_.add(std::move(n));
}

void Lowerer::train(const Stmt &s) {
  if (sawTrain_) {
    d_.error(s.loc, "'train' may appear only once");
    return;
  }
  sawTrain_ = true;
  TrainConfig &t = g_.train;
  t.loc = s.loc;
  const std::vector<std::string> keys = {"optimizer", "lr", "epochs", "batch", "shuffle", "seed"};
  std::set<std::string> seen;
  for (const Arg &a : s.args) {
    if (a.key.empty()) {
      d_.error(a.value.loc, "train settings are written key=value (for example epochs=50)");
      continue;
    }
    if (!seen.insert(a.key).second) {
      d_.error(a.keyLoc, fmt::format("train setting '{}' is given twice", a.key));
      continue;
    }
    const Literal &l = a.value;
    if (a.key == "optimizer") {
      ParamSpec p{"optimizer", ArgType::Enum, nullptr, {"sgd", "adam", "adadelta", "rmsprop"}};
      std::string e;
      if (getEnum(l, p, e)) t.optimizer = e;
    } else if (a.key == "lr") {
      double v = 0;
      if (getNumber(l, "lr", v)) {
        if (!(v > 0) || v > 1e6)
          d_.error(l.loc, fmt::format("lr must be positive, found {}", v));
        else
          t.lr = v;
      }
    } else if (a.key == "epochs" || a.key == "batch") {
      int64_t v = 0;
      if (getInt(l, a.key.c_str(), v)) {
        if (v <= 0 || v > 1000000)
          d_.error(l.loc, fmt::format("{} must be between 1 and 1000000, found {}", a.key, v));
        else
          (a.key == "epochs" ? t.epochs : t.batch) = v;
      }
    } else if (a.key == "shuffle") {
      getBool(l, "shuffle", t.shuffle);
    } else if (a.key == "seed") {
      int64_t v = 0;
      if (getInt(l, "seed", v)) {
        if (v < 0)
          d_.error(l.loc, fmt::format("seed must not be negative, found {}", v));
        else
          t.seed = uint64_t(v);
      }
    } else {
      std::string list;
      for (const std::string &k : keys) list += (list.empty() ? "" : ", ") + k;
      d_.error(a.keyLoc, fmt::format("unknown train setting '{}'{}", a.key, suggest(a.key, keys)))
          .notes.push_back("train settings are: " + list);
    }
  }
}

std::optional<Graph> Lowerer::run() {
  g_.file = m_.file;
  for (const Stmt &s : m_.stmts) {
    switch (s.kind) {
    case Stmt::Model:
      g_.name = s.name;
      break;
    case Stmt::Input:
      input(s);
      break;
    case Stmt::Assign:
      assign(s);
      break;
    case Stmt::Output:
      output(s);
      break;
    case Stmt::Loss:
      loss(s);
      break;
    case Stmt::Train:
      train(s);
      break;
    }
  }
  if (g_.name.empty() && !d_.hasErrors())
    d_.error(SourceLoc{1, 1}, "expected 'model NAME' as the first statement");
  if (g_.inputs.empty() && !d_.hasErrors())
    d_.error(SourceLoc{}, "the model has no 'input' statement");
  if (!sawOutput_ && last_ != kNoValue) g_.outputs.push_back(last_);
  if (d_.hasErrors()) return std::nullopt;
  if (g_.outputs.empty()) {
    d_.error(SourceLoc{}, "the model has no layers and no 'output'");
    return std::nullopt;
  }
  return std::move(g_);
}

} // namespace

const char *kerasTypeName(OpKind op) {
  if (op == OpKind::Input) return "InputLayer";
  for (const OpSig &s : signatures())
    if (opFromName(s.op) == op) return s.kerasType;
  return opName(op);
}

std::optional<Graph> lowerModule(const Module &m, DiagEngine &diags) {
  return Lowerer(m, diags).run();
}

} // namespace nnc
