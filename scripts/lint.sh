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
# JSON comes out of jansson only (core/log.h, core/ctl/ctl_run.h): no JSON
# keys in C strings, no dump that bypasses log_json/ctl_json (which turn
# a failed build into an error instead of half a line), no string from a
# variable that skips log_json_str (jansson refuses bytes that are not
# UTF-8, and the whole line or answer was then lost), and no ignored
# result of a call that adds to an array or object (an element went
# missing without a trace).
check_src() {	# like check, without bench/tests: $1 what, $2 regex, $3 allowed files
  hits=$(grep -rnE --include='*.c' --include='*.h' "$2" core net tls queue |
         grep -vE "^(${3:-none}):")
  if [ -n "$hits" ]; then
    printf 'lint: %s\n%s\n' "$1" "$hits"
    bad=1
  fi
}
check_src "JSON written by hand; build it with jansson, or for a log event log_ev (core/log.c, the one hand-made writer)" \
  '\{\\"|\\"[A-Za-z_]+\\" *:' 'core/log\.c'
check_src "JSON dumped outside log_json/ctl_json/the HTTP answers, which report a failed build" \
  'json_dumps[a-z]* *\(' 'core/log\.c|core/ctl/ctl_run\.c|core/http/http\.c'
check_src "json_string of a variable; use log_json_str/log_json_s (valid UTF-8 whatever the bytes)" \
  'json_stringn?(_nocheck)? *\( *[^" ]' 'core/log\.c'
check_src "result of a JSON append/set ignored; use log_json_append/log_json_set or check it" \
  '^[[:space:]]*(\(void\) *)?json_(array_append|array_insert|array_extend|object_set|object_update)[a-z_]* *\('
# A log call that prints a peer's text must escape it (core/log.h): the
# statement, joined across lines, may name these only inside LOG_FIELD()
# or LOG_TEXT().
hits=$(for f in $(find core net tls queue -name '*.c'); do
  awk -v f="$f" '
    /(^|[^a-z_])log_(debug|info|warn|err|msg)\(/ { st = ""; start = FNR; on = 1 }
    on { st = st $0 }
    on && /\);[[:space:]]*$/ {
      on = 0
      t = st
      gsub(/"([^"\\]|\\.)*"/, "\"\"", t)	# the format and other literals
      while (match(t, /LOG_(FIELD|TEXT)\(/)) {	# drop LOG_x(...) with nesting
        i = RSTART + RLENGTH; d = 1
        while (d > 0 && i <= length(t)) {
          c = substr(t, i, 1); if (c == "(") d++; else if (c == ")") d--; i++
        }
        t = substr(t, 1, RSTART - 1) substr(t, i)
      }
      if (t ~ /->sender|->addr|tls_sni\(|last_error|last_host|->helo|dest->name|[^a-z_]d->name|->orcpt|->envid/)
        print f ":" start ": " st
    }' "$f"
done)
if [ -n "$hits" ]; then
  printf 'lint: a peer'"'"'s text logged without LOG_FIELD()/LOG_TEXT() (core/log.h)\n%s\n' "$hits"
  bad=1
fi
# The dashboard (www/) puts the relay's data on the page as text, never as
# markup (a sender address or a reply is the peer's choice), and loads
# nothing from another site (only the SVG namespace is a URL).
hits=$(grep -rnE '\.(inner|outer)HTML|insertAdjacentHTML|document\.write|eval\(|new Function' www;
       grep -rnE 'https?://|//[a-z0-9-]+\.[a-z]|url\( *[^#" ]|url\( *"[^#]|@import' www |
         grep -v 'http://www\.w3\.org/2000/svg')
if [ -n "$hits" ]; then
  printf 'lint: markup from data, or a resource from elsewhere, in the dashboard\n%s\n' "$hits"
  bad=1
fi
# folders include only what is below them (scripts/layers.py; the symbol
# graph, which needs objects, is checked by make layers)
./scripts/layers.py >/dev/null || bad=1

[ $bad -eq 0 ] && echo "lint: ok"
exit $bad
