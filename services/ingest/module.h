// Registers the ingest service with the binary's module table.
#pragma once

#include <memory>

#include "common/module.h"

namespace aw::ingest {

std::unique_ptr<Module> CreateModule(const ModuleContext& ctx);

}  // namespace aw::ingest
