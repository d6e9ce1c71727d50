// Kernel code generation framework. For each kernel the emitter builds an exported wrapper
// that turns the arena pointers into one pointer per buffer and calls an always-inlined body
// whose buffer parameters are `noalias` (plan-memory guarantees that buffers live at the same
// time never overlap), so LLVM can keep accumulators in registers and vectorize the innermost
// loops. The body runs the root's loop nest (EmitOps.cpp); at each output element the
// epilogue computes the fused elementwise members, accumulates fused losses, and stores the
// values other kernels read. Arithmetic uses reassociation-allowing fast-math flags (no
// no-NaN assumptions, so numerics checks still see NaNs). Kernels whose bodies come out
// identical (a deep chain's equal layers, same-shaped parameters' updates) share the first
// one's body: found by structural hash, confirmed by LLVM's FunctionComparator, kept
// noinline so that LLVM optimizes and compiles it once however many kernels call it.
#include "codegen/Emitter.h"

#include <fmt/format.h>

#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/StructuralHash.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/FunctionComparator.h>

#include <map>
#include <set>
#include <unordered_map>

namespace nnc {

using llvm::Value;

namespace {

std::string sanitize(const std::string &s) {
  std::string r;
  for (char c : s) r += (std::isalnum((unsigned char)c) || c == '_') ? c : '_';
  return r;
}

} // namespace

KernelEmitter::KernelEmitter(const Graph &g, const KernelPlan &plan, const KernelGroup &k,
                             llvm::Module &m, KernelInfo &info)
    : g(g), plan(plan), k(k), stored(plan.stored), m(m), info(info), ctx(m.getContext()),
      b(m.getContext()) {}

Value *KernelEmitter::f32(double v) {
  return llvm::ConstantFP::get(floatTy(), v);
}

llvm::Type *KernelEmitter::floatTy() {
  return lanes_ > 1 ? static_cast<llvm::Type *>(
                          llvm::FixedVectorType::get(b.getFloatTy(), unsigned(lanes_)))
                    : b.getFloatTy();
}

Value *KernelEmitter::loadF(Value *ptr) {
  return b.CreateAlignedLoad(floatTy(), ptr, llvm::Align(4));
}

bool KernelEmitter::isMember(ValueId v) const {
  return std::find(k.members.begin(), k.members.end(), v) != k.members.end();
}

void KernelEmitter::loop(Value *lo, Value *hi, const Body &body, bool rolled) {
  llvm::BasicBlock *pre = b.GetInsertBlock();
  llvm::BasicBlock *head = llvm::BasicBlock::Create(ctx, "loop", fn);
  llvm::BasicBlock *bodyBB = llvm::BasicBlock::Create(ctx, "body", fn);
  llvm::BasicBlock *exit = llvm::BasicBlock::Create(ctx, "exit", fn);
  b.CreateBr(head);
  b.SetInsertPoint(head);
  llvm::PHINode *i = b.CreatePHI(b.getInt64Ty(), 2, "i");
  i->addIncoming(lo, pre);
  if (nonNegative(lo)) nonNegativeCounters_.insert(i);
  b.CreateCondBr(b.CreateICmpSLT(i, hi), bodyBB, exit);
  b.SetInsertPoint(bodyBB);
  int before = loopsCreated_++;
  body(i);
  i->addIncoming(add(i, i64(1)), b.GetInsertBlock());
  llvm::BranchInst *latch = b.CreateBr(head);
  if (rolled || loopsCreated_ > before + 1) {
    // An outer loop: keep it rolled (unrolling it multiplies code size and compile time for
    // little gain); innermost loops stay free for the vectorizer and full unrolling unless
    // the caller asked for them rolled.
    std::vector<llvm::Metadata *> ops{nullptr};
    ops.push_back(llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.unroll.disable")}));
    if (rolled)
      ops.push_back(llvm::MDNode::get(
          ctx, {llvm::MDString::get(ctx, "llvm.loop.vectorize.enable"),
                llvm::ConstantAsMetadata::get(llvm::ConstantInt::getFalse(ctx))}));
    llvm::TempMDNode tmp = llvm::MDNode::getTemporary(ctx, {});
    ops[0] = tmp.get();
    llvm::MDNode *id = llvm::MDNode::get(ctx, ops);
    id->replaceOperandWith(0, id);
    latch->setMetadata(llvm::LLVMContext::MD_loop, id);
  }
  b.SetInsertPoint(exit);
}

bool KernelEmitter::nonNegative(Value *v) const {
  if (auto *c = llvm::dyn_cast<llvm::ConstantInt>(v)) return !c->isNegative();
  if (v == nArg || v == nBegin || v == nEnd || nonNegativeCounters_.count(v)) return true;
  if (auto *s = llvm::dyn_cast<llvm::SelectInst>(v))
    return (nonNegative(s->getTrueValue()) || inRangeOf(s->getCondition()) == s->getTrueValue()) &&
           nonNegative(s->getFalseValue());
  if (guardedNonNegative_.count(v)) return true;
  auto *o = llvm::dyn_cast<llvm::OverflowingBinaryOperator>(v);
  return o &&
         (o->getOpcode() == llvm::Instruction::Add || o->getOpcode() == llvm::Instruction::Mul) &&
         o->hasNoUnsignedWrap() && o->hasNoSignedWrap();
}

void KernelEmitter::ifThen(Value *cond, const std::function<void()> &then) {
  llvm::BasicBlock *yes = llvm::BasicBlock::Create(ctx, "then", fn);
  llvm::BasicBlock *done = llvm::BasicBlock::Create(ctx, "endif", fn);
  b.CreateCondBr(cond, yes, done);
  b.SetInsertPoint(yes);
  // Inside `if (0 <= v < hi)`, index arithmetic on v may carry nuw.
  Value *v = inRangeOf(cond);
  bool fresh = v && guardedNonNegative_.insert(v).second;
  then();
  if (fresh) guardedNonNegative_.erase(v);
  b.CreateBr(done);
  b.SetInsertPoint(done);
}

Value *KernelEmitter::stackSlot(llvm::Type *t, const char *name) {
  llvm::IRBuilder<> eb(entry, entry->begin());
  return eb.CreateAlloca(t, nullptr, name);
}

Value *KernelEmitter::at(Value *base, Value *idx) {
  return b.CreateInBoundsGEP(b.getFloatTy(), base, idx);
}

Value *KernelEmitter::inRangeOf(Value *cond) {
  auto *c = llvm::dyn_cast<llvm::ICmpInst>(cond);
  auto *hi = c ? llvm::dyn_cast<llvm::ConstantInt>(c->getOperand(1)) : nullptr;
  if (!c || c->getPredicate() != llvm::ICmpInst::ICMP_ULT || !hi || hi->isNegative())
    return nullptr;
  return c->getOperand(0);
}

Value *KernelEmitter::inRange(Value *v, int64_t hi) {
  // One unsigned compare covers both 0 <= v and v < hi.
  return b.CreateICmpULT(v, i64(hi));
}

Value *KernelEmitter::call(llvm::Intrinsic::ID id, Value *x) {
  llvm::Function *f = llvm::Intrinsic::getDeclaration(&m, id, {x->getType()});
  return b.CreateCall(f, {x});
}

Value *KernelEmitter::addr(ValueId v, Value *n, Value *idx) {
  ValueId bv = opClass(g[v].op) == OpClass::Update ? g[v].inputs[0] : v;
  Value *base = bufs.at(bv);
  Value *i = idx;
  if (g[v].type.batched) i = add(mulC(n, g[v].type.elements()), idx);
  return b.CreateInBoundsGEP(b.getFloatTy(), base, i);
}

Value *KernelEmitter::load(ValueId v, Value *n, Value *idx) {
  return get(v, n, idx, {});
}

Value *KernelEmitter::get(ValueId v, Value *n, Value *idx, const Vals &vals) {
  auto it = vals.find(v);
  if (it != vals.end()) return it->second;
  // Inlined values see this iteration's values too (their operands may be fused members).
  if (g[v].inlined) return elementwise(v, n, idx, vals);
  return loadF(addr(v, n, idx));
}

void KernelEmitter::store(ValueId v, Value *n, Value *idx, Value *x) {
  b.CreateAlignedStore(x, addr(v, n, idx), llvm::Align(4));
}

Value *KernelEmitter::partial(ValueId v) {
  return at(partialArg, i64(partialOffsets.at(v)));
}

void KernelEmitter::forBatch(const Body &body) {
  if (k.batched)
    loop(nBegin, nEnd, body);
  else
    body(i64(0));
}

bool KernelEmitter::rowEpilogue() const {
  for (ValueId mbr : k.members)
    if (opClass(g[mbr].op) == OpClass::Loss) return false;
  return true;
}

void KernelEmitter::epilogueRow(Value *n, Value *idx, int64_t lanes, Value *row) {
  lanes_ = lanes;
  epilogue(n, idx, row);
  lanes_ = 1;
}

void KernelEmitter::epilogue(Value *n, Value *idx, Value *rootValue) {
  Vals vals;
  if (rootValue) vals[k.root] = rootValue;
  for (ValueId mbr : k.members) {
    if (vals.count(mbr)) continue;
    const Node &nd = g[mbr];
    if (opClass(nd.op) == OpClass::Loss) {
      Value *p = get(nd.inputs[0], n, idx, vals), *t = get(nd.inputs[1], n, idx, vals);
      Value *term = nullptr;
      if (nd.op == OpKind::MSE) {
        Value *d = b.CreateFSub(p, t);
        term = b.CreateFMul(d, d);
      } else if (nd.op == OpKind::BinaryCrossentropy) {
        Value *q = b.CreateSelect(b.CreateFCmpOLT(p, f32(1e-7)), f32(1e-7), p);
        q = b.CreateSelect(b.CreateFCmpOGT(q, f32(1 - 1e-7)), f32(1 - 1e-7), q);
        Value *l =
            b.CreateFAdd(b.CreateFMul(t, logf(q)),
                         b.CreateFMul(b.CreateFSub(f32(1), t), logf(b.CreateFSub(f32(1), q))));
        term = b.CreateFNeg(l);
      } else {
        // max(z, 0) - z t + log(1 + exp(-|z|))
        Value *relu = b.CreateSelect(b.CreateFCmpOGT(p, f32(0)), p, f32(0));
        Value *soft =
            logf(b.CreateFAdd(f32(1), expf(b.CreateFNeg(call(llvm::Intrinsic::fabs, p)))));
        term = b.CreateFAdd(b.CreateFSub(relu, b.CreateFMul(p, t)), soft);
      }
      Value *acc = lossAcc.at(mbr);
      Value *sum =
          b.CreateFAdd(b.CreateLoad(b.getDoubleTy(), acc), b.CreateFPExt(term, b.getDoubleTy()));
      b.CreateStore(sum, acc);
      continue;
    }
    vals[mbr] = elementwise(mbr, n, idx, vals);
  }
  for (auto [v, x] : vals)
    if (stored[size_t(v)] && isMember(v)) store(v, n, idx, x);
}

void KernelEmitter::emitUpdates() {
  for (ValueId u : k.members) {
    const Node &nd = g[u];
    const Attrs &a = nd.attrs;
    int64_t count = nd.type.elements();
    Value *zero = i64(0);
    Value *alpha = nullptr;
    if (nd.op == OpKind::AdamUpdate) {
      llvm::Type *d = b.getDoubleTy();
      Value *t = b.CreateFAdd(b.CreateFPExt(loadF(addr(nd.inputs[4], zero, zero)), d),
                              llvm::ConstantFP::get(d, 1.0));
      llvm::Function *pow = llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::pow, {d});
      Value *b1t = b.CreateCall(pow, {llvm::ConstantFP::get(d, a.beta1), t});
      Value *b2t = b.CreateCall(pow, {llvm::ConstantFP::get(d, a.beta2), t});
      Value *one = llvm::ConstantFP::get(d, 1.0);
      llvm::Function *sqrt = llvm::Intrinsic::getDeclaration(&m, llvm::Intrinsic::sqrt, {d});
      alpha = b.CreateFDiv(b.CreateFMul(llvm::ConstantFP::get(d, a.lr),
                                        b.CreateCall(sqrt, {b.CreateFSub(one, b2t)})),
                           b.CreateFSub(one, b1t));
      alpha = b.CreateFPTrunc(alpha, b.getFloatTy());
    }
    auto update = [&](Value *i) {
      Value *pp = addr(nd.inputs[0], zero, i);
      Value *p = loadF(pp), *gr = load(nd.inputs[1], zero, i);
      auto st = [&](size_t s) { return addr(nd.inputs[2 + s], zero, i); };
      auto sqrt = [&](Value *x) { return call(llvm::Intrinsic::sqrt, x); };
      switch (nd.op) {
      case OpKind::SGDUpdate:
        if (nd.inputs.size() == 2) {
          b.CreateStore(b.CreateFSub(p, b.CreateFMul(f32(a.lr), gr)), pp);
        } else {
          Value *mp = st(0);
          Value *mv =
              b.CreateFSub(b.CreateFMul(f32(a.momentum), loadF(mp)), b.CreateFMul(f32(a.lr), gr));
          b.CreateStore(mv, mp);
          Value *step = a.nesterov ? b.CreateFSub(b.CreateFMul(f32(a.momentum), mv),
                                                  b.CreateFMul(f32(a.lr), gr))
                                   : mv;
          b.CreateStore(b.CreateFAdd(p, step), pp);
        }
        break;
      case OpKind::AdamUpdate: {
        Value *mp = st(0), *vp = st(1);
        Value *mv = loadF(mp), *vv = loadF(vp);
        mv = b.CreateFAdd(mv, b.CreateFMul(b.CreateFSub(gr, mv), f32(1 - a.beta1)));
        vv = b.CreateFAdd(vv,
                          b.CreateFMul(b.CreateFSub(b.CreateFMul(gr, gr), vv), f32(1 - a.beta2)));
        b.CreateStore(mv, mp);
        b.CreateStore(vv, vp);
        Value *step = b.CreateFDiv(b.CreateFMul(alpha, mv), b.CreateFAdd(sqrt(vv), f32(a.eps)));
        b.CreateStore(b.CreateFSub(p, step), pp);
        break;
      }
      case OpKind::AdadeltaUpdate: {
        Value *ap = st(0), *dp = st(1);
        Value *A = b.CreateFAdd(b.CreateFMul(f32(a.rho), loadF(ap)),
                                b.CreateFMul(f32(1 - a.rho), b.CreateFMul(gr, gr)));
        b.CreateStore(A, ap);
        Value *D = loadF(dp);
        Value *d = b.CreateFNeg(b.CreateFDiv(b.CreateFMul(sqrt(b.CreateFAdd(D, f32(a.eps))), gr),
                                             sqrt(b.CreateFAdd(A, f32(a.eps)))));
        b.CreateStore(b.CreateFAdd(b.CreateFMul(f32(a.rho), D),
                                   b.CreateFMul(f32(1 - a.rho), b.CreateFMul(d, d))),
                      dp);
        b.CreateStore(b.CreateFAdd(p, b.CreateFMul(f32(a.lr), d)), pp);
        break;
      }
      case OpKind::RMSpropUpdate: {
        Value *vp = st(0);
        Value *v = b.CreateFAdd(b.CreateFMul(f32(a.rho), loadF(vp)),
                                b.CreateFMul(f32(1 - a.rho), b.CreateFMul(gr, gr)));
        b.CreateStore(v, vp);
        b.CreateStore(b.CreateFSub(p, b.CreateFDiv(b.CreateFMul(f32(a.lr), gr),
                                                   sqrt(b.CreateFAdd(v, f32(a.eps))))),
                      pp);
        break;
      }
#define LEAF_OP(ID, ...) case OpKind::ID:
#define FORWARD_OP(ID, ...) case OpKind::ID:
#define LOSS_OP(ID, ...) case OpKind::ID:
#define GRAD_OP(ID, ...) case OpKind::ID:
#include "ir/Ops.def"
        noRule(nd.op, "optimizer update rule");
        break;
      }
    };
    // Rolled: the parameters are few (thousands), and compile time matters more here.
    loop(0, count, update, true);
  }
}

Status KernelEmitter::emit() {
  // Buffers: every stored value a member writes or a member (or inlined node) reads.
  std::set<ValueId> touched;
  auto canon = [&](ValueId v) { return opClass(g[v].op) == OpClass::Update ? g[v].inputs[0] : v; };
  std::function<void(ValueId)> reads = [&](ValueId v) {
    for (ValueId o : g[v].inputs) {
      if (g[o].inlined)
        reads(o);
      else if (stored[size_t(o)] && !isMember(o))
        touched.insert(canon(o));
    }
  };
  for (const BatchSum &r : k.reductions) partialOffsets[r.value] = r.partialOffset;
  for (ValueId mbr : k.members) {
    reads(mbr);
    if (!k.sumsOverBatch(mbr) && stored[size_t(mbr)]) touched.insert(canon(mbr));
    for (ValueId o : g[mbr].inputs)
      if (isMember(o) && stored[size_t(o)]) touched.insert(canon(o));
  }
  for (ValueId v : touched)
    if (plan.offsets[size_t(v)] < 0)
      return Error{fmt::format("codegen: value '{}' has no buffer in the plan", g[v].name)};

  llvm::Type *ptr = b.getPtrTy(), *i64t = b.getInt64Ty();
  std::vector<llvm::Type *> params(touched.size() + 1, ptr);
  params.insert(params.end(), {i64t, i64t, i64t});
  auto *bodyTy = llvm::FunctionType::get(b.getVoidTy(), params, false);
  fn = llvm::Function::Create(bodyTy, llvm::Function::InternalLinkage, info.name + ".body", m);
  fn->addFnAttr(llvm::Attribute::AlwaysInline);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  for (unsigned i = 0; i <= touched.size(); ++i) fn->addParamAttr(i, llvm::Attribute::NoAlias);
  unsigned ai = 0;
  for (ValueId v : touched) {
    fn->getArg(ai)->setName("p." + sanitize(g[v].name));
    bufs[v] = fn->getArg(ai++);
  }
  partialArg = fn->getArg(ai++);
  partialArg->setName("partial");
  nArg = fn->getArg(ai++);
  nArg->setName("n");
  nBegin = fn->getArg(ai++);
  nBegin->setName("nbegin");
  nEnd = fn->getArg(ai++);
  nEnd->setName("nend");

  llvm::FastMathFlags fmf;
  fmf.setAllowReassoc();
  fmf.setAllowContract();
  fmf.setNoSignedZeros();
  b.setFastMathFlags(fmf);

  entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  llvm::BasicBlock *start = llvm::BasicBlock::Create(ctx, "start", fn);
  b.SetInsertPoint(start);
  if (k.partialFloats > 0)
    loop(0, k.partialFloats, [&](Value *i) { b.CreateStore(f32(0), at(partialArg, i)); });
  for (ValueId mbr : k.members)
    if (opClass(g[mbr].op) == OpClass::Loss) {
      llvm::IRBuilder<> eb(entry, entry->begin());
      Value *acc = eb.CreateAlloca(b.getDoubleTy(), nullptr, "loss");
      b.CreateStore(llvm::ConstantFP::get(b.getDoubleTy(), 0.0), acc);
      lossAcc[mbr] = acc;
    }
  if (Status s = emitRoot(); !s) return s;
  if (!missingRule_.empty()) return Error{missingRule_};
  for (auto [mbr, acc] : lossAcc) {
    // Means over every element; categorical losses average over rows (the last axis is summed).
    const TensorType &t = g[g[mbr].inputs[0]].type;
    bool rows = g[mbr].op == OpKind::CategoricalCrossentropy ||
                g[mbr].op == OpKind::CategoricalCrossentropyLogits;
    double per = double(t.elements()) / (rows ? double(t.dims.back()) : 1.0);
    Value *count = llvm::ConstantFP::get(b.getDoubleTy(), per);
    if (t.batched) count = b.CreateFMul(count, b.CreateSIToFP(nArg, b.getDoubleTy()));
    Value *mean = b.CreateFDiv(b.CreateLoad(b.getDoubleTy(), acc), count);
    b.CreateStore(b.CreateFPTrunc(mean, b.getFloatTy()), partial(mbr));
  }
  b.CreateRetVoid();
  b.SetInsertPoint(entry);
  b.CreateBr(start);

  // The exported wrapper: arena pointers -> buffer pointers.
  auto *wrapTy =
      llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, i64t, i64t, i64t, i64t, ptr}, false);
  llvm::Function *w = llvm::Function::Create(wrapTy, llvm::Function::ExternalLinkage, info.name, m);
  const char *argNames[] = {"batched", "fixed", "ncap", "n", "nbegin", "nend", "partial"};
  for (unsigned i = 0; i < 7; ++i) w->getArg(i)->setName(argNames[i]);
  w->addFnAttr(llvm::Attribute::NoUnwind);
  w->addFnAttr("nnc-layer", info.layer);
  w->addFnAttr("nnc-line", std::to_string(info.line));
  std::string ops;
  for (ValueId mbr : k.members)
    ops += fmt::format("{}{}(%{})", ops.empty() ? "" : " ", opName(g[mbr].op), g[mbr].name);
  for (ValueId v : k.inlined) ops += fmt::format(" inlined:{}(%{})", opName(g[v].op), g[v].name);
  w->addFnAttr("nnc-ops", ops);
  llvm::IRBuilder<> wb(llvm::BasicBlock::Create(ctx, "entry", w));
  std::vector<Value *> args;
  for (ValueId v : touched) {
    const Node &nd = g[v];
    Value *off = wb.getInt64(uint64_t(plan.offsets[size_t(v)]));
    if (nd.type.batched) off = wb.CreateMul(off, w->getArg(2));
    args.push_back(wb.CreateInBoundsGEP(wb.getInt8Ty(), w->getArg(nd.type.batched ? 0 : 1), off,
                                        "p." + sanitize(nd.name)));
  }
  args.push_back(w->getArg(6));
  args.push_back(w->getArg(3));
  args.push_back(w->getArg(4));
  args.push_back(w->getArg(5));
  wb.CreateCall(fn, args);
  wb.CreateRetVoid();
  return okStatus();
}

namespace {

/// Describes kernel `k` of `plan` and emits its functions into `m`.
Status emitKernel(const Graph &g, const KernelPlan &plan, const KernelGroup &k, llvm::Module &m,
                  KernelInfo &info) {
  info.id = k.id;
  const Node &root = g[k.root];
  info.layer = root.layer;
  info.line = root.loc.line;
  info.role = root.role;
  std::string name = fmt::format("k{}", k.id);
  for (ValueId mbr : k.members) {
    info.role = std::min(info.role, g[mbr].role);
    if (name.size() < 60) name += "_" + std::string(opName(g[mbr].op));
    double f = nodeFlops(g, g[mbr]);
    bool perExample = opClass(g[mbr].op) == OpClass::Update ? false
                      : k.sumsOverBatch(mbr)                ? g[g[mbr].inputs[0]].type.batched
                                                            : g[mbr].type.batched;
    (perExample ? info.flopsPerExample : info.flopsFixed) += f;
  }
  const TensorType &t = k.sumsOverBatch(k.root) ? g[root.inputs[0]].type : root.type;
  std::string shape;
  for (int64_t d : t.dims) shape += (shape.empty() ? "" : "x") + std::to_string(d);
  info.name = sanitize(name + (shape.empty() ? "" : "_" + shape));
  KernelEmitter e(g, plan, k, m, info);
  return e.emit();
}

/// The kernel bodies of one module, so that a body identical to an earlier one is dropped
/// and its wrapper calls the earlier one.
class BodySharing {
public:
  /// Replaces the body of kernel `info` by an identical earlier body, if there is one, and
  /// records in `info.body` the body its wrapper calls.
  void share(llvm::Module &m, KernelInfo &info) {
    llvm::Function *body = m.getFunction(info.name + ".body");
    std::vector<llvm::Function *> &same = byHash_[llvm::StructuralHash(*body, true)];
    for (llvm::Function *earlier : same)
      if (llvm::FunctionComparator(earlier, body, &numbers_).compare() == 0) {
        body->replaceAllUsesWith(earlier);
        body->eraseFromParent();
        info.body = earlier->getName().str();
        return;
      }
    same.push_back(body);
    info.body = body->getName().str();
  }
  /// Bodies called by several wrappers stay out of line: inlined, each would be optimized
  /// and compiled again in every caller.
  void keepSharedOutOfLine() {
    for (auto &[hash, bodies] : byHash_)
      for (llvm::Function *body : bodies)
        if (body->getNumUses() > 1) {
          body->removeFnAttr(llvm::Attribute::AlwaysInline);
          body->addFnAttr(llvm::Attribute::NoInline);
        }
  }

private:
  llvm::GlobalNumberState numbers_;
  std::unordered_map<llvm::IRHash, std::vector<llvm::Function *>> byHash_;
};

/// IR instructions of kernel `info`'s wrapper in `m`, and of its body if it owns it.
int64_t instructionCount(const llvm::Module &m, const KernelInfo &info) {
  int64_t n = 0;
  for (const std::string &f : {info.name, info.name + ".body"})
    if (const llvm::Function *fn = m.getFunction(f)) n += fn->getInstructionCount();
  return n;
}

/// Emits the kernels `shard.kernels` of `plan` into a new context and module of `shard`.
Status emitShard(const Graph &g, const KernelPlan &plan, CodeShard &shard,
                 std::vector<KernelInfo> &infos) {
  shard.context = std::make_unique<llvm::LLVMContext>();
  shard.module = std::make_unique<llvm::Module>("nnc." + sanitize(g.name), *shard.context);
  shard.instructions = 0;
  BodySharing sharing;
  for (size_t i : shard.kernels) {
    KernelInfo info;
    if (Status s = emitKernel(g, plan, plan.kernels[i], *shard.module, info); !s) return s;
    sharing.share(*shard.module, info);
    shard.instructions += instructionCount(*shard.module, info);
    infos[i] = std::move(info);
  }
  sharing.keepSharedOutOfLine();
  std::string err;
  llvm::raw_string_ostream os(err);
  if (llvm::verifyModule(*shard.module, &os))
    return Error{"codegen produced invalid IR: " + os.str()};
  return okStatus();
}

/// Kernels that must share a module: each body with every kernel that calls it.
struct Units {
  std::vector<std::vector<size_t>> kernels; // kernel indices, in schedule order
  std::vector<int64_t> size;                // their IR instructions
};

/// The units of the kernels `infos`, sized by their instructions in `all` (holding them all).
Units sharingUnits(const llvm::Module &all, const std::vector<KernelInfo> &infos) {
  Units units;
  std::map<std::string, size_t> unitOfBody;
  for (size_t i = 0; i < infos.size(); ++i) {
    auto [it, fresh] = unitOfBody.try_emplace(infos[i].body, units.kernels.size());
    if (fresh) {
      units.kernels.emplace_back();
      units.size.push_back(0);
    }
    units.kernels[it->second].push_back(i);
    units.size[it->second] += instructionCount(all, infos[i]);
  }
  return units;
}

/// `count` shards holding `units`, longest processing time first: the largest unit goes to
/// the lightest shard.
std::vector<CodeShard> balance(const Units &units, size_t count) {
  std::vector<size_t> order(units.kernels.size());
  for (size_t u = 0; u < order.size(); ++u) order[u] = u;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return units.size[a] > units.size[b]; });
  std::vector<CodeShard> shards(count);
  std::vector<int64_t> load(count, 0);
  for (size_t u : order) {
    size_t s = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    std::vector<size_t> &into = shards[s].kernels;
    into.insert(into.end(), units.kernels[u].begin(), units.kernels[u].end());
    load[s] += units.size[u];
  }
  return shards;
}

} // namespace

Result<GeneratedCode> generateKernels(const Graph &g, const KernelPlan &plan, int shards,
                                      int64_t shardInstructions) {
  if (!plan.covers(g.size()))
    return Error{"codegen needs the kernel plan of this graph: run the fuse and plan-memory "
                 "passes first"};
  GeneratedCode out;
  out.kernels.resize(plan.kernels.size());
  CodeShard all;
  for (size_t i = 0; i < plan.kernels.size(); ++i) all.kernels.push_back(i);
  if (Status s = emitShard(g, plan, all, out.kernels); !s) return Error{s.error()};
  Units units = sharingUnits(*all.module, out.kernels);
  size_t count = size_t(std::max(shards, 1));
  if (shardInstructions > 0) {
    int64_t per = shardInstructions * int64_t(count);
    count *= size_t((all.instructions + per - 1) / per);
  }
  count = std::min(units.kernels.size(), std::max<size_t>(count, 1));
  if (count <= 1) {
    out.shards.push_back(std::move(all));
    return out;
  }
  out.shards = balance(units, count);
  // Each shard re-emits its kernels, in schedule order, into a context of its own: the
  // emitter is deterministic, so every kernel's IR is the same as in the single module.
  for (CodeShard &shard : out.shards) {
    std::sort(shard.kernels.begin(), shard.kernels.end());
    if (Status s = emitShard(g, plan, shard, out.kernels); !s) return Error{s.error()};
  }
  return out;
}

} // namespace nnc
