// The demo evaluation scheme of the synthetic province and the warning rules
// on its scores: each rate is an item of the units that report it, a process
// indicator (5 points) for business expansion, inspection and marketing
// management, a main indicator (10 points) otherwise; volumes are not
// scored (they scale with a unit's size and sum over a year); base and full-score values
// sit 1.5 spreads worse and half a spread better than a typical unit's mean.
#pragma once

#include "auditwatch/v1/scoring.pb.h"
#include "services/awctl/default_rules.h"
#include "services/awctl/synthetic.h"

namespace aw::demo {

auditwatch::v1::Scheme DefaultScheme(const SyntheticProvince& province);

// A theme of score warnings, a static rule (composite below 60 / 65 / 70) and
// a dynamic one (a composite 20 / 10 / 5 % worse than the month before) on the
// SCORE-COMPOSITE readings the scoring service publishes.
RuleSet ScoreRules();

}  // namespace aw::demo
