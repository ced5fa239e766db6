#!/bin/bash
# Run libFuzzer targets one after another and print what each did.
#   tests/fuzz/run.sh SECONDS BUILDDIR TARGET...
# Each target starts from its seed corpus tests/fuzz/corpus/<target>
# (read-only) and the corpus it grew in earlier runs, BUILDDIR/new-<target>
# (where new inputs go); a crash leaves BUILDDIR/crash-* for reproduction
# (`BUILDDIR/fuzz_<target> BUILDDIR/crash-...`).  Prints one line per
# target and a summary table with the executions; exits 1 if any target
# found a bug (the others still run).
secs=$1; fb=$2; shift 2
cd "$(dirname "$0")/../.." || exit 2
fail=0; total=0; t0=$(date +%s)
summary=""
for t in "$@"; do
	mkdir -p "tests/fuzz/corpus/$t" "$fb/new-$t"
	log="$fb/fuzz_$t.log"
	s0=$(date +%s)
	"$fb/fuzz_$t" -max_total_time="$secs" -max_len=8192 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$fb/" \
		"$fb/new-$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	el=$(( $(date +%s) - s0 ))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	units=$(ls "$fb/new-$t" | wc -l)
	execs=${execs:-0}
	total=$((total + execs))
	res=ok
	if [ $rc -ne 0 ]; then
		res="FAILED (rc $rc)"
		fail=1
		grep -E "ERROR|SUMMARY|^artifact_prefix|Test unit written" "$log" | head -8
	fi
	printf 'fuzz_%s: %ss, %s execs, %s\n' "$t" "$el" "$execs" "$res"
	summary+=$(printf '%-14s %6ss %12s %9s %6s %7s  %s' "fuzz_$t" "$el" "$execs" \
		"$(( execs / (el > 0 ? el : 1) ))" "${cov:-?}" "$units" "$res")$'\n'
done
printf '\n%-14s %7s %12s %9s %6s %7s  %s\n' target time execs "execs/s" cov corpus result
printf '%s' "$summary"
printf '%-14s %6sm %12s\n' total "$(( ($(date +%s) - t0) / 60 ))" "$total"
exit $fail
