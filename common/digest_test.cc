#include "common/digest.h"

#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"

namespace aw {
namespace {

TEST_CASE("SHA-256 gives the published digest of \"abc\"", "[digest]") {
  CHECK(absl::BytesToHexString(Sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("A digest stream tells parts, numbers and bits apart", "[digest]") {
  auto digest = [](auto&&... parts) {
    Sha256Stream s;
    (s.Add(parts), ...);
    return s.Hex();
  };
  CHECK(digest(absl::string_view("ab"), absl::string_view("c")) ==
        digest(absl::string_view("ab"), absl::string_view("c")));
  CHECK(digest(absl::string_view("ab"), absl::string_view("c")) !=
        digest(absl::string_view("a"), absl::string_view("bc")));
  CHECK(digest(0.1 + 0.2) != digest(0.3));
  CHECK(digest(int64_t{1}) != digest(int64_t{256}));
  CHECK(digest(int64_t{7}).size() == 64);
}

}  // namespace
}  // namespace aw
