// awctl: the operator's command-line client of auditwatch. Every command but
// `health` goes through the gateway with the caller's key or token (see
// services/awctl/client.h for the connection flags and variables).
#include <cstdio>
#include <string>
#include <vector>

#include "services/awctl/commands.h"

namespace {

using aw::awctl::Flags;

void Usage() {
  std::fputs(
      "usage: awctl <command> [arguments] [--flag=value ...]\n\n"
      "through the gateway (--gateway=HOST:PORT or AW_GATEWAY, default 127.0.0.1:7100; credentials from\n"
      "--key-file=PATH or AW_API_KEY, or --token-file=PATH or AW_TOKEN; --tls-ca=PEM for TLS):\n"
      "  keys bootstrap [--subject=admin] [--secret-file=PATH]\n"
      "      the first administrator key, without credentials, while there is none\n"
      "  keys create --subject=NAME --role=ROLE_X [--role=…] [--unit=CODE …] [--expires-in=720h]\n"
      "              [--description=TEXT] [--secret-file=PATH]\n"
      "  keys list | keys revoke --id=ID --reason=TEXT\n"
      "  whoami\n"
      "      the caller's subject, roles and units as the gateway sees them\n"
      "  token [--secret-file=PATH]\n"
      "      exchange the API key for a short-lived bearer token\n"
      "  import-readings FILE.csv [--batch=500] [--source=manual] [--all-or-nothing] [--errors=PATH]\n"
      "      manual readings (header: unit_code,indicator_code,period,value[,reason]) with a progress bar\n"
      "      and a report of rejected rows; importing the same file again applies nothing twice\n"
      "  events [--unit=CODE [--descendants=false]] [--level=N …] [--state=open …] [--theme=CODE …]\n"
      "         [--limit=20] [--json]\n"
      "      the warning events the caller may see\n"
      "  load-sgcc FILE.csv --station=CODE [--category=residential] [--source=sgcc]\n"
      "      customers' daily kWh in the SGCC layout (CONS_NO,FLAG,<day>…), with a progress bar; the file's wrong\n"
      "      rows are reported by line; loading the same file again applies nothing twice\n"
      "  synth-sgcc FILE.csv [--customers=2000] [--days=365] [--seed=42] [--first-day=2025-01-01]\n"
      "      write synthetic customers in the SGCC layout (8.5 % attacked, a quarter of the cells empty)\n"
      "  theft-drive --unit=CODE --from=DAY --to=DAY\n"
      "      save the theft-suspicion rule of the unit's stations and run the analysis as a centre auditor;\n"
      "      print the run by level, the top suspects with their reasons and audit's inspection orders\n"
      "  load-synthetic [--seed=42] [--year=<last year>] [--streams=2] [--part=all|catalogue|readings]\n"
      "      load the synthetic province (units, indicators, a year of readings)\n"
      "  apply-rules [--seed=42] [--year=<last year>]\n"
      "      apply the default warning rules for the synthetic province; print events by level and theme\n"
      "  watch-readings [--from=0] [--limit=N] [--quiet=true]\n"
      "      print the readings change feed from a cursor, then follow it\n"
      "  audit-drive --unit=COUNTY --unit-key-file=F --unit2-key-file=F --centre-key-file=F --centre2-key-file=F\n"
      "      drive a sample of the county's work orders through the audit loop as four people; print the\n"
      "      orders by state and the rates of the province's cities\n"
      "  score-drive --centre-key-file=F [--unit=C02-D04] [--seed=42] [--year=<last year>]\n"
      "      save the demo scheme, evaluate and publish the year's 14 periods as a centre auditor; print the\n"
      "      top and bottom stations, the county's stations, one station's breakdown; apply the score rules\n"
      "  report --kind=KIND --unit=CODE --period=KEY [--format=xlsx|html|csv|xml|json] [--descendants=true]\n"
      "         [--measure=composite] [--depth=2] [--out=reports] [--request-id=KEY] | report --id=N [--out=DIR]\n"
      "      generate a report (evaluation, daily-audit, weekly-analysis, monthly-summary, theme-analysis)\n"
      "      with its progress; download it, check its SHA-256, print where it was saved\n\n"
      "of each service directly:\n"
      "  health [--wait=60s] [--addr=SERVICE=HOST:PORT ...]\n"
      "      grpc.health.v1 status of every service; exit 0 when all are SERVING\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return 2;
  }
  const std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  std::string action;
  if ((command == "keys") && !args.empty() && args[0].rfind("--", 0) != 0) {
    action = args[0];
    args.erase(args.begin());
  }
  const Flags flags(args);
  const size_t files = flags.positional().size();
  std::string unknown;
  auto known = [&](const std::vector<std::string>& names, size_t positional = 0) {
    unknown = flags.Unknown(names);
    if (unknown.empty() && files != positional) unknown = files > positional ? flags.positional()[positional] : "";
    return unknown.empty() && files == positional;
  };
  using namespace aw::awctl;
  if (command == "health") {
    if (known({"wait", "addr"})) return Health(flags);
  } else if (command == "load-synthetic") {
    if (known({"seed", "year", "streams", "part"})) return LoadSynthetic(flags);
  } else if (command == "apply-rules") {
    if (known({"seed", "year"})) return ApplyRules(flags);
  } else if (command == "watch-readings") {
    if (known({"from", "limit", "quiet"})) return WatchReadings(flags);
  } else if (command == "import-readings") {
    if (known({"batch", "source", "all-or-nothing", "errors"}, 1)) return ImportReadings(flags);
  } else if (command == "events") {
    if (known({"unit", "descendants", "level", "state", "theme", "limit", "json"})) return Events(flags);
  } else if (command == "keys") {
    if (known({"subject", "role", "unit", "expires-in", "description", "secret-file", "id", "reason"})) {
      return Keys(action, flags);
    }
  } else if (command == "whoami") {
    if (known({})) return WhoAmI(flags);
  } else if (command == "token") {
    if (known({"secret-file"})) return Token(flags);
  } else if (command == "score-drive") {
    if (known({"centre-key-file", "unit", "seed", "year"})) return ScoreDrive(flags);
  } else if (command == "load-sgcc") {
    if (known({"station", "category", "source"}, 1)) return LoadSgcc(flags);
  } else if (command == "synth-sgcc") {
    if (known({"customers", "days", "seed", "first-day"}, 1)) return SynthSgcc(flags);
  } else if (command == "theft-drive") {
    if (known({"unit", "from", "to"})) return TheftDrive(flags);
  } else if (command == "report") {
    if (known({"kind", "format", "unit", "descendants", "period", "measure", "depth", "out", "request-id", "id"})) {
      return Report(flags);
    }
  } else if (command == "audit-drive") {
    if (known({"unit", "unit-key-file", "unit2-key-file", "centre-key-file", "centre2-key-file"})) {
      return AuditDrive(flags);
    }
  }
  if (!unknown.empty()) std::fprintf(stderr, "awctl %s: unknown argument %s\n", command.c_str(), unknown.c_str());
  Usage();
  return 2;
}
