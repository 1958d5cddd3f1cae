// The auditwatch process: parses configuration, runs the services picked by
// --target from the module table, and drains them on SIGTERM/SIGINT.
#pragma once

#include <vector>

#include "common/module.h"

namespace aw {

// Returns the process exit code: 0 after a clean shutdown, 1 when a service
// could not start (port in use, a changed migration …), 2 for bad configuration.
int RunApp(int argc, char** argv, const std::vector<ModuleDef>& modules);

}  // namespace aw
