// Registers the monitor service with the binary's module table.
#pragma once

#include <memory>

#include "common/module.h"

namespace aw::monitor {

std::unique_ptr<Module> CreateModule(const ModuleContext& ctx);

}  // namespace aw::monitor
