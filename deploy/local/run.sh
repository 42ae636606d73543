#!/usr/bin/env bash
# The live daemon against a local AWS (moto server), with the sample trails flowing through it:
# installs what is missing, starts moto, deploys deploy/cloudformation/trailwatch.yaml (trail
# bucket with S3 → SQS notifications for log files, the queue with its dead-letter queue, the
# alert topic, the daemon's role), runs `trailwatch run` on the stack's outputs, uploads every
# sample file and shows the alerts as they arrive (stdout sink) and as SNS delivered them.
#
#   deploy/local/run.sh            # runs until Ctrl-C
#   DEMO_SECONDS=20 deploy/local/run.sh   # stops by itself
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '\n==== %s\n' "$*"; }
say "tools: moto server at its pinned version (deploy/tools.sh --demo)"
deploy/tools.sh --demo
say "build: cargo build (the first build compiles the AWS SDK: several minutes on 2 cores)"
build_start=$SECONDS
cargo build
say "build: done in $((SECONDS - build_start))s"
port=${MOTO_PORT:-4566}
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

# The samples' account, so the stack's notification filter (AWSLogs/ACCOUNT/CloudTrail/) fits.
MOTO_ACCOUNT_ID=111122223333 moto_server -H 127.0.0.1 -p "$port" >/tmp/trailwatch-moto.log 2>&1 &
moto_pid=$!
trap 'kill ${daemon_pid:-} $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.2; done

# The CloudFormation stack, driven by boto3 (it comes with moto).
eval "$(python3 - <<'PY'
import boto3, json, time
cf, sqs, sns, s3 = (boto3.client(s) for s in ("cloudformation", "sqs", "sns", "s3"))
cf.create_stack(StackName="trailwatch", Capabilities=["CAPABILITY_IAM"],
    TemplateBody=open("deploy/cloudformation/trailwatch.yaml").read(),
    Parameters=[{"ParameterKey": "TrailBucketName", "ParameterValue": "org-trail-logs"}])
while (stack := cf.describe_stacks(StackName="trailwatch")["Stacks"][0])["StackStatus"].endswith("IN_PROGRESS"):
    time.sleep(0.2)
assert stack["StackStatus"] == "CREATE_COMPLETE", stack
out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
# moto's CloudFormation creates the bucket without its notification configuration; the
# template's BucketNotification output (the step for a bucket the stack does not own) has it.
s3.put_bucket_notification_configuration(Bucket=out["TrailBucketName"],
    NotificationConfiguration=json.loads(out["BucketNotification"]))
topic = out["AlertTopicArn"]
readback = sqs.create_queue(QueueName="alerts-readback")["QueueUrl"]
rb_arn = sqs.get_queue_attributes(QueueUrl=readback, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=rb_arn, Attributes={"RawMessageDelivery": "true"})
print(f"QUEUE={out['QueueUrl']} TOPIC={topic} READBACK={readback}")
PY
)"

target/debug/trailwatch run --queue-url "$QUEUE" --sns-topic-arn "$TOPIC" --jsonl - \
    --metrics-addr 127.0.0.1:9464 > /tmp/trailwatch-alerts.jsonl &
daemon_pid=$!
sleep 1

echo "== stack outputs: queue $QUEUE, alert topic $TOPIC"
echo "== uploading the sample trails to s3://org-trail-logs (digests included: the notification filter skips them)"
python3 - <<'PY'
import boto3, pathlib
s3 = boto3.client("s3")
for f in sorted(pathlib.Path("samples").rglob("*.json.gz")):
    s3.upload_file(str(f), "org-trail-logs", str(f.relative_to("samples")))
PY

echo "== alerts as they arrive (rule, actor, summary); metrics on http://127.0.0.1:9464/metrics"
tail -n +1 -f /tmp/trailwatch-alerts.jsonl | python3 -c '
import json, sys
for line in sys.stdin:
    a = json.loads(line)
    rule = a["rule"]
    print("%8s  %-32s %s" % (rule["level"], rule["name"], a["summary"]), flush=True)
' &
tail_pid=$!
if [ -n "${DEMO_SECONDS:-}" ]; then
    sleep "$DEMO_SECONDS"
    kill $tail_pid 2>/dev/null || true
    echo "== SNS delivered $(python3 -c "
import boto3
sqs = boto3.client('sqs'); n = 0
while True:
    m = sqs.receive_message(QueueUrl='$READBACK', MaxNumberOfMessages=10, WaitTimeSeconds=1).get('Messages', [])
    if not m: break
    n += len(m)
    for x in m: sqs.delete_message(QueueUrl='$READBACK', ReceiptHandle=x['ReceiptHandle'])
print(n)") alerts to the topic"
    curl -s 127.0.0.1:9464/metrics | grep -E '^trailwatch_(sqs_messages_(received|deleted)_total|events_total|s3_objects_total)'
else
    wait $daemon_pid
fi
