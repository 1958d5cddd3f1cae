#include "common/migrations.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace aw::db {

absl::StatusOr<std::vector<Migration>> ParseMigrations(const std::vector<EmbeddedFile>& files) {
  std::vector<Migration> out;
  for (const EmbeddedFile& f : files) {
    const std::string name = f.name;
    const size_t underscore = name.find('_');
    int version = 0;
    if (underscore != 4 || name.size() < 10 || name.substr(name.size() - 4) != ".sql" ||
        !absl::SimpleAtoi(name.substr(0, 4), &version) || version <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("migration file \"", name, "\": expected NNNN_name.sql with NNNN > 0"));
    }
    out.push_back({version, name, f.contents});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      return absl::InvalidArgumentError(absl::StrCat("migrations ", out[i - 1].name, " and ",
                                                     out[i].name, " share version ",
                                                     out[i].version));
    }
  }
  return out;
}

}  // namespace aw::db
