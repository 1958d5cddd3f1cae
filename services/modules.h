// The module table of the auditwatch binary: every service, its default port, the
// services it depends on, its migrations and its factory.
#pragma once

#include <vector>

#include "common/module.h"

namespace aw {

// In dependency order: a service's dependencies come before it.
const std::vector<ModuleDef>& AllModules();

}  // namespace aw
