// Registers the ingest service with the binary's module table: its contract,
// dependencies, migrations, settings and factory.
#pragma once

#include "common/module.h"

namespace aw::ingest {

ModuleDef Definition();

}  // namespace aw::ingest
