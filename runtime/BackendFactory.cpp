// The backend factory: maps --backend names to implementations.
#include "runtime/BackendFactory.h"

#include "runtime/Interpreter.h"
#include "runtime/JitBackend.h"

#include <fmt/format.h>

namespace nnc {

const std::vector<std::string> &backendNames() {
  static const std::vector<std::string> names = {"jit", "interp"};
  return names;
}

Result<std::unique_ptr<Backend>> makeBackend(const std::string &name, const Graph &g, int threads,
                                             bool fuse) {
  if (name == "jit") {
    Result<std::unique_ptr<JitBackend>> j = JitBackend::create(g, JitOptions{threads, fuse});
    if (!j) return Error{j.error()};
    return std::unique_ptr<Backend>(j.take());
  }
  if (name == "interp") return std::unique_ptr<Backend>(std::make_unique<Interpreter>(g));
  return Error{
      fmt::format("unknown backend '{}' (known: {})", name, fmt::join(backendNames(), ", "))};
}

} // namespace nnc
