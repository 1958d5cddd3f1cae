// Registers the gateway with the binary's module table: its contract,
// dependencies, migrations, settings and factory.
#pragma once

#include "common/module.h"

namespace aw::gateway {

ModuleDef Definition();

}  // namespace aw::gateway
