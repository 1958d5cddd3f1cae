#!/usr/bin/env bash
# Each service library compiles with an include root that holds only common/ and
# its own folder. Shows that a service including another service's header does
# not compile, while its own headers do.
#   lint_service_isolation.sh SOURCE_DIR CXX PROTO_INCLUDE NAME=ROOT ...
# (services whose code has not landed yet, without a module.h, are left out)
set -uo pipefail
src="$1"; cxx="$2"; proto="$3"; shift 3
names=(); roots=()
for pair in "$@"; do
  [ -f "$src/services/${pair%%=*}/module.h" ] || continue
  names+=("${pair%%=*}"); roots+=("${pair#*=}")
done
[ "${#names[@]}" -ge 2 ] || { echo "FAIL: fewer than two services to compare"; exit 1; }
failed=0
for i in "${!names[@]}"; do
  own="${names[$i]}"; root="${roots[$i]}"
  if ! echo "#include \"services/$own/module.h\"" |
       "$cxx" -std=c++20 -E -x c++ -I"$root" -I"$proto" - >/dev/null 2>/tmp/aw-lint-$$; then
    echo "FAIL: $own cannot include its own module.h:"; cat /tmp/aw-lint-$$; failed=1
  fi
  for other in "${names[@]}"; do
    [ "$other" = "$own" ] && continue
    out=$(echo "#include \"services/$other/module.h\"" |
          "$cxx" -std=c++20 -E -x c++ -I"$root" -I"$proto" - 2>&1 >/dev/null)
    if [[ "$out" != *"services/$other/module.h: No such file or directory"* ]]; then
      echo "FAIL: $own can include services/$other/module.h"; failed=1
    fi
  done
done
rm -f /tmp/aw-lint-$$
[ "$failed" = 0 ] && echo "every service sees only common/ and its own folder (${names[*]})"
exit "$failed"
