#include "common/identity.h"

#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"

namespace aw {
namespace {

TEST_CASE("Identities are signed with HMAC-SHA256", "[identity]") {
  // RFC 4231, test case 2.
  CHECK(absl::BytesToHexString(IdentityKey("Jefe").Mac("what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(IdentityKey("one key").Mac("x") != IdentityKey("another key").Mac("x"));
  CHECK(IdentityKey::Random().Mac("x") != IdentityKey::Random().Mac("x"));
  CHECK(IsIdentityMetadata(kIdentityMetadata));
  CHECK(IsIdentityMetadata(kIdentitySignatureMetadata));
  CHECK_FALSE(IsIdentityMetadata("authorization"));
}

}  // namespace
}  // namespace aw
