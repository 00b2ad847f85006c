#!/bin/sh
# Runs every load program of bench/README.md with the round counts its tables report and keeps
# each raw output in bench/results/<UTC date>-<label>/ (label: first argument, default "run").
# Run it from the repository root on an otherwise idle machine; it takes about 20 minutes
# (the first runlist also seeds a 1M-run database in $TMPDIR, a few minutes more).
set -eu
label=${1:-run}
out=bench/results/$(date -u +%Y-%m-%d)-$label
mkdir -p "$out"
run() {
	name=$1
	shift
	echo "== $name: go run $*" >&2
	go run "$@" 2>&1 | tee "$out/$name.txt"
}
run jobcreate ./bench/cmd/jobcreate -jobs 0,1000,10000 -rounds 3
run runlist ./bench/cmd/runlist -runs 1000000 -rounds 3
run schedboot ./bench/cmd/schedboot -jobs 100000 -rounds 3
run burst ./bench/cmd/schedfire -mode burst -rounds 3
run lag ./bench/cmd/schedfire -mode lag -rounds 3 -duration 30s
run lag-spread ./bench/cmd/schedfire -mode lag -rounds 3 -duration 30s -spread 1s
run exec ./bench/cmd/dispatch -mode exec -rounds 3
run noop ./bench/cmd/dispatch -mode noop -rounds 3
run admit ./bench/cmd/dispatch -mode admit -rounds 3
run webhook ./bench/cmd/webhook -reps 3
echo "outputs in $out" >&2
