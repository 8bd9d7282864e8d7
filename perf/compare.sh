#!/bin/bash
# SPDX-License-Identifier: MIT
# compare.sh: two commits, one benchmark, runs alternated; each figure's ratio with a 90% CI.
#
#   perf/compare.sh [--rounds N] [--preset P] [--dir D] [--csv] BASE HEAD BENCH [ARGS...]
#   perf/compare.sh --rounds 5 HEAD~1 HEAD bench_reactor --runs 1 --conns 1024 --no-udp
#   perf/compare.sh main HEAD bench_ingest.sh --runs 1 --targets raw_recv,sluiced-null
#
# Builds BASE and HEAD (any commit-ish; a dirty tree is not seen: commit first) in their own
# worktrees under D (default ${TMPDIR:-/tmp}/sluice-compare), preset P (default release).
# Then N rounds (default 5); each round runs the benchmark once per commit, in the order
# BASE,HEAD on odd rounds and HEAD,BASE on even ones, so that a machine getting slower or
# faster during the session does not favour either side. BENCH is a program of perf/
# (run as BUILD/perf/BENCH ARGS --csv) or a script of perf/ ending in .sh (run from that
# commit's own tree as perf/BENCH --build BUILD ARGS --csv); ARGS are passed as given.
#
# Every CSV row of the benchmark is one configuration. Rows are matched across runs by
# their position and their non-numeric columns. A figure is a numeric column whose value
# differs between runs (configuration columns such as conns stay constant and are left
# out). For each row and figure: the medians of BASE and HEAD over the rounds, and the
# ratio HEAD/BASE as the geometric mean of the per-round ratios (each round's two runs are
# a pair: ran minutes apart at most), with a 90% confidence interval from Student's t over
# the log ratios. An interval that holds 1 means: no difference this session could show.
# For a figure where lower is better (ns_per_msg, a latency, cpu), a ratio above 1 is a
# slowdown; the script does not guess which way is better.
#
# Output: a table on stdout (--csv: bench,row,figure,base_median,head_median,ratio,
# ci90_low,ci90_high,rounds). Every run's CSV is kept in D/runs/. Progress on stderr.
# Exit status: 0, or 1 when a build or a run failed (the failed run is reported).
set -u

rounds=5 preset=release dir="${TMPDIR:-/tmp}/sluice-compare" csv=0
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift ;;
	--preset) preset=$2; shift ;;
	--dir) dir=$2; shift ;;
	--csv) csv=1 ;;
	-h|--help) sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	-*) echo "compare: unknown option '$1' (try --help)" >&2; exit 1 ;;
	*) break ;;
	esac
	shift
done
if [ $# -lt 3 ]; then
	echo "compare: need BASE HEAD BENCH (try --help)" >&2
	exit 1
fi
case $rounds in
'' | *[!0-9]*) echo "compare: --rounds takes a number >= 2" >&2; exit 1 ;;
esac
if [ "$rounds" -lt 2 ]; then
	echo "compare: --rounds takes a number >= 2 (an interval needs two pairs)" >&2
	exit 1
fi
base=$1 head=$2 bench=$3
shift 3
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel) || exit 1
mkdir -p "$dir/runs" || exit 1

# Builds commit $1 in $dir/<sha>; prints the source tree's path.
build_commit() {
	local sha tree
	sha=$(git -C "$repo" rev-parse --verify -q "$1^{commit}") || {
		echo "compare: '$1' is not a commit" >&2
		return 1
	}
	tree="$dir/$sha"
	if [ ! -d "$tree" ]; then
		git -C "$repo" worktree add -q --detach "$tree" "$sha" >&2 || return 1
	fi
	echo "compare: building $1 ($sha) in $tree" >&2
	(cd "$tree" && cmake --preset "$preset" >/dev/null && cmake --build --preset "$preset" >/dev/null) ||
		{
			echo "compare: the build of $1 failed" >&2
			return 1
		}
	echo "$tree"
}

tree_base=$(build_commit "$base") || exit 1
tree_head=$(build_commit "$head") || exit 1

fail=0
tag=$(date +%Y%m%d-%H%M%S)
for ((r = 1; r <= rounds; r++)); do
	if ((r % 2)); then order="base head"; else order="head base"; fi
	for side in $order; do
		if [ "$side" = base ]; then tree=$tree_base; else tree=$tree_head; fi
		out="$dir/runs/$tag-r$r-$side.csv"
		echo "compare: round $r/$rounds, $side" >&2
		case $bench in
		*.sh) (cd "$tree" && "perf/$bench" --build "$tree/build/$preset" "$@" --csv) >"$out" ;;
		*) "$tree/build/$preset/perf/$bench" "$@" --csv >"$out" ;;
		esac
		rc=$?
		if [ $rc -ne 0 ] || [ "$(wc -l <"$out")" -lt 2 ]; then
			echo "compare: round $r, $side: the run failed (exit $rc; output in $out)" >&2
			fail=1
		fi
	done
done
[ $fail -eq 0 ] || exit 1

# One awk over every run's CSV: file names say round and side.
awk -v csv="$csv" -v bench="$bench" -v rounds="$rounds" '
function isnum(s) { return s ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ }
# Student t, two-sided 90% (one-sided 0.95), by degrees of freedom; 1.645 beyond 30.
function tq(df) {
	split("6.314 2.920 2.353 2.132 2.015 1.943 1.895 1.860 1.833 1.812 1.796 1.782 1.771 " \
	      "1.761 1.753 1.746 1.740 1.734 1.729 1.725 1.721 1.717 1.714 1.711 1.708 1.706 " \
	      "1.703 1.701 1.699 1.697", T, " ")
	return df <= 30 ? T[df] : 1.645
}
function median(a, n,    i, j, t, b) {
	for (i = 1; i <= n; i++) b[i] = a[i]
	for (i = 2; i <= n; i++) { t = b[i]; for (j = i - 1; j >= 1 && b[j] > t; j--) b[j + 1] = b[j]; b[j + 1] = t }
	return n % 2 ? b[(n + 1) / 2] : (b[n / 2] + b[n / 2 + 1]) / 2
}
FNR == 1 {
	match(FILENAME, /-r[0-9]+-/); rnd = substr(FILENAME, RSTART + 2, RLENGTH - 3) + 0
	side = FILENAME ~ /-base\.csv$/ ? "base" : "head"
	nh = split($0, H, ","); row = 0; next
}
{
	row++; n = split($0, F, ","); key = row
	for (i = 1; i <= n; i++) if (F[i] != "" && !isnum(F[i])) key = key ":" F[i]
	if (!(key in seen)) { seen[key] = 1; keys[++nkeys] = key }
	for (i = 1; i <= n && i <= nh; i++) if (isnum(F[i])) {
		id = key SUBSEP H[i]
		if (!(id in fseen)) { fseen[id] = 1; figs[key, ++nf[key]] = H[i] }
		v[id, side, rnd] = F[i] + 0
		if (!((id) in first)) first[id] = F[i] + 0
		else if (F[i] + 0 != first[id]) varies[id] = 1
	}
}
END {
	if (csv) print "bench,row,figure,base_median,head_median,ratio,ci90_low,ci90_high,rounds"
	else printf "%-28s %-18s %14s %14s %8s  %s\n", "row", "figure", "base_median", "head_median", "ratio", "90% CI"
	for (k = 1; k <= nkeys; k++) {
		key = keys[k]
		for (f = 1; f <= nf[key]; f++) {
			fig = figs[key, f]; id = key SUBSEP fig
			if (!(id in varies)) continue
			m = 0; s = 0; ss = 0; nb = 0; nhd = 0; delete b; delete h
			for (r = 1; r <= rounds; r++) {
				if ((id, "base", r) in v) b[++nb] = v[id, "base", r]
				if ((id, "head", r) in v) h[++nhd] = v[id, "head", r]
				if (((id, "base", r) in v) && ((id, "head", r) in v) && v[id, "base", r] > 0 && v[id, "head", r] > 0) {
					l = log(v[id, "head", r] / v[id, "base", r]); m++; s += l; ss += l * l
				}
			}
			if (nb == 0 || nhd == 0) continue
			if (m >= 2) {
				mean = s / m; var = (ss - m * mean * mean) / (m - 1); if (var < 0) var = 0
				half = tq(m - 1) * sqrt(var / m)
				ratio = exp(mean); lo = exp(mean - half); hi = exp(mean + half)
				rs = sprintf("%.3f", ratio); ls = sprintf("%.3f", lo); hs = sprintf("%.3f", hi)
			} else { rs = "nan"; ls = "nan"; hs = "nan" }
			bm = median(b, nb); hm = median(h, nhd)
			if (csv) printf "%s,%s,%s,%.6g,%.6g,%s,%s,%s,%d\n", bench, key, fig, bm, hm, rs, ls, hs, m
			else printf "%-28s %-18s %14.6g %14.6g %8s  [%s, %s]\n", key, fig, bm, hm, rs, ls, hs
		}
	}
}' $(ls "$dir/runs/$tag"-r*-*.csv)
