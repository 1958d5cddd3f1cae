#include "services/modules.h"

#include "services/audit/module.h"
#include "services/gateway/module.h"
#include "services/ingest/module.h"
#include "services/monitor/module.h"
#include "services/report/module.h"
#include "services/scoring/module.h"

namespace aw {

const std::vector<ModuleDef>& AllModules() {
  static const std::vector<ModuleDef> kModules = {
      ingest::Definition(),
      monitor::Definition(),
      audit::Definition(),
      scoring::Definition(),
      report::Definition(),
      gateway::Definition(),
  };
  return kModules;
}

}  // namespace aw
