// A starting set of warning rules for a catalogue: one theme per business
// category, and for each indicator rules whose thresholds follow how its values
// usually spread. Used by the main command and the benchmark on the synthetic
// province; a utility tunes its own with Backtest.
#pragma once

#include <vector>

#include "auditwatch/v1/ingest.pb.h"
#include "auditwatch/v1/monitor.pb.h"

namespace aw::demo {

struct IndicatorSpread {
  auditwatch::v1::Indicator indicator;
  double mean = 0;
  double spread = 0;
};

struct RuleSet {
  std::vector<auditwatch::v1::Theme> themes;
  std::vector<auditwatch::v1::Rule> rules;
};

// The default set: a static threshold on every rate (2, 2.5 and 3 spreads
// worse than usual), a period-over-period rule on every volume, and a missing-
// value rule on manually entered indicators. With `variants` > 1, each
// indicator also gets baseline and trend rules, up to `limit` rules (for load).
RuleSet DefaultRules(const std::vector<IndicatorSpread>& indicators, int variants = 1, int limit = 1000);

}  // namespace aw::demo
