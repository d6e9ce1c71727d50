// The data of `nnc explore`, gathered by running the pipeline once the way `nnc dump` does:
// lex and parse (tokens, AST), compile and analyse (IR, the summary's numbers and
// arithmetic), decompose + autodiff (the training graph), fuse and plan memory (reports),
// generate the kernels and print each kernel's functions before and after O3 and its host
// assembly. Layers are the nodes `nnc dot` draws (inputs, layers, the loss), keyed by the
// same DOT ids ("v3"), so a click on the SVG finds its layer. Which kernels hold a layer is
// read from the kernel plan (each member's layer), never re-derived.
#include "tools/nnc/Explore.h"

#include "codegen/Codegen.h"
#include "codegen/Jit.h"
#include "frontend/Parser.h"
#include "ir/Lower.h"
#include "passes/Pipeline.h"
#include "passes/Summary.h"
#include "runtime/Graphviz.h"

#include <fmt/format.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <set>
#include <sstream>

namespace json = llvm::json;

namespace nnc::driver {

namespace {

bool isDrawn(const Node &n) {
  OpClass c = opClass(n.op);
  return n.op == OpKind::Input || c == OpClass::Forward || c == OpClass::Loss;
}

std::string layerName(const Node &n) {
  return n.layer.empty() ? n.name : n.layer;
}

json::Array toArray(const std::vector<std::string> &items) {
  json::Array out;
  for (const std::string &s : items) out.push_back(s);
  return out;
}

/// The functions of a kernel: its wrapper and the body it calls (its own, or the identical
/// body of an earlier kernel it shares).
std::vector<std::string> kernelFunctions(const KernelInfo &k) {
  std::vector<std::string> names = {k.name};
  if (!k.body.empty() && k.body != k.name) names.push_back(k.body);
  return names;
}

bool isOneOf(llvm::StringRef name, const std::vector<std::string> &names) {
  return std::find(names.begin(), names.end(), name.str()) != names.end();
}

/// The text of the functions of `m` named in `names` (a kernel's body, then its wrapper).
std::string functionsOf(const llvm::Module &m, const std::vector<std::string> &names) {
  std::string out;
  llvm::raw_string_ostream os(out);
  for (const llvm::Function &f : m) {
    if (f.isDeclaration() || !isOneOf(f.getName(), names)) continue;
    f.print(os);
    os << "\n";
  }
  return out;
}

/// The assembly of the functions named in `names`: from each one's ".type F,@function" line to
/// its ".size F" line (a body inlined into its wrapper has no code of its own).
std::string assemblyOf(const std::string &assembly, const std::vector<std::string> &names) {
  std::istringstream in(assembly);
  std::string line, out, current;
  while (std::getline(in, line)) {
    if (current.empty() && line.rfind("\t.type\t", 0) == 0 &&
        line.find(",@function") != std::string::npos) {
      std::string f = line.substr(7, line.find(',') - 7);
      if (isOneOf(f, names)) current = f;
    }
    if (current.empty()) continue;
    out += line + "\n";
    if (line.rfind("\t.size\t" + current + ",", 0) == 0) {
      current.clear();
      out += "\n";
    }
  }
  return out;
}

json::Object layerJson(const Graph &model, const Graph &train, size_t i) {
  const Node &n = model.nodes[i];
  const std::string name = layerName(n);
  int64_t kept = 0;
  for (const Node &t : train.nodes)
    if (layerName(t) == name && t.keep && t.op != OpKind::Param && t.type.batched)
      kept += t.type.elements() * 4;
  const Stats &s = n.stats;
  json::Object o{{"id", fmt::format("v{}", i)},
                 {"name", name},
                 {"value", n.name},
                 {"type", opClass(n.op) == OpClass::Loss ? opName(n.op) : kerasTypeName(n.op)},
                 {"op", opName(n.op)},
                 {"shape", n.type.kerasStr()},
                 {"irType", n.type.str()},
                 {"line", int64_t(n.loc.line)},
                 {"col", int64_t(n.loc.col)},
                 {"weights", weightShapes(model, n)},
                 {"params", s.params},
                 {"paramsText", withCommas(s.params)},
                 {"explain", toArray(explainLayer(model, n))},
                 {"macs", s.macs},
                 {"macsText", withCommas(s.macs)},
                 {"spatial", s.spatial},
                 {"rf", fmt::format("{:g} x {:g}", s.rfH, s.rfW)},
                 {"jump", fmt::format("{:g} x {:g}", s.jumpH, s.jumpW)},
                 {"activationBytes", s.activationBytes},
                 {"keptBytes", kept}};
  return o;
}

/// The kernels of `plan` with their members, layers and code, in schedule order.
Result<json::Array> kernelsJson(const Graph &t, const KernelPlan &plan) {
  Result<GeneratedCode> code = generateKernels(t, plan);
  if (!code) return Error{code.error()};
  Result<std::unique_ptr<Jit>> jit = Jit::create();
  if (!jit) return Error{jit.error()};
  llvm::Module &m = *code->shards.front().module; // one shard: every kernel
  (*jit)->prepare(m);
  std::vector<std::string> before;
  for (const KernelInfo &k : code->kernels) before.push_back(functionsOf(m, kernelFunctions(k)));
  (*jit)->optimize(m);
  Result<std::string> assembly = (*jit)->assembly(m);
  if (!assembly) return Error{assembly.error()};
  json::Array out;
  for (size_t i = 0; i < code->kernels.size(); ++i) {
    const KernelInfo &k = code->kernels[i];
    const KernelGroup &planned = plan.kernels[i];
    std::set<std::string> layers;
    json::Array members;
    for (ValueId v : planned.members) {
      layers.insert(layerName(t[v]));
      members.push_back(
          fmt::format("{}{}(%{})", v == planned.root ? "*" : "", opName(t[v].op), t[v].name));
    }
    out.push_back(json::Object{{"id", int64_t(k.id)},
                               {"name", k.name},
                               {"role", roleName(k.role)},
                               {"members", std::move(members)},
                               {"layers", toArray({layers.begin(), layers.end()})},
                               {"batched", planned.batched},
                               {"flopsPerExample", k.flopsPerExample},
                               {"flopsFixed", k.flopsFixed},
                               {"llvm", before[i]},
                               {"body", k.body},
                               {"llvmOpt", functionsOf(m, kernelFunctions(k))},
                               {"asm", assemblyOf(*assembly, kernelFunctions(k))}});
  }
  return out;
}

/// Turns the model graph `t` (which has a loss) into its training graph, fuses and plans it:
/// the training graph's text, the fusion report, the memory plan and the kernels.
Result<json::Object> trainingJson(Graph &t) {
  PassContext ctx;
  if (Status s = runPasses(t, ctx, trainingPasses()); !s) return Error{s.error()};
  std::string grad = printGraph(t);
  if (Status s = runPasses(t, ctx, backendPasses()); !s) return Error{s.error()};
  Result<json::Array> kernels = kernelsJson(t, ctx.plan);
  if (!kernels) return Error{kernels.error()};
  return json::Object{{"grad", grad},
                      {"fused", ctx.fusionReport},
                      {"memory", ctx.memoryReport},
                      {"kernels", kernels.take()}};
}

} // namespace

Result<json::Object> exploreData(const std::string &file, const std::string &source,
                                 std::string &svg) {
  DiagEngine diags(file, source);
  std::optional<Graph> model = compileSource(source, file, diags);
  if (!model) return Error{diags.render()};
  DiagEngine quiet(file, source);
  std::string tokens = printTokens(lex(source, quiet));
  std::string ast = printAST(parse(source, file, quiet));
  std::string dot = printDot(*model);
  Result<std::string> rendered = renderDot(dot, "svg");
  if (!rendered) return Error{rendered.error()};
  svg = *rendered;
  Graph train = *model;
  json::Object stages{{"tokens", tokens}, {"ast", ast}, {"ir", printGraph(*model)}};
  json::Array kernels;
  if (model->loss != kNoValue) {
    Result<json::Object> t = trainingJson(train);
    if (!t) return Error{file + ": error: " + t.error() + "\n"};
    for (const char *key : {"grad", "fused", "memory"}) stages[key] = std::move((*t)[key]);
    kernels = std::move(*(*t).getArray("kernels"));
  }
  json::Array layers;
  for (size_t i = 0; i < model->size(); ++i)
    if (isDrawn(model->nodes[i])) layers.push_back(layerJson(*model, train, i));
  return json::Object{{"model", model->name},
                      {"file", file},
                      {"source", source},
                      {"params", model->paramCount()},
                      {"paramsText", withCommas(model->paramCount())},
                      {"dot", dot},
                      {"stages", std::move(stages)},
                      {"layers", std::move(layers)},
                      {"kernels", std::move(kernels)}};
}

} // namespace nnc::driver
