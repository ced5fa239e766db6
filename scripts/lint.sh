#!/bin/sh
# Source checks that a compiler does not make: idioms this tree has been
# bitten by and has replaced with a safe mechanism.  Prints each offence
# with file:line and exits non-zero if there is any.
cd "$(dirname "$0")/.." || exit 2
bad=0
check() {	# $1: what is wrong and what to use; $2: extended regex
  hits=$(grep -rnE --include='*.c' --include='*.h' "$2" core net tls queue bench tests/unit tests/fuzz |
         grep -v '^core/strb\.[ch]:')
  if [ -n "$hits" ]; then
    printf 'lint: %s\n%s\n' "$1" "$hits"
    bad=1
  fi
}
# A truncated snprintf returns the length it wanted: adding it to an offset
# walks past the array and wraps the size of the next call.
check "accumulated snprintf lengths overflow when one call truncates; use core/strb.h" \
  '[+-]= *(\([a-z_ ]+\))? *v?snprintf *\(|= *[a-z_]+ *\+ *(\([a-z_ ]+\))? *v?snprintf *\('
# Functions with no length that have caused overflows elsewhere.
check "unbounded string function; use snprintf or core/strb.h" \
  '(^|[^a-z_])(strcpy|strcat|sprintf|vsprintf|gets) *\('
[ $bad -eq 0 ] && echo "lint: ok"
exit $bad
