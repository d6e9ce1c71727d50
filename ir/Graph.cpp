// Graph basics: type printing, enum names and graph queries.
#include "ir/Graph.h"

#include <fmt/format.h>

namespace nnc {

int64_t TensorType::elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string TensorType::str(int64_t n) const {
  std::string s = "f32[";
  bool first = true;
  if (batched) {
    s += n >= 0 ? std::to_string(n) : "N";
    first = false;
  }
  for (int64_t d : dims) {
    if (!first) s += ",";
    s += std::to_string(d);
    first = false;
  }
  return s + "]";
}

std::string TensorType::kerasStr(int64_t n) const {
  std::string s = "(";
  bool first = true;
  if (batched) {
    s += n >= 0 ? std::to_string(n) : "None";
    first = false;
  }
  for (int64_t d : dims) {
    if (!first) s += ", ";
    s += std::to_string(d);
    first = false;
  }
  if (rank() == 1) s += ",";
  return s + ")";
}

const char *paddingName(Padding p) {
  return p == Padding::Same ? "same" : "valid";
}
const char *interpolationName(Interpolation i) {
  return i == Interpolation::Bilinear ? "bilinear" : "nearest";
}
const char *initName(Init i) {
  switch (i) {
  case Init::Zeros:
    return "zeros";
  case Init::Ones:
    return "ones";
  case Init::GlorotUniform:
    return "glorot_uniform";
  }
  return "?";
}
const char *roleName(Role r) {
  switch (r) {
  case Role::Forward:
    return "forward";
  case Role::Backward:
    return "backward";
  case Role::Update:
    return "update";
  }
  return "?";
}

ValueId Graph::add(Node n) {
  nodes.push_back(std::move(n));
  return ValueId(nodes.size() - 1);
}

ValueId Graph::find(const std::string &name) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == name) return ValueId(i);
  return kNoValue;
}

std::vector<std::vector<ValueId>> Graph::users() const {
  std::vector<std::vector<ValueId>> u(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    for (ValueId v : nodes[i].inputs)
      if (v >= 0 && size_t(v) < nodes.size()) u[size_t(v)].push_back(ValueId(i));
  return u;
}

int64_t Graph::paramCount() const {
  int64_t total = 0;
  for (ValueId p : params)
    if (nodes[size_t(p)].trainable) total += nodes[size_t(p)].type.elements();
  return total;
}

} // namespace nnc
