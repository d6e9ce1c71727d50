// The tensor graph IR: a topologically ordered list of nodes, each producing one f32 tensor
// value whose type has an optional symbolic leading batch dimension N. Parameters, inputs
// and optimizer state are leaf nodes. Passes annotate nodes (shapes, stats, kernels).
#pragma once

#include "frontend/Diagnostics.h"
#include "support/Result.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nnc {

enum class OpKind : uint8_t {
#define OP(ID, NAME, CLASS, KERAS, BASE, PROPS) ID,
#include "ir/Ops.def"
};

enum class OpClass : uint8_t { Leaf, Forward, Loss, Grad, Update };

/// What passes ask about an op (the PROPS column of ir/Ops.def).
enum OpProp : unsigned {
  Elementwise = 1 << 0,    // output element i reads element i of each operand
  Inlinable = 1 << 1,      // cheap enough to recompute in each consumer's loop
  Window = 1 << 2,         // reads a kh x kw window of its operand (receptive field grows)
  BatchReduction = 1 << 3, // sums over the batch (weight gradients, losses)
  SameField = 1 << 4,      // keeps its operand's receptive field and jump
  Kink = 1 << 5,           // not differentiable everywhere: the interpreter records crossings
  Weights = 1 << 6,        // takes a kernel (and bias) parameter as extra operands
  Epilogue = 1 << 7,       // its loop writes each output once: fused elementwise ops may follow
  ActivationFn = 1 << 8,   // may be given as a layer's activation= (decompose makes it a node)
};

/// The op's spelling in dumps and in the language ("conv2d").
const char *opName(OpKind op);
/// The op's class from the op table.
OpClass opClass(OpKind op);
/// True if the op table gives `op` the property `prop`.
bool hasProp(OpKind op, OpProp prop);
/// Looks up a spec operator or loss by its spelling.
std::optional<OpKind> opFromName(const std::string &name);

/// Largest element count of one tensor (per example) that nnc accepts: 2^40.
constexpr int64_t kMaxElements = int64_t(1) << 40;

/// An f32 tensor type: `batched` adds a leading symbolic dimension N before `dims`.
struct TensorType {
  bool batched = false;
  std::vector<int64_t> dims; // per-example dims (N excluded)

  /// Rank including N.
  int rank() const { return int(dims.size()) + (batched ? 1 : 0); }
  /// Elements per example (product of dims; 1 for a scalar).
  int64_t elements() const;
  /// "f32[N,28,28,1]", or with n >= 0 the batch printed as n.
  std::string str(int64_t n = -1) const;
  /// Keras style "(None, 28, 28, 1)", or with n >= 0 "(n, 28, 28, 1)".
  std::string kerasStr(int64_t n = -1) const;
  bool operator==(const TensorType &o) const = default;
};

enum class Padding : uint8_t { Valid, Same };
enum class Interpolation : uint8_t { Nearest, Bilinear };
enum class Init : uint8_t { Zeros, Ones, GlorotUniform };
/// Which part of a training graph a node belongs to.
enum class Role : uint8_t { Forward, Backward, Update };

const char *paddingName(Padding p);
const char *interpolationName(Interpolation i);
const char *initName(Init i);
const char *roleName(Role r);

/// Op attributes; each op reads the fields its shape rule documents.
struct Attrs {
  int64_t units = 0;      // dense units, conv filters
  int64_t kh = 1, kw = 1; // kernel, pool window, or upsample size
  int64_t sh = 1, sw = 1; // strides
  int64_t dh = 1, dw = 1; // dilation
  Padding padding = Padding::Valid;
  bool useBias = true;
  std::optional<OpKind> activation; // activation=: an ActivationFn op; none is linear
  Interpolation interpolation = Interpolation::Nearest;
  double alpha = 0;                                 // leaky_relu slope, elu scale
  int64_t top = 0, bottom = 0, left = 0, right = 0; // zero_padding2d / cropping2d margins
  int64_t axis = -1;          // squeeze/concat/slice: axis into the per-example dims
  int64_t offset = 0;         // slice: first index along axis
  std::vector<int64_t> shape; // reshape: target as written (one -1 allowed)
  // Leaves.
  Init init = Init::Zeros;
  int64_t fanIn = 0, fanOut = 0;
  // Optimizer hyperparameters (Update ops).
  double lr = 0, rho = 0, beta1 = 0, beta2 = 0, eps = 0, momentum = 0;
  bool nesterov = false;
  bool operator==(const Attrs &o) const = default;
};

using ValueId = int32_t;
constexpr ValueId kNoValue = -1;

/// Per-layer analysis results (filled by the analysis passes).
struct Stats {
  int64_t params = 0;          // trainable parameter count of this layer
  int64_t macs = 0;            // multiply-accumulates per example
  int64_t activationBytes = 0; // bytes of this value per example
  bool spatial = false;        // receptive-field fields are meaningful
  double rfH = 1, rfW = 1;     // receptive field size on the input, in input pixels
  double jumpH = 1, jumpW = 1; // distance on the input between adjacent outputs
};

/// One node = one value.
struct Node {
  OpKind op = OpKind::Input;
  std::vector<ValueId> inputs;
  Attrs attrs;
  TensorType type;
  std::string name;  // unique value name in dumps: "h", "h.1", "conv2d.kernel", "d.h.1"
  std::string layer; // Keras-style layer name ("conv2d_1"); params share their layer's
  SourceLoc loc;
  Role role = Role::Forward;
  bool trainable = false;    // Param only
  bool keep = false;         // forward value kept for the backward pass (set by autodiff)
  ValueId gradOf = kNoValue; // Backward nodes: the value whose gradient this is (or part of)
  int kernel = -1;           // fusion group (set by fuse)
  bool inlined = false;      // fuse: recomputed inside each consumer kernel, never stored
  Stats stats;
};

/// Training defaults from the `train` statement (command-line flags override them).
struct TrainConfig {
  std::string optimizer = "adam";
  std::optional<double> lr; // optimizer default when unset
  int64_t epochs = 1;
  int64_t batch = 32;
  bool shuffle = true;
  uint64_t seed = 0;
  std::vector<std::string> metrics; // reported each epoch ("accuracy")
  SourceLoc loc;
};

/// A model or training graph.
struct Graph {
  std::string name; // model name
  std::string file; // source file for messages
  std::vector<Node> nodes;
  std::vector<ValueId> inputs;  // Input nodes, in declaration order
  std::vector<ValueId> params;  // Param nodes, in creation order
  std::vector<ValueId> outputs; // declared outputs
  ValueId loss = kNoValue;      // the loss node, if any
  TrainConfig train;
  // Training graphs (set by autodiff).
  std::map<ValueId, ValueId> grads; // param -> gradient value
  std::vector<ValueId> states;      // optimizer state leaves
  std::vector<ValueId> updates;     // update nodes

  /// Appends a node and returns its id.
  ValueId add(Node n);
  Node &operator[](ValueId v) { return nodes[size_t(v)]; }
  const Node &operator[](ValueId v) const { return nodes[size_t(v)]; }
  size_t size() const { return nodes.size(); }
  /// Finds a node by value name.
  ValueId find(const std::string &name) const;
  /// Users of each value (index = ValueId).
  std::vector<std::vector<ValueId>> users() const;
  /// Total trainable parameter count.
  int64_t paramCount() const;
};

/// Prints the graph in the documented text format (docs/ir.md).
std::string printGraph(const Graph &g, int64_t batch = -1);

} // namespace nnc
