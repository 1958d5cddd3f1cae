// Registers the report service with the binary's module table: its contract,
// dependencies, migrations, settings and factory.
#pragma once

#include "common/module.h"

namespace aw::report {

ModuleDef Definition();

}  // namespace aw::report
