#!/usr/bin/env bash
# Replay at archive scale, every number from one run on the same files (docs/performance.md's
# "Replay at archive scale" table):
#   - a 1 GB single-file trail, a third of its records matching a built-in rule: zcat alone,
#     replay with six simple rules and with the full pack, on one thread and on all, the
#     correlations' share, peak memory;
#   - a 10 GB archive of the same density over many files: full pack, all threads, peak memory.
#
#   benches/replay-scale.sh [SIZE_MB_SMALL] [SIZE_MB_LARGE]     (default 1000 10000)
#
# Needs about 1.2 GB of disk per 10 GB of archive (it is written gzipped), in $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-1000}
large=${2:-10000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building the release binary (about 12 minutes from clean)" >&2
cargo build --release --quiet
tw=${CARGO_TARGET_DIR:-target}/release/trailwatch

echo "== writing a ${small} MB single-file archive and a ${large} MB archive of 50,000-record files, density 0.3" >&2
$tw generate --out "$work/one" --size-mb "$small" --density 0.3 --records-per-file 100000000 --seed 5 >&2
$tw generate --out "$work/many" --size-mb "$large" --density 0.3 --records-per-file 50000 --seed 7 >&2
one=$(find "$work/one" -name '*.json.gz')

# The rule sets: six simple stateless rules, and the pack without its correlations.
six=(--rule root-console-login --rule iam-user-created --rule cloudtrail-stopped
     --rule access-key-created --rule mfa-device-deactivated --rule security-group-change)
cp -r rules "$work/no-correlations"
rm -r "$work/no-correlations/correlation"

# Runs a command three times; prints the best wall time (s) and its peak RSS (MB).
best() {
    local t m best_t="" best_m=""
    for _ in 1 2 3; do
        /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2>&1
        read -r t m < "$work/time"
        if [[ -z $best_t ]] || awk "BEGIN { exit !($t < $best_t) }"; then best_t=$t; best_m=$m; fi
    done
    echo "$best_t $((best_m / 1024))"
}

mb=$(( small ))
row() { # label, seconds, peak MB
    printf '| %s | %s s | %s MB/s | %s MB |\n' "$1" "$2" "$(awk "BEGIN { printf \"%.0f\", $mb / $2 }")" "$3"
}

echo "== measuring (best of 3 each)" >&2
echo "| ${small} MB single file, density 0.3 | time | decompressed MB/s | peak memory |"
echo "|---|---|---|---|"
read -r t m < <(best sh -c "zcat '$one' > /dev/null"); row "zcat alone" "$t" "$m"
read -r t m < <(best $tw replay --threads 1 "${six[@]}" "$one"); row "six simple rules, 1 thread" "$t" "$m"
read -r t m < <(best $tw replay "${six[@]}" "$one"); row "six simple rules, all threads" "$t" "$m"
read -r t m < <(best $tw replay --threads 1 --rules "$work/no-correlations" "$one"); row "pack without correlations, 1 thread" "$t" "$m"
read -r t m < <(best $tw replay --threads 1 "$one"); row "full pack, 1 thread" "$t" "$m"
read -r t m < <(best $tw replay "$one"); row "full pack, all threads" "$t" "$m"
echo
echo "| ${large} MB archive, $(find "$work/many" -name '*.json.gz' | wc -l) files, density 0.3 | time | decompressed MB/s | peak memory |"
echo "|---|---|---|---|"
mb=$(( large ))
read -r t m < <(best $tw replay "$work/many"); row "full pack, all threads" "$t" "$m"
echo "(cores: $(nproc))"
