#!/usr/bin/env bash
# The live daemon against a local AWS (moto server), with the sample trails flowing through it:
# installs what is missing, starts moto, deploys deploy/cloudformation/trailwatch.yaml (trail
# bucket with S3 → SQS notifications for log files, the queue with its dead-letter queue, the
# alert topic, the daemon's role), seeds the account with standing IAM risks
# (deploy/local/seed-posture.py) and prints `trailwatch audit` (its findings imported into
# Security Hub), runs `trailwatch run --audit` on the stack's outputs, uploads every sample file
# and shows the alerts and posture findings as they arrive (stdout sink) and as SNS delivered
# them; then a GuardDuty, a Security Hub and an Access Analyzer finding arrive on the queue as
# EventBridge delivers them, and an administrator gives a user without MFA a console password,
# the trail says so, and the re-audited finding follows the alert.
#
#   deploy/local/run.sh            # runs until Ctrl-C
#   DEMO_SECONDS=20 deploy/local/run.sh   # stops by itself
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf '\n==== %s\n' "$*"; }
say "tools: moto server at its pinned version (deploy/tools.sh --demo)"
deploy/tools.sh --demo
say "build: tests/build.sh, the build tests/run.sh uses too (the first one compiles the AWS SDK: about 8 minutes on 2 cores)"
build_start=$SECONDS
tests/build.sh
say "build: done in $((SECONDS - build_start))s"
port=${MOTO_PORT:-4566}
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

# The samples' account, so the stack's notification filter (AWSLogs/ACCOUNT/CloudTrail/) fits.
MOTO_ACCOUNT_ID=111122223333 MOTO_IAM_LOAD_MANAGED_POLICIES=true moto_server -H 127.0.0.1 -p "$port" >/tmp/trailwatch-moto.log 2>&1 &
moto_pid=$!
trap 'kill ${daemon_pid:-} $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.2; done

# The CloudFormation stack, driven by boto3 (it comes with moto). Assigned first, so a
# failure stops the script here instead of leaving the variables unset.
stack_outputs="$(python3 - <<'PY'
import ast, boto3, json, time
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
# moto's CloudFormation stores a role's inline policy as an object, which its own
# GetAccountAuthorizationDetails then cannot serialize (HTTP 500, an ERROR finding for every
# check that needs it): put the daemon role's policy back as JSON text.
iam = boto3.client("iam")
for role in iam.list_roles()["Roles"]:
    for name in iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"]
        doc = ast.literal_eval(doc) if isinstance(doc, str) else doc
        doc["Statement"] = [s for s in doc["Statement"] if isinstance(s, dict) and "Sid" in s]
        iam.put_role_policy(RoleName=role["RoleName"], PolicyName=name, PolicyDocument=json.dumps(doc))
topic = out["AlertTopicArn"]
readback = sqs.create_queue(QueueName="alerts-readback")["QueueUrl"]
rb_arn = sqs.get_queue_attributes(QueueUrl=readback, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=rb_arn, Attributes={"RawMessageDelivery": "true"})
print(f"QUEUE={out['QueueUrl']} TOPIC={topic} READBACK={readback}")
PY
)"
eval "$stack_outputs"

# One region keeps the demo's tables short (by default every enabled region is audited: moto
# lists over thirty); findings go to Security Hub; the security services' findings from high up.
config=/tmp/trailwatch-demo.toml
cat > "$config" <<'TOML'
[audit]
regions = ["us-east-1"]
security_hub = true

[findings]
min_severity = "high"
TOML

say "posture: seeding the account with standing IAM risks, then trailwatch audit --security-hub"
python3 deploy/local/seed-posture.py >/dev/null
target/debug/trailwatch audit --config "$config" --format table || true

say "daemon: trailwatch run --audit (alerts, posture changes and findings to stdout and SNS)"
target/debug/trailwatch run --config "$config" --queue-url "$QUEUE" --sns-topic-arn "$TOPIC" --jsonl - --audit \
    --metrics-addr 127.0.0.1:9464 > /tmp/trailwatch-alerts.jsonl &
daemon_pid=$!
sleep 1

echo "== stack outputs: queue $QUEUE, alert topic $TOPIC"
echo "== uploading the sample trails to s3://org-trail-logs in delivery-time order, each once the last was handled (digests included: the notification filter skips them)"
python3 - "$QUEUE" <<'PY'
import boto3, pathlib, sys, time
s3, sqs = boto3.client("s3"), boto3.client("sqs")
queue = sys.argv[1]
def delivered_at(p):
    return next((part for part in p.name.split("_") if "T" in part and part.endswith("Z")), p.name)
# As CloudTrail delivers them: one file after another. Correlations count events in event-time
# order; a burst of files handled in any order can put older events behind the newest by more
# than correlation.lateness (replay is the tool for archives).
for f in sorted(pathlib.Path("samples").rglob("*.json.gz"), key=delivered_at):
    s3.upload_file(str(f), "org-trail-logs", str(f.relative_to("samples")))
    for _ in range(100):
        a = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        if a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0":
            break
        time.sleep(0.1)
PY

echo "== alerts and posture changes as they arrive; metrics on http://127.0.0.1:9464/metrics"
tail -n +1 -f /tmp/trailwatch-alerts.jsonl | python3 -c '
import json, sys
for line in sys.stdin:
    a = json.loads(line)
    if a.get("kind") == "finding":
        print("%8s  finding  %-24s %s: %s" % (a["severity"], a["product"], (a.get("resource") or {}).get("id", "-"), a["title"]), flush=True)
        continue
    if a.get("kind") == "posture":
        f = a["finding"]
        why = " after " + a["trigger"]["event_name"] if a.get("trigger") else ""
        print("%8s  posture %-8s %-24s %s: %s%s" % (f["severity"], a["change"], f["check"],
              f["resource"].rsplit(":", 1)[-1], f["reason"], why), flush=True)
        continue
    rule = a["rule"]
    who = ""
    if a.get("posture"):
        p = a["posture"]
        who = "  [actor posture: admin %s, mfa %s, failing %s]" % (p.get("admin"), p.get("mfa"), ",".join(p["failing"]) or "-")
    print("%8s  %-32s %s%s" % (rule["level"], rule["name"], a["summary"], who), flush=True)
' &
tail_pid=$!

# The security services' findings, as their EventBridge rules put them on the queue.
sleep 8
echo "== a GuardDuty, a Security Hub and an Access Analyzer finding arrive on the queue"
python3 - "$QUEUE" <<'PY'
import boto3, pathlib, sys
sqs = boto3.client("sqs")
for f in sorted(pathlib.Path("tests/data/findings").glob("*.json")):
    sqs.send_message(QueueUrl=sys.argv[1], MessageBody=f.read_text())
PY

# An IAM change on the trail: admin-alice gives ci-dave (no MFA) a console password.
sleep 4
echo "== admin-alice creates a console password for ci-dave, who has no MFA; the trail delivers the event"
python3 - <<'PY'
import boto3, gzip, json
boto3.client("iam").create_login_profile(UserName="ci-dave", Password="Demo-Passw0rd-123")
record = {"eventVersion": "1.09", "eventTime": "2026-11-25T10:00:00Z", "eventSource": "iam.amazonaws.com",
    "eventName": "CreateLoginProfile", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
    "userAgent": "aws-cli/2.15", "eventID": "demo-create-login-profile", "eventType": "AwsApiCall",
    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/admin-alice",
                     "accountId": "111122223333", "userName": "admin-alice"},
    "requestParameters": {"userName": "ci-dave", "passwordResetRequired": False},
    "recipientAccountId": "111122223333"}
key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/25/111122223333_CloudTrail_us-east-1_20261125T1000Z_demo.json.gz"
boto3.client("s3").put_object(Bucket="org-trail-logs", Key=key, Body=gzip.compress(json.dumps({"Records": [record]}).encode()))
PY
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
print(n)") alerts, posture changes and findings to the topic; Security Hub holds $(python3 -c "
import boto3
print(sum(1 for p in boto3.client('securityhub').get_paginator('get_findings').paginate() for f in p['Findings'] if f['Id'].startswith('trailwatch/')))") trailwatch findings"
    curl -s 127.0.0.1:9464/metrics | grep -E '^trailwatch_(sqs_messages_(received|deleted)_total|events_total|s3_objects_total|posture_changes_total|findings_total)'
else
    wait $daemon_pid
fi
