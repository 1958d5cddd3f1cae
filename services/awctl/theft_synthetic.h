// Synthetic customers for the theft-suspicion harness: daily kWh with
// weekday and seasonal patterns by category (residential, commercial,
// industrial), honest irregularities (vacancies, lasting changes, drift), the
// six false-data-injection attacks of Jokar, Arianpoo & Leung (IEEE TSG 2016)
// adapted to daily data on a share of the customers from a random day on, and
// cells missing; written in the SGCC CSV layout (day columns shuffled).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"

namespace aw::demo {

struct SyntheticCustomer {
  std::string id, station, category;
  double contract_kva = 0;
  std::vector<float> daily;  // NaN where missing
  int attack = 0;            // 0 honest, 1..6 the attack (h1..h6)
};

struct TheftData {
  absl::CivilDay first_day;
  std::vector<SyntheticCustomer> customers;
};

struct TheftDataOptions {
  uint64_t seed = 1;
  int customers = 10000;
  int days = 1035;
  absl::CivilDay first_day = absl::CivilDay(2014, 1, 1);
  double theft_share = 0.085;
  double missing_share = 0.25;
  // An attack starts between these shares of the days (both 0: it covers them all).
  double attack_from = 0.1, attack_to = 0.7;
};

TheftData GenerateTheftData(const TheftDataOptions& options);

// The SGCC layout: CONS_NO,FLAG, then the days in an order shuffled by `seed`.
void WriteSgcc(const TheftData& data, uint64_t seed, std::ostream& out);

}  // namespace aw::demo
