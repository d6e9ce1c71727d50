#include "passes/Pass.h"

namespace nnc {

const std::vector<PassInfo> &allPasses() {
  static const std::vector<PassInfo> passes = {
#define PASS(ID, NAME, DESC) {NAME, &ID, DESC},
#include "passes/Passes.def"
  };
  return passes;
}

const PassInfo *findPass(const std::string &name) {
  for (const PassInfo &p : allPasses())
    if (name == p.name) return &p;
  return nullptr;
}

Status runPasses(Graph &g, PassContext &ctx, const std::vector<std::string> &names,
                 const std::function<void(const std::string &, const Graph &)> &after) {
  for (const std::string &n : names) {
    const PassInfo *p = findPass(n);
    if (!p) return Error{"unknown pass '" + n + "'"};
    Status s = p->fn(g, ctx);
    if (!s) return s;
    if (after) after(n, g);
  }
  return okStatus();
}

} // namespace nnc
