#!/usr/bin/env bash
# compare_scipy.sh compares "kmbench train" with the reference SciPy trainer
# (shared/anchors/scipy_train.py, L-BFGS-B) on one training-rows CSV.
#
# Usage: cmd/kmbench/compare_scipy.sh ROWS.csv[.gz] [RUNS] [-- extra flags]
#   RUNS (default 5): runs of each trainer, interleaved (scipy, kmbench,
#   scipy, ...) so that both see the same machine load.
#   Extra flags after -- go to both trainers, e.g.
#   -- --l2 0.01 --min_rows 10 --max_iter 500 --gtol 1e-5.
#
# Prints the median "total ... seconds" of each, their ratio, and the
# largest per-exercise |loss difference| (first runs), and fails if an
# exercise is missing on either side or differs by more than 1e-7.
# Environment: PYTHON (default /usr/bin/python3), SCIPY_TRAIN (default
# ../shared/anchors/scipy_train.py beside the repository), KEEP=dir to keep
# the outputs.
set -euo pipefail

rows=${1:?usage: compare_scipy.sh ROWS.csv[.gz] [RUNS] [-- flags]}
shift
runs=5
if [[ $# -gt 0 && $1 != -- ]]; then runs=$1; shift; fi
[[ $# -gt 0 && $1 == -- ]] && shift
flags=("$@")

python=${PYTHON:-/usr/bin/python3}
script=${SCIPY_TRAIN:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/anchors/scipy_train.py}
here=$(cd "$(dirname "$0")" && pwd)
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
[[ -z ${KEEP:-} ]] && trap 'rm -rf "$work"' EXIT

plain=$rows
if [[ $rows == *.gz ]]; then
	plain=$work/rows.csv
	gunzip -c "$rows" >"$plain"
fi
(cd "$here" && go build -o "$work/kmbench" .)

for i in $(seq "$runs"); do
	"$python" "$script" "$plain" "${flags[@]}" >"$work/scipy.$i.txt"
	"$work/kmbench" train --rows "$plain" "${flags[@]}" >"$work/kmbench.$i.txt"
	printf 'run %d: scipy %s s, kmbench %s s\n' "$i" \
		"$(sed -n 's/^total .*seconds=\([0-9.]*\).*/\1/p' "$work/scipy.$i.txt")" \
		"$(sed -n 's/^total .*seconds=\([0-9.]*\).*/\1/p' "$work/kmbench.$i.txt")"
done

median() { # median of the total seconds in the given files
	sed -n 's/^total .*seconds=\([0-9.]*\).*/\1/p' "$@" | sort -g |
		awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else printf "%.4f\n", (v[NR/2]+v[NR/2+1])/2}'
}
ms=$(median "$work"/scipy.*.txt)
mk=$(median "$work"/kmbench.*.txt)

awk -v ms="$ms" -v mk="$mk" -v runs="$runs" '
	/^exercise=/ {
		split($1, e, "="); split($3, l, "=")
		if (FILENAME ~ /scipy/) { s[e[2]] = l[2]; ns++ } else { k[e[2]] = l[2]; nk++ }
	}
	END {
		bad = 0; max = 0
		for (x in s) {
			if (!(x in k)) { print "missing in kmbench: " x; bad = 1; continue }
			d = s[x] - k[x]; if (d < 0) d = -d
			if (d > max) { max = d; arg = x }
		}
		for (x in k) if (!(x in s)) { print "missing in scipy: " x; bad = 1 }
		printf "exercises: scipy %d, kmbench %d\n", ns, nk
		printf "max |loss difference|: %.3g (%s)\n", max, arg
		printf "median total seconds over %d runs: scipy %.4f, kmbench %.4f, ratio %.2fx\n", runs, ms, mk, ms / mk
		if (max > 1e-7) { print "FAIL: loss difference above 1e-7"; bad = 1 }
		exit bad
	}' "$work/scipy.1.txt" "$work/kmbench.1.txt"
