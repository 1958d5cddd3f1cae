// Registers the scoring service with the binary's module table: its contract,
// dependencies, migrations, settings and factory.
#pragma once

#include "common/module.h"

namespace aw::scoring {

ModuleDef Definition();

}  // namespace aw::scoring
