// awctl's commands; each returns the process's exit code (0 done, 1 failed,
// 2 bad usage) and reports to stdout (results) and stderr (progress, errors).
#pragma once

#include <optional>

#include "services/awctl/client.h"
#include "services/awctl/synthetic.h"

namespace aw::awctl {

int Health(const Flags& flags);
int LoadSynthetic(const Flags& flags);
int ApplyRules(const Flags& flags);
int WatchReadings(const Flags& flags);
int ImportReadings(const Flags& flags);
int Events(const Flags& flags);
int Keys(const std::string& action, const Flags& flags);
int Token(const Flags& flags);
int WhoAmI(const Flags& flags);
int AuditDrive(const Flags& flags);
int ScoreDrive(const Flags& flags);
int Report(const Flags& flags);
int LoadSgcc(const Flags& flags);
int SynthSgcc(const Flags& flags);
int TheftDrive(const Flags& flags);

// The synthetic province of --seed (42) and --year (last year); nullopt
// (having said why) when they are not numbers.
std::optional<aw::demo::SyntheticProvince> Province(const Flags& flags, const char* command);

}  // namespace aw::awctl
