#!/usr/bin/env bash
# The daemon's memory on alert-dense objects: moto server, OBJECTS gzipped log objects of
# RECORDS records each, a third of which alert (security group changes and new IAM users,
# rules that feed no correlation), all queued at once; the daemon drains them into a JSONL
# sink on /dev/null while its peak resident memory (VmHWM) is read from /proc. Numbers go in
# docs/performance.md.
#
#   benches/daemon-dense.sh [OBJECTS] [RECORDS]     (default 1 500000; try 16 60000)
#   TRAILWATCH_BIN=target/debug/trailwatch benches/daemon-dense.sh   (skip the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
objects=${1:-1}
records=${2:-500000}
work=$(mktemp -d)
trap 'kill $daemon_pid $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
daemon_pid=
moto_pid=

source benches/moto-env.sh
metrics_port=$(free_port)

echo "== writing $objects object(s) of $records records (a third alert) and queueing them"
queue=$(python3 - "$objects" "$records" "$work" <<'PY'
import gzip, json, sys, uuid
import boto3
objects, records, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s3, sqs = boto3.client("s3"), boto3.client("sqs")
s3.create_bucket(Bucket="trail")
url = sqs.create_queue(QueueName="events")["QueueUrl"]
ident = {"type": "IAMUser", "principalId": "AIDAEXAMPLEOPS00001", "arn": "arn:aws:iam::111122223333:user/ops",
         "accountId": "111122223333", "accessKeyId": "AKIAEXAMPLEOPS00001", "userName": "ops"}
def record(o, i):
    kind = i % 6
    name, source, params = {
        0: ("AuthorizeSecurityGroupIngress", "ec2.amazonaws.com", {"groupId": "sg-0abc1234", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        1: ("CreateUser", "iam.amazonaws.com", {"userName": f"user-{o}-{i}"}),
    }.get(kind, ("DescribeInstances", "ec2.amazonaws.com", {"instancesSet": {}}))
    return {"eventVersion": "1.09", "userIdentity": ident,
            "eventTime": f"2026-11-20T10:{(i // 10000) % 60:02d}:{(i // 200) % 60:02d}Z",
            "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli/2.17.0", "requestParameters": params,
            "responseElements": None, "requestID": str(uuid.UUID(int=(o << 40) + i)),
            "eventID": str(uuid.UUID(int=(1 << 100) + (o << 40) + i)), "readOnly": kind > 1,
            "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": "111122223333"}
for o in range(objects):
    key = f"AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T10{o:02d}Z_dense{o}.json.gz"
    body = gzip.compress(json.dumps({"Records": [record(o, i) for i in range(records)]}).encode(), 6)
    s3.put_object(Bucket="trail", Key=key, Body=body)
    note = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                         "s3": {"bucket": {"name": "trail"}, "object": {"key": key, "size": len(body)}}}]}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(note))
    print(f"   {key.rsplit('/', 1)[1]}: {len(body) / 1e6:.1f} MB gzipped", file=sys.stderr)
print(url)
PY
)
alerts=$(( objects * ( (records + 5) / 6 + (records + 4) / 6 ) ))

echo "== daemon: $tw"
start=$(date +%s.%N)
TRAILWATCH_LOG=warn "$tw" run ${TRAILWATCH_CONFIG:+--config "$TRAILWATCH_CONFIG"} --queue-url "$queue" --jsonl /dev/null \
    --metrics-addr "127.0.0.1:$metrics_port" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
metrics() { curl -s "http://127.0.0.1:$metrics_port/metrics" || true; }
metric() { metrics | awk -v m="$1" '$1 == m { print $2 }'; }
peak=0
while :; do
    hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$daemon_pid/status" 2>/dev/null || echo 0)
    [ "${hwm:-0}" -gt "$peak" ] && peak=$hwm
    deleted=$(metric trailwatch_sqs_messages_deleted_total)
    if [ "${deleted%.*}" = "$objects" ]; then break; fi
    if ! kill -0 "$daemon_pid" 2>/dev/null; then cat "$work/daemon.log"; exit 1; fi
    sleep 0.2
done
end=$(date +%s.%N)
sent=$(metrics | awk '$1 ~ /^trailwatch_sink_deliveries_total/ && /result="ok"/ { s += $2 } END { print s }')
sleep 2
after=$(awk '/VmRSS/ { print $2 }' "/proc/$daemon_pid/status")
printf '%s objects x %s records: %s alerts expected, %s delivered; drained in %.1f s\n' \
    "$objects" "$records" "$alerts" "$sent" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
printf 'peak RSS %d MB, RSS after the drain %d MB\n' $((peak / 1024)) $((after / 1024))
