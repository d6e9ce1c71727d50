// The LLJIT wrapper. JITTargetMachineBuilder::detectHost gives the host triple, CPU and
// features, with the PIC relocation and small code model LLJIT's JITLink linker wants; every
// TargetMachine (the caller's and one per compile thread) comes from that one builder.
// compile(): each shard, on whichever pool thread takes it, runs PassBuilder's O3 pipeline
// with a TargetMachine of its own (so the vectorizers know the SIMD width) and then that
// TargetMachine's code generator (orc::SimpleCompiler) into an in-memory object file; the
// calling thread then adds the objects to LLJIT in shard order. Symbol lookup links them.
#include "codegen/Jit.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Transforms/Utils/Cloning.h>

#include <chrono>
#include <mutex>

namespace nnc {

namespace {
std::string message(llvm::Error e) {
  return llvm::toString(std::move(e));
}
} // namespace

Result<std::unique_ptr<Jit>> Jit::create() {
  static std::once_flag once;
  static bool vectorMath = false;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    // glibc's vector math library: lets the vectorizer call 8-wide expf/logf. Loaded into the
    // process globally, so the JIT's process-symbol lookup finds it.
    vectorMath = !llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
  });
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return Error{"cannot detect the host CPU: " + message(jtmb.takeError())};
  jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  // What LLJIT picks for its JITLink linker on ELF; set here so the compile threads match it.
  jtmb->setRelocationModel(llvm::Reloc::PIC_);
  jtmb->setCodeModel(llvm::CodeModel::Small);
  std::unique_ptr<Jit> j(new Jit());
  j->vectorMath_ = vectorMath && jtmb->getTargetTriple().isX86();
  j->cpu_ = jtmb->getCPU();
  j->features_ = jtmb->getFeatures().getString();
  auto tm = jtmb->createTargetMachine();
  if (!tm) return Error{"cannot create a target machine: " + message(tm.takeError())};
  j->tm_ = std::move(*tm);
  j->jtmb_ = *jtmb;
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*jtmb)).create();
  if (!jit) return Error{"cannot create the JIT: " + message(jit.takeError())};
  j->jit_ = std::move(*jit);
  return j;
}

void Jit::prepare(llvm::Module &m) const {
  m.setTargetTriple(tm_->getTargetTriple().str());
  m.setDataLayout(tm_->createDataLayout());
  for (llvm::Function &f : m) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", cpu_);
    f.addFnAttr("target-features", features_);
  }
}

void Jit::optimize(llvm::Module &m) const {
  runO3(m, *tm_, vectorMath_);
}

void Jit::runO3(llvm::Module &m, llvm::TargetMachine &tm, bool vectorMath) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  llvm::PassBuilder pb(&tm, pto);
  llvm::TargetLibraryInfoImpl tlii(tm.getTargetTriple());
  if (vectorMath)
    tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86,
                                            tm.getTargetTriple());
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

Result<std::string> Jit::assembly(const llvm::Module &m) const {
  std::unique_ptr<llvm::Module> copy = llvm::CloneModule(m);
  llvm::SmallString<0> buf;
  llvm::raw_svector_ostream os(buf);
  llvm::legacy::PassManager pm;
  if (tm_->addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::AssemblyFile))
    return Error{"the host target cannot emit assembly"};
  pm.run(*copy);
  return std::string(buf.str());
}

Result<std::vector<Jit::ShardTime>> Jit::compile(std::vector<CodeShard> &shards, ThreadPool &pool) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  std::vector<ShardTime> times(shards.size());
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> objects(shards.size());
  std::vector<std::string> errors(shards.size());
  for (CodeShard &s : shards) prepare(*s.module);
  pool.parallelFor(int64_t(shards.size()), [&](int64_t i) {
    CodeShard &s = shards[size_t(i)];
    auto tm = jtmb_->createTargetMachine();
    if (!tm) {
      errors[size_t(i)] = "cannot create a target machine: " + message(tm.takeError());
      return;
    }
    auto t0 = Clock::now();
    runO3(*s.module, **tm, vectorMath_);
    auto t1 = Clock::now();
    auto obj = llvm::orc::SimpleCompiler(**tm)(*s.module);
    if (obj)
      objects[size_t(i)] = std::move(*obj);
    else
      errors[size_t(i)] = "cannot compile kernels: " + message(obj.takeError());
    times[size_t(i)] = {seconds(t0, t1), seconds(t1, Clock::now())};
    s.module.reset();
    s.context.reset();
  });
  for (size_t i = 0; i < shards.size(); ++i) {
    if (!errors[i].empty()) return Error{errors[i]};
    if (llvm::Error e = jit_->addObjectFile(std::move(objects[i])))
      return Error{"cannot add kernels to the JIT: " + message(std::move(e))};
  }
  return times;
}

Result<void *> Jit::lookup(const std::string &name) {
  auto addr = jit_->lookup(name);
  if (!addr) return Error{"JIT lookup of '" + name + "' failed: " + message(addr.takeError())};
  return addr->toPtr<void *>();
}

} // namespace nnc
