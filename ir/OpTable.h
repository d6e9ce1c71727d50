// The op table of ir/Ops.def as data: each op's names, class, properties and, for the ops of
// the language, its arguments in call order with their types, typed defaults, Keras aliases
// and the Attrs field (slot) each one sets.
#pragma once

#include "ir/Graph.h"

#include <cstdint>
#include <vector>

namespace nnc {

/// What a call argument accepts.
enum class ArgType : uint8_t {
  Value,
  Int,
  IntPair,
  Margins, // an int, (rows, cols) or ((top, bottom), (left, right))
  Bool,
  Enum,
  Number,
  ShapeList,
};

/// The Attrs field an argument sets (Operand: a value, not an attribute).
enum class AttrSlot : uint8_t {
  Operand,
  Units,
  Kernel,
  Pool,
  Size,
  Strides,
  Dilation,
  Padding,
  Activation,
  Interpolation,
  UseBias,
  Axis,
  Shape,
  Offset,
  Lr,
  Momentum,
  Nesterov,
  Beta1,
  Beta2,
  Epsilon,
  Rho,
  Alpha,
  Margins,
};

/// A typed default value; Required marks an argument that must be given, PoolSize the
/// pooling strides that default to the window.
struct ArgDefault {
  enum Kind : uint8_t { Required, Int, Pair, Float, Bool, Word, PoolSize } kind = Required;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  const char *word = nullptr;
};

/// One argument of an op's signature.
struct ArgSpec {
  const char *name;
  ArgType type;
  ArgDefault def;
  const char *alias; // Keras's spelling where it differs (kernel_size for kernel), or nullptr
  AttrSlot slot;
};

/// One row of the op table.
struct OpInfo {
  OpKind op;
  const char *name;
  OpClass cls;
  const char *kerasClass; // "Conv2D"; "Loss" for losses, "" for grad and update ops
  const char *layerBase;  // Keras's default layer name ("conv2d", "max_pooling2d")
  unsigned props;         // OpProp bits
  std::vector<ArgSpec> args;

  /// True if a .nn file can call the op (a layer or loss with a signature).
  bool inLanguage() const {
    return (cls == OpClass::Forward || cls == OpClass::Loss) && !args.empty();
  }
};

/// Every op, indexed by OpKind.
const std::vector<OpInfo> &opTable();
/// The row of `op`.
const OpInfo &opInfo(OpKind op);
/// The attributes of `op` with every argument at its default (decompose's activation nodes).
Attrs defaultAttrs(OpKind op);
/// The words an Enum slot accepts ("valid", "same" for Padding); empty for other slots.
std::vector<const char *> slotChoices(AttrSlot slot);

} // namespace nnc
