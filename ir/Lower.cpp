// Lowering AST -> Graph. Statements are visited in order; each layer call is matched against
// its signature as Python binds arguments (positional ones in order, then keywords, spelled as
// in nnc or as in Keras, with defaults), its operands are resolved
// in the current scope (later assignments shadow earlier ones), its parameters are created
// with Keras layouts and initializers, and its type comes from the op's shape rule. Errors are
// reported at the offending token; a failed layer poisons its name so errors do not cascade.
// No error costs work in proportion to the rest of the file: names and literals quoted in
// messages are cut at kMaxQuoted bytes, and the "did you mean" over the scope is searched only
// for an error that will be shown (past the limit DiagEngine only counts errors).
#include "ir/Lower.h"
#include "frontend/Suggest.h"
#include "ir/OpTable.h"
#include "ir/ShapeRules.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace nnc {

namespace {

/// One argument of a signature: an op's (from the op table) or a `train` setting's.
struct ParamSpec {
  const char *name;
  ArgType type;
  bool required = false;
  std::vector<const char *> choices = {};
  const char *alias = nullptr; // Keras's spelling where it differs (kernel_size for kernel)
  AttrSlot slot = AttrSlot::Operand;
  ArgDefault def = {};
};

struct OpSig {
  const char *op;
  OpKind kind;
  const char *kerasType; // for summaries
  const char *layerBase; // Keras default layer name
  std::vector<ParamSpec> params;
};

/// The signatures of the language's layers and losses, read from the op table.
const std::vector<OpSig> &signatures() {
  static const std::vector<OpSig> sigs = [] {
    std::vector<OpSig> out;
    for (const OpInfo &row : opTable()) {
      if (!row.inLanguage()) continue;
      OpSig sig{row.name, row.op, row.kerasClass, row.layerBase, {}};
      for (const ArgSpec &a : row.args)
        sig.params.push_back(ParamSpec{a.name, a.type, a.def.kind == ArgDefault::Required,
                                       slotChoices(a.slot), a.alias, a.slot, a.def});
      out.push_back(std::move(sig));
    }
    return out;
  }();
  return sigs;
}

const OpSig *findSig(const std::string &op) {
  for (const OpSig &s : signatures())
    if (op == s.op) return &s;
  return nullptr;
}

/// The settings of a `train` statement (all optional; TrainConfig holds their defaults).
const std::vector<ParamSpec> &trainSettings() {
  static const std::vector<ParamSpec> keys = {
      {"optimizer", ArgType::Enum, false, {"sgd", "adam", "adadelta", "rmsprop"}},
      {"lr", ArgType::Number, false, {}, "learning_rate"},
      {"epochs", ArgType::Int},
      {"batch", ArgType::Int, false, {}, "batch_size"},
      {"shuffle", ArgType::Bool},
      {"seed", ArgType::Int},
      {"metrics", ArgType::Enum, false, {"accuracy"}}};
  return keys;
}

/// The op a Keras class or layer name stands for, in any case (MaxPooling2D: maxpool2d), or "".
std::string opForKerasName(const std::string &word) {
  for (const OpSig &s : signatures()) {
    std::string type = s.kerasType;
    if (type == "Loss" || type == "Activation") continue;
    if (equalsIgnoringCase(word, type) || equalsIgnoringCase(word, s.layerBase)) return s.op;
  }
  return "";
}

/// The value operands (inputs or layers) among the op's parameters, in order.
std::vector<ParamSpec> valueParams(const OpSig &sig) {
  std::vector<ParamSpec> values;
  for (const ParamSpec &p : sig.params)
    if (p.type == ArgType::Value) values.push_back(p);
  return values;
}

/// Index of the parameter spelled `key` (its name or its alias), or params.size() if none.
size_t findParam(const std::vector<ParamSpec> &params, const std::string &key) {
  for (size_t i = 0; i < params.size(); ++i)
    if (key == params[i].name || (params[i].alias && key == params[i].alias)) return i;
  return params.size();
}

/// Every keyword spelling of `params`: names and aliases.
std::vector<std::string> spellingsOf(const std::vector<ParamSpec> &params) {
  std::vector<std::string> out;
  for (const ParamSpec &p : params) {
    out.push_back(p.name);
    if (p.alias) out.push_back(p.alias);
  }
  return out;
}

/// The parameter names in order ("x, filters, kernel"), with "(or ALIAS)" if `withAliases`.
std::string paramList(const std::vector<ParamSpec> &params, bool withAliases) {
  std::string list;
  for (const ParamSpec &p : params) {
    list += (list.empty() ? "" : ", ") + std::string(p.name);
    if (withAliases && p.alias) list += fmt::format(" (or {})", p.alias);
  }
  return list;
}

/// "KIND 'NAME' is given twice", naming both spellings when they differ ("" = by position).
std::string givenTwice(const char *kind, const std::string &name, const std::string &first,
                       const std::string &second) {
  std::string msg = fmt::format("{} '{}' is given twice", kind, name);
  auto how = [](const std::string &k) {
    return k.empty() ? std::string("by position") : fmt::format("as '{}'", k);
  };
  if (first != second) msg += fmt::format(", {} and {}", how(first), how(second));
  return msg;
}

/// The note pointing at where a twice-given argument was given first.
std::string firstGivenAt(SourceLoc loc) {
  return fmt::format("it is first given at line {}, column {}", loc.line, loc.col);
}

/// Longest user text (a name, a printed literal) quoted in a message.
constexpr size_t kMaxQuoted = 64;

/// How a literal is named in a message ("the integer 3", "the tuple (1, 2)"), cut if long.
std::string describe(const Literal &l) {
  switch (l.kind) {
  case Literal::Int:
    return fmt::format("the integer {}", l.i);
  case Literal::Float:
    return fmt::format("the number {}", clip(printLiteral(l), kMaxQuoted));
  case Literal::Bool:
    return l.b ? "true" : "false";
  case Literal::Ident:
    return fmt::format("'{}'", clip(l.s, kMaxQuoted));
  case Literal::String:
    return fmt::format("the string {}", clip(printLiteral(l), kMaxQuoted));
  case Literal::Tuple:
    return fmt::format("the tuple {}", clip(printLiteral(l), kMaxQuoted));
  case Literal::Shape:
    return fmt::format("the list {}", clip(printLiteral(l), kMaxQuoted));
  }
  return "?";
}

/// The literal a typed default stands for, as if written at `loc`.
Literal defaultLiteral(const ArgDefault &d, SourceLoc loc) {
  Literal l;
  l.loc = loc;
  switch (d.kind) {
  case ArgDefault::Int:
  case ArgDefault::Pair:
    l.kind = Literal::Int, l.i = d.i;
    break;
  case ArgDefault::Float:
    l.kind = Literal::Float, l.f = d.f;
    break;
  case ArgDefault::Bool:
    l.kind = Literal::Bool, l.b = d.b;
    break;
  case ArgDefault::Word:
    l.kind = Literal::Ident, l.s = d.word;
    break;
  case ArgDefault::Required:
  case ArgDefault::PoolSize:
    break;
  }
  return l;
}

struct Bound {
  const Literal *lit = nullptr; // nullptr: default used
  SourceLoc loc;
  std::string key; // the keyword as written; "" for a positional argument
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
  std::set<std::string> nodeNames_; // names of the graph's nodes, for valueName
  std::map<std::string, int> layerCounters_;
  ValueId last_ = kNoValue;
  bool sawOutput_ = false, sawLoss_ = false, sawTrain_ = false;
  const OpSig *callee_ = nullptr; // the op whose settings are being read, for hints

  void input(const Stmt &s);
  void assign(const Stmt &s);
  void output(const Stmt &s);
  void loss(const Stmt &s);
  void train(const Stmt &s);
  bool bind(const Stmt &s, const OpSig &sig, std::vector<Bound> &out);
  size_t keywordSlot(const OpSig &sig, const Arg &a);
  void tooManyPositional(const Stmt &s, const OpSig &sig, const Arg &extra);
  bool checkValueArgs(const OpSig &sig, const std::vector<Bound> &b);
  Diagnostic &literalError(const Literal &l, std::string message);
  const ParamSpec *trainSetting(const Arg &a);
  std::string valueName(const std::string &var);
  ValueId addNode(Node n);
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
  bool getSize(const Literal &l, const char *what, int64_t max, int64_t &a, int64_t &b);
  bool getShape(const Literal &l, std::vector<int64_t> &out);
  bool getMargins(const Literal &l, const char *what, Attrs &a);
  bool setAttr(const ParamSpec &p, const Literal &l, Attrs &a);
};

std::string Lowerer::valueName(const std::string &var) {
  int n = nameCount_[var]++;
  std::string name = n == 0 ? var : fmt::format("{}.{}", var, n);
  while (nodeNames_.count(name)) name = fmt::format("{}.{}", var, nameCount_[var]++);
  return name;
}

// Adds a node to the graph and records its name (a set lookup per name instead of a scan of
// the graph keeps lowering linear in the number of statements).
ValueId Lowerer::addNode(Node n) {
  nodeNames_.insert(n.name);
  return g_.add(std::move(n));
}

// Reports a literal of the wrong kind; hints when it names a value given where a setting goes.
Diagnostic &Lowerer::literalError(const Literal &l, std::string message) {
  Diagnostic &e = d_.error(l.loc, std::move(message));
  if (!callee_ || l.kind != Literal::Ident || !scope_.count(l.s)) return e;
  std::vector<ParamSpec> values = valueParams(*callee_);
  e.notes.push_back(fmt::format("hint: '{}' is a value (an input or a layer), but {} takes {} "
                                "value argument{}: {}",
                                clip(l.s, kMaxQuoted), callee_->op, values.size(),
                                values.size() == 1 ? "" : "s", paramList(values, false)));
  return e;
}

bool Lowerer::getInt(const Literal &l, const char *what, int64_t &out) {
  if (l.kind == Literal::Int) {
    out = l.i;
    return true;
  }
  literalError(l, fmt::format("expected an integer for '{}', found {}", what, describe(l)));
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
  Diagnostic &e = literalError(
      l, fmt::format("expected an integer or a pair (h, w) for '{}', found {}", what, describe(l)));
  if (l.kind == Literal::Tuple && l.elems.size() == 1 && l.elems[0].kind == Literal::Int)
    e.notes.push_back(fmt::format("hint: {} has one element; write {} or ({}, {})", printLiteral(l),
                                  l.elems[0].i, l.elems[0].i, l.elems[0].i));
  return false;
}

bool Lowerer::getBool(const Literal &l, const char *what, bool &out) {
  if (l.kind == Literal::Bool) {
    out = l.b;
    return true;
  }
  std::string hint;
  if (l.kind == Literal::Ident || l.kind == Literal::String)
    hint = didYouMean(l.s, {"true", "false"});
  literalError(l,
               fmt::format("expected true or false for '{}', found {}{}", what, describe(l), hint));
  return false;
}

bool Lowerer::getNumber(const Literal &l, const char *what, double &out) {
  if (l.kind == Literal::Int || l.kind == Literal::Float) {
    out = l.kind == Literal::Int ? double(l.i) : l.f;
    return true;
  }
  literalError(l, fmt::format("expected a number for '{}', found {}", what, describe(l)));
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
    literalError(l, fmt::format("unknown {} '{}'{} (expected one of: {})", p.name,
                                clip(l.s, kMaxQuoted), didYouMean(l.s, cands), choices));
    return false;
  }
  literalError(l,
               fmt::format("expected one of {} for '{}', found {}", choices, p.name, describe(l)));
  return false;
}

// A pair of sizes between 1 and `max` (an int stands for (int, int)).
bool Lowerer::getSize(const Literal &l, const char *what, int64_t max, int64_t &a, int64_t &b) {
  if (!getPair(l, what, a, b)) return false;
  if (a > 0 && b > 0 && a <= max && b <= max) return true;
  d_.error(l.loc, fmt::format("'{}' must be between 1 and {}, found ({}, {})", what, max, a, b));
  return false;
}

// Margins as Keras takes them: n (all four), (rows, cols), or ((top, bottom), (left, right));
// each between 0 and 65536.
bool Lowerer::getMargins(const Literal &l, const char *what, Attrs &a) {
  auto isPair = [](const Literal &t) {
    return t.kind == Literal::Tuple && t.elems.size() == 2 && t.elems[0].kind == Literal::Int &&
           t.elems[1].kind == Literal::Int;
  };
  if (l.kind == Literal::Tuple && l.elems.size() == 2 && isPair(l.elems[0]) && isPair(l.elems[1])) {
    a.top = l.elems[0].elems[0].i, a.bottom = l.elems[0].elems[1].i;
    a.left = l.elems[1].elems[0].i, a.right = l.elems[1].elems[1].i;
  } else if (l.kind == Literal::Int || isPair(l)) {
    int64_t rows = 0, cols = 0;
    getPair(l, what, rows, cols);
    a.top = a.bottom = rows, a.left = a.right = cols;
  } else {
    literalError(l, fmt::format("expected an integer, (rows, cols) or ((top, bottom), (left, "
                                "right)) for '{}', found {}",
                                what, describe(l)));
    return false;
  }
  for (int64_t m : {a.top, a.bottom, a.left, a.right})
    if (m < 0 || m > 65536) {
      d_.error(l.loc, fmt::format("'{}' must be between 0 and 65536, found {}", what, m));
      return false;
    }
  return true;
}

bool Lowerer::getShape(const Literal &l, std::vector<int64_t> &out) {
  if (l.kind != Literal::Shape && l.kind != Literal::Tuple) {
    d_.error(l.loc,
             fmt::format("expected a shape like [7, 7, 4] for 'shape', found {}", describe(l)));
    return false;
  }
  bool ok = true;
  for (const Literal &x : l.elems) {
    int64_t v = 0;
    ok &= getInt(x, "shape", v);
    out.push_back(v);
  }
  return ok;
}

// Stores the argument `l` of parameter `p` in the Attrs field the op table names for it.
bool Lowerer::setAttr(const ParamSpec &p, const Literal &l, Attrs &a) {
  std::string word;
  switch (p.slot) {
  case AttrSlot::Operand:
    return true;
  case AttrSlot::Units:
    if (!getInt(l, p.name, a.units)) return false;
    if (a.units > 0 && a.units <= (int64_t(1) << 30)) return true;
    d_.error(l.loc, fmt::format("'{}' must be between 1 and 2^30, found {}", p.name, a.units));
    return false;
  case AttrSlot::Kernel:
  case AttrSlot::Size:
    return getSize(l, p.name, 65536, a.kh, a.kw);
  case AttrSlot::Pool:
    if (!getSize(l, p.name, 65536, a.kh, a.kw)) return false;
    a.sh = a.kh, a.sw = a.kw;
    return true;
  case AttrSlot::Strides:
    return getSize(l, p.name, 65536, a.sh, a.sw);
  case AttrSlot::Dilation:
    return getSize(l, p.name, 65536, a.dh, a.dw);
  case AttrSlot::Padding:
    if (!getEnum(l, p, word)) return false;
    a.padding = word == "same" ? Padding::Same : Padding::Valid;
    return true;
  case AttrSlot::Activation:
    if (!getEnum(l, p, word)) return false;
    a.activation = word == "linear" ? std::nullopt : opFromName(word);
    return true;
  case AttrSlot::Interpolation:
    if (!getEnum(l, p, word)) return false;
    a.interpolation = word == "bilinear" ? Interpolation::Bilinear : Interpolation::Nearest;
    return true;
  case AttrSlot::UseBias:
    return getBool(l, p.name, a.useBias);
  case AttrSlot::Axis:
    return getInt(l, p.name, a.axis);
  case AttrSlot::Shape:
    return getShape(l, a.shape);
  case AttrSlot::Offset:
    return getInt(l, p.name, a.offset);
  case AttrSlot::Lr:
    return getNumber(l, p.name, a.lr);
  case AttrSlot::Momentum:
    return getNumber(l, p.name, a.momentum);
  case AttrSlot::Nesterov:
    return getBool(l, p.name, a.nesterov);
  case AttrSlot::Beta1:
    return getNumber(l, p.name, a.beta1);
  case AttrSlot::Beta2:
    return getNumber(l, p.name, a.beta2);
  case AttrSlot::Epsilon:
    return getNumber(l, p.name, a.eps);
  case AttrSlot::Rho:
    return getNumber(l, p.name, a.rho);
  case AttrSlot::Alpha:
    return getNumber(l, p.name, a.alpha);
  case AttrSlot::Margins:
    return getMargins(l, p.name, a);
  }
  return false;
}

// Matches call arguments to the signature as Python binds them: positional arguments fill the
// parameters in order, then keywords (nnc's or Keras's spelling) fill theirs by name.
bool Lowerer::bind(const Stmt &s, const OpSig &sig, std::vector<Bound> &out) {
  out.assign(sig.params.size() + 1, Bound{}); // last slot: name=
  const size_t none = sig.params.size() + 1;
  bool ok = true;
  const Arg *lastKeyword = nullptr;
  size_t pos = 0;
  for (const Arg &a : s.args) {
    size_t slot = none;
    if (!a.key.empty()) {
      lastKeyword = &a;
      slot = keywordSlot(sig, a);
    } else if (lastKeyword) {
      d_.error(a.value.loc, fmt::format("positional argument follows keyword argument '{}'",
                                        clip(lastKeyword->key, kMaxQuoted)))
          .notes.push_back(fmt::format("hint: positional arguments come first, in the order: {}",
                                       paramList(sig.params, false)));
    } else if (pos < sig.params.size()) {
      slot = pos++;
    } else if (pos++ == sig.params.size()) {
      tooManyPositional(s, sig, a);
    }
    if (slot == none) {
      ok = false;
      continue;
    }
    SourceLoc loc = a.key.empty() ? a.value.loc : a.keyLoc;
    if (out[slot].lit) {
      const char *name = slot < sig.params.size() ? sig.params[slot].name : "name";
      d_.error(loc, givenTwice("argument", name, out[slot].key, a.key))
          .notes.push_back(firstGivenAt(out[slot].loc));
      ok = false;
      continue;
    }
    out[slot] = Bound{&a.value, loc, a.key};
  }
  ok &= checkValueArgs(sig, out);
  if (!ok) return false; // a missing argument is then most likely one of those in error
  for (size_t i = 0; i < sig.params.size(); ++i)
    if (!out[i].lit && sig.params[i].required) {
      d_.error(s.opLoc,
               fmt::format("{}: missing required argument '{}'", sig.op, sig.params[i].name));
      ok = false;
    }
  return ok;
}

// The slot of keyword argument `a` (the last slot for name=), or an error and params.size() + 1.
size_t Lowerer::keywordSlot(const OpSig &sig, const Arg &a) {
  if (a.key == "name") return sig.params.size();
  size_t i = findParam(sig.params, a.key);
  if (i < sig.params.size()) return i;
  std::vector<std::string> cands = spellingsOf(sig.params);
  cands.push_back("name");
  d_.error(a.keyLoc, fmt::format("{} has no argument '{}'{}", sig.op, clip(a.key, kMaxQuoted),
                                 didYouMean(a.key, cands)))
      .notes.push_back(fmt::format("{} takes: {}, name", sig.op, paramList(sig.params, true)));
  return sig.params.size() + 1;
}

// Reports the first positional argument beyond the signature, counting them as Python does.
void Lowerer::tooManyPositional(const Stmt &s, const OpSig &sig, const Arg &extra) {
  size_t given = 0;
  for (const Arg &a : s.args) {
    if (!a.key.empty()) break;
    ++given;
  }
  size_t n = sig.params.size();
  d_.error(extra.value.loc,
           fmt::format("{} takes at most {} positional argument{} but {} were given", sig.op, n,
                       n == 1 ? "" : "s", given))
      .notes.push_back(
          fmt::format("{}'s arguments in order: {}", sig.op, paramList(sig.params, false)));
}

// Reports literals given for value operands (`conv2d(16, 3)`); true if there are none.
bool Lowerer::checkValueArgs(const OpSig &sig, const std::vector<Bound> &b) {
  bool ok = true;
  std::vector<ParamSpec> values = valueParams(sig);
  for (size_t i = 0; i < sig.params.size(); ++i) {
    const Literal *l = b[i].lit;
    if (sig.params[i].type != ArgType::Value || !l || l->kind == Literal::Ident) continue;
    Diagnostic &e = d_.error(l->loc, fmt::format("expected a value (an input or an earlier layer) "
                                                 "for '{}', found {}",
                                                 sig.params[i].name, describe(*l)));
    if (b[i].key.empty())
      e.notes.push_back(fmt::format("hint: {} takes its value argument{} first: {}({}{})", sig.op,
                                    values.size() == 1 ? "" : "s", sig.op, paramList(values, false),
                                    values.size() < sig.params.size() ? ", ..." : ""));
    ok = false;
  }
  return ok;
}

// Looks up a name (bind has checked that value operands are names).
ValueId Lowerer::resolve(const Literal &l, bool &poisoned) {
  auto it = scope_.find(l.s);
  if (it == scope_.end()) {
    std::string hint; // searched only for an error that is shown: the scope may be large
    if (!d_.tooManyErrors()) {
      std::vector<std::string> cands;
      for (auto &[k, v] : scope_) cands.push_back(k);
      hint = didYouMean(l.s, cands);
    }
    d_.error(l.loc, fmt::format("use of undefined name '{}'{}", clip(l.s, kMaxQuoted), hint));
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
      d_.error(l.loc, fmt::format("layer name '{}' is {}", clip(l.s, kMaxQuoted),
                                  l.s.empty() ? "empty" : "already used"));
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
  ValueId id = addNode(std::move(p));
  g_.params.push_back(id);
  return id;
}

void Lowerer::input(const Stmt &s) {
  if (scope_.count(s.name)) {
    d_.error(s.nameLoc, fmt::format("input '{}' is already defined", clip(s.name, kMaxQuoted)));
    return;
  }
  TensorType t{true, {}};
  bool ok = true;
  int64_t total = 1;
  if (s.shape.kind != Literal::Shape) {
    d_.error(s.shape.loc, fmt::format("expected a shape like [28, 28, 1] for input '{}'",
                                      clip(s.name, kMaxQuoted)));
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
                                    clip(s.name, kMaxQuoted)));
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
  ValueId id = addNode(std::move(n));
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
    std::string keras = opForKerasName(s.op);
    std::string hint =
        keras.empty() ? didYouMean(s.op, cands) : fmt::format("; did you mean '{}'?", keras);
    auto &e =
        d_.error(s.opLoc, fmt::format("unknown operator '{}'{}", clip(s.op, kMaxQuoted), hint));
    if (sig)
      e.notes.push_back(
          fmt::format("'{}' is a loss; use it in a 'loss' statement", clip(s.op, kMaxQuoted)));
    return poison();
  }
  std::vector<Bound> b;
  if (!bind(s, *sig, b)) return poison();
  Node n;
  n.op = sig->kind;
  n.loc = s.opLoc;
  Attrs &a = n.attrs;
  bool ok = true, poisoned = false;
  std::vector<ValueId> operands;
  callee_ = sig;
  for (size_t i = 0; i < sig->params.size(); ++i) {
    const ParamSpec &p = sig->params[i];
    std::string name = p.name;
    if (p.type == ArgType::Value) {
      ValueId v = resolve(*b[i].lit, poisoned);
      if (v == kNoValue && !poisoned) ok = false;
      operands.push_back(v);
      continue;
    }
    if (!b[i].lit && p.def.kind == ArgDefault::PoolSize) continue; // strides = the window
    Literal def = defaultLiteral(p.def, s.opLoc);
    ok &= setAttr(p, b[i].lit ? *b[i].lit : def, a);
  }
  callee_ = nullptr;
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
  if (hasProp(n.op, Weights)) {
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
  ValueId id = addNode(std::move(n));
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
    d_.error(s.opLoc, fmt::format("unknown loss '{}'{}", clip(s.op, kMaxQuoted),
                                  didYouMean(s.op, {"binary_crossentropy", "mse",
                                                    "categorical_crossentropy"})))
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
  g_.loss = addNode(std::move(n));
}

// The setting key `a` names (spelled as in nnc or as in Keras), or an error and nullptr.
const ParamSpec *Lowerer::trainSetting(const Arg &a) {
  const std::vector<ParamSpec> &keys = trainSettings();
  size_t i = findParam(keys, a.key);
  if (i < keys.size()) return &keys[i];
  d_.error(a.keyLoc, fmt::format("unknown train setting '{}'{}", clip(a.key, kMaxQuoted),
                                 didYouMean(a.key, spellingsOf(keys))))
      .notes.push_back("train settings are: " + paramList(keys, true));
  return nullptr;
}

void Lowerer::train(const Stmt &s) {
  if (sawTrain_) {
    d_.error(s.loc, "'train' may appear only once");
    return;
  }
  sawTrain_ = true;
  TrainConfig &t = g_.train;
  t.loc = s.loc;
  std::map<std::string, const Arg *> seen; // setting name -> where it was first given
  for (const Arg &a : s.args) {
    if (a.key.empty()) {
      d_.error(a.value.loc, "train settings are written key=value (for example epochs=50)");
      continue;
    }
    const ParamSpec *p = trainSetting(a);
    if (!p) continue;
    std::string key = p->name;
    if (auto [it, fresh] = seen.emplace(key, &a); !fresh) {
      d_.error(a.keyLoc, givenTwice("train setting", key, it->second->key, a.key))
          .notes.push_back(firstGivenAt(it->second->keyLoc));
      continue;
    }
    const Literal &l = a.value;
    if (key == "optimizer") {
      std::string e;
      if (getEnum(l, *p, e)) t.optimizer = e;
    } else if (key == "lr") {
      double v = 0;
      if (getNumber(l, "lr", v)) {
        if (!(v > 0) || v > 1e6)
          d_.error(l.loc, fmt::format("lr must be positive and at most 1e6, found {}", v));
        else
          t.lr = v;
      }
    } else if (key == "epochs" || key == "batch") {
      int64_t v = 0;
      if (getInt(l, p->name, v)) {
        if (v <= 0 || v > 1000000)
          d_.error(l.loc, fmt::format("{} must be between 1 and 1000000, found {}", key, v));
        else
          (key == "epochs" ? t.epochs : t.batch) = v;
      }
    } else if (key == "shuffle") {
      getBool(l, "shuffle", t.shuffle);
    } else if (key == "metrics") {
      std::string e;
      if (getEnum(l, *p, e)) t.metrics = {e};
    } else if (key == "seed") {
      int64_t v = 0;
      if (getInt(l, "seed", v)) {
        if (v < 0)
          d_.error(l.loc, fmt::format("seed must not be negative, found {}", v));
        else
          t.seed = uint64_t(v);
      }
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
  const OpInfo &row = opInfo(op);
  return *row.kerasClass ? row.kerasClass : row.name;
}

std::optional<Graph> lowerModule(const Module &m, DiagEngine &diags) {
  return Lowerer(m, diags).run();
}

} // namespace nnc
