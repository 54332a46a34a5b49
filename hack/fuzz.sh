#!/usr/bin/env bash
# Fuzzes each target in turn and prints the inputs each executed, then the
# total. Usage: hack/fuzz.sh <fuzztime> <minimizetime> <package>:<FuzzName>...
# (the Makefile's `fuzz` target passes FUZZTIME, FUZZMINIMIZETIME and
# FUZZ_TARGETS). One worker per target (-parallel 1). A failing input is
# written to <package>/testdata/fuzz/<FuzzName>/ by go test; the script then
# prints go test's output and exits 1.
#
# Go 1.26's fuzz coordinator can end a run at the -fuzztime boundary with a
# bare "context deadline exceeded" and no failing input (golang/go#75804,
# fixed in Go 1.27); such a run is reported as stopped, not failed.
set -euo pipefail
fuzztime=$1 minimize=$2
shift 2
GO=${GO:-go}
total=0
for t in "$@"; do
	pkg=${t%%:*} name=${t##*:}
	note=
	if ! out=$("$GO" test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" \
		-fuzzminimizetime "$minimize" -parallel 1 2>&1); then
		if grep -q 'Failing input written to' <<<"$out" || ! grep -q '^[[:space:]]*context deadline exceeded$' <<<"$out"; then
			echo "$out"
			echo "FAIL: $pkg $name"
			exit 1
		fi
		note=" (stopped by golang/go#75804 at the deadline; no failing input)"
	fi
	execs=$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)
	printf '%-26s %-26s %6s %10s inputs%s\n' "$pkg" "$name" "$fuzztime" "${execs:-0}" "$note"
	total=$((total + ${execs:-0}))
done
echo "fuzz: $# targets x $fuzztime: $total inputs executed"
