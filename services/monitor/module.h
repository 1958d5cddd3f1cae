// Registers the monitor service with the binary's module table: its contract,
// dependencies, migrations, settings and factory.
#pragma once

#include "common/module.h"

namespace aw::monitor {

ModuleDef Definition();

}  // namespace aw::monitor
