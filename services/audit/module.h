// Registers the audit service with the binary's module table: its contract,
// dependencies, migrations, settings and factory.
#pragma once

#include "common/module.h"

namespace aw::audit {

ModuleDef Definition();

}  // namespace aw::audit
