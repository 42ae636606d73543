#!/usr/bin/env bash
# The posture audit on a large account: moto server seeded with USERS IAM users (a third with
# console passwords, half with access keys, some in groups, some with inline policies) and
# ROLES roles, then `trailwatch audit` timed, with the API calls it made counted from moto's
# request log. Numbers go in docs/performance.md.
#
#   benches/posture-scale.sh [USERS] [ROLES]      (default 5000 2000)
#   TRAILWATCH_BIN=target/debug/trailwatch benches/posture-scale.sh   (skip the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-5000}
roles=${2:-2000}
work=$(mktemp -d)
moto_pid=
trap 'kill $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT

MOTO_ENV=MOTO_IAM_LOAD_MANAGED_POLICIES=true
source benches/moto-env.sh

echo "== seeding $users users and $roles roles"
start=$SECONDS
python3 - "$users" "$roles" <<'PY'
import json, sys
import boto3
users, roles = int(sys.argv[1]), int(sys.argv[2])
iam = boto3.client("iam")
doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
for g in range(20):
    iam.create_group(GroupName=f"team-{g}")
iam.attach_group_policy(GroupName="team-0", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
for i in range(users):
    name = f"user-{i:05}"
    iam.create_user(UserName=name)
    if i % 3 == 0:
        iam.create_login_profile(UserName=name, Password="Bench-Passw0rd-123")
    if i % 2 == 0:
        iam.create_access_key(UserName=name)
    if i % 5 == 0:
        iam.add_user_to_group(GroupName=f"team-{i % 20}", UserName=name)
    if i % 7 == 0:
        iam.put_user_policy(UserName=name, PolicyName="direct", PolicyDocument=doc)
for i in range(roles):
    name = f"role-{i:05}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
    if i % 4 == 0:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=doc)
PY
echo "   seeded in $((SECONDS - start)) s"

before=$(grep -c '" 200 -\|" 40[0-9] -\|" 50[0-9] -' "$work/moto.log" || true)
echo "== $tw audit, 3 runs"
for run in 1 2 3; do
    /usr/bin/time -f "   run $run: %e s wall, %U s user + %S s system CPU, %M KB peak RSS" \
        "$tw" audit --format json --region us-east-1 >"$work/findings.jsonl" 2>"$work/err" || true
    tail -1 "$work/err"
done
after=$(grep -c '" 200 -\|" 40[0-9] -\|" 50[0-9] -' "$work/moto.log" || true)
echo "== per run: $(( (after - before) / 3 )) API calls (moto's request log), $(wc -l <"$work/findings.jsonl") findings"
python3 - "$work/findings.jsonl" <<'PY'
import collections, json, sys
c = collections.Counter(json.loads(l)["status"] for l in open(sys.argv[1]))
print("   by status:", dict(sorted(c.items())))
PY
