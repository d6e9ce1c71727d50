// The LLJIT wrapper: JITTargetMachineBuilder::detectHost gives the host triple, CPU and
// features; modules are optimized with PassBuilder's O3 pipeline using that TargetMachine
// (so the vectorizers know the SIMD width) before LLJIT compiles them.
#include "codegen/Jit.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Transforms/Utils/Cloning.h>

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
  std::unique_ptr<Jit> j(new Jit());
  j->vectorMath_ = vectorMath && jtmb->getTargetTriple().isX86();
  j->cpu_ = jtmb->getCPU();
  j->features_ = jtmb->getFeatures().getString();
  auto tm = jtmb->createTargetMachine();
  if (!tm) return Error{"cannot create a target machine: " + message(tm.takeError())};
  j->tm_ = std::move(*tm);
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
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  llvm::PassBuilder pb(tm_.get(), pto);
  llvm::TargetLibraryInfoImpl tlii(tm_->getTargetTriple());
  if (vectorMath_)
    tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86,
                                            tm_->getTargetTriple());
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

Status Jit::addModule(std::unique_ptr<llvm::Module> m, std::unique_ptr<llvm::LLVMContext> ctx) {
  if (llvm::Error e = jit_->addIRModule(llvm::orc::ThreadSafeModule(std::move(m), std::move(ctx))))
    return Error{"cannot add module to the JIT: " + message(std::move(e))};
  return okStatus();
}

Result<void *> Jit::lookup(const std::string &name) {
  auto addr = jit_->lookup(name);
  if (!addr) return Error{"JIT lookup of '" + name + "' failed: " + message(addr.takeError())};
  return addr->toPtr<void *>();
}

} // namespace nnc
