// Chooses an execution backend by name (--backend=NAME).
#pragma once

#include "runtime/Backend.h"

#include <memory>
#include <string>
#include <vector>

namespace nnc {

/// Creates the backend `name` ("jit", "interp") for training graph `g`, using up to `threads`
/// threads where the backend supports them; `fuse` = false compiles every op as its own
/// kernel (--no-fuse; the interpreter ignores it). Unknown names are errors listing the
/// known ones.
Result<std::unique_ptr<Backend>> makeBackend(const std::string &name, const Graph &g, int threads,
                                             bool fuse = true);
/// The backend names makeBackend accepts; the first is the default.
const std::vector<std::string> &backendNames();

} // namespace nnc
