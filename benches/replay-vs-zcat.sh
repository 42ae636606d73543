#!/usr/bin/env bash
# Full replay vs decompression alone on the same synthetic archive, plus peak memory on one
# 1 GB single-line log file. Numbers go in docs/performance.md.
#
#   benches/replay-vs-zcat.sh [SIZE_MB]      (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-500}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
tw=${CARGO_TARGET_DIR:-target}/release/trailwatch
$tw generate --out "$work/archive" --size-mb "$size" --seed 1

echo "== zcat alone (decompression floor), 3 runs"
for _ in 1 2 3; do
    /usr/bin/time -f "zcat: %e s" sh -c "find '$work/archive' -name '*.json.gz' -print0 | xargs -0 zcat > /dev/null"
done
# `sed -n 1p` reads the whole summary: closing the pipe early would end replay with SIGPIPE.
echo "== trailwatch replay with the built-in pack, 3 runs"
for _ in 1 2 3; do
    $tw replay "$work/archive" 2>&1 >/dev/null | sed -n 1p
done
echo "== trailwatch replay --threads 1"
$tw replay --threads 1 "$work/archive" 2>&1 >/dev/null | sed -n 1p

echo "== one 1 GB single-line file (uncompressed size), gzipped"
python3 - "$work/big.json.gz" <<'PY'
import gzip, json, sys
rec = {"eventVersion": "1.09", "userIdentity": {"type": "IAMUser", "userName": "alice"},
       "eventTime": "2026-11-20T09:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "GetUser",
       "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.30",
       "requestParameters": {"userName": "bob", "padding": "x" * 1000}, "responseElements": None}
with gzip.open(sys.argv[1], "wb", compresslevel=1) as f:
    f.write(b'{"Records":[')
    written, n = 0, 0
    while written < 1_000_000_000:
        rec["eventID"] = f"e-{n}"
        b = (b"," if n else b"") + json.dumps(rec, separators=(",", ":")).encode()
        f.write(b); written += len(b); n += 1
    f.write(b"]}")
PY
$tw replay "$work/big.json.gz" 2>&1 >/dev/null | grep -E "replay:|peak memory"
