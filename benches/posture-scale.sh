#!/usr/bin/env bash
# The posture audit on a large account: moto server seeded with USERS IAM users (a third with
# console passwords, half with access keys, some in groups, with the mixed policies of
# benches/permissions.rs) and ROLES roles, then `trailwatch audit` timed, with the API calls it
# made counted from moto's request log. benches/permissions.rs measures the permission checks'
# share of the run. Numbers go in docs/performance.md.
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

echo "== seeding $users users and $roles roles with mixed policies"
start=$SECONDS
# The same mix as benches/permissions.rs: inline and managed policies, groups, wildcards,
# NotAction, conditions, boundaries, variables, several trust shapes.
python3 - "$users" "$roles" <<'PY'
import json, sys
import boto3
users, roles = int(sys.argv[1]), int(sys.argv[2])
iam = boto3.client("iam")
account = boto3.client("sts").get_caller_identity()["Account"]
doc = lambda *st: json.dumps({"Version": "2012-10-17", "Statement": list(st)})
allow = lambda action, resource="*", **kw: dict(Effect="Allow", Action=action, Resource=resource, **kw)
def user_policy(i):
    return {
        0: doc(allow(["s3:GetObject", "s3:ListBucket"])),
        1: doc(allow(["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys"], "arn:aws:iam::*:user/${aws:username}")),
        2: doc(allow(["iam:PassRole", "ec2:RunInstances"])),
        3: doc(allow("iam:Attach*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
        4: doc({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}),
        5: doc(allow(["dynamodb:*", "sqs:SendMessage"], [f"arn:aws:dynamodb:us-east-1:{account}:table/app-*", f"arn:aws:sqs:us-east-1:{account}:jobs"]),
               {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"}),
        6: doc(allow("s3:*", "arn:aws:s3:::${aws:PrincipalTag/team}-data/*")),
    }.get(i % 11)
def trust(i):
    principal = [
        {"Service": "ec2.amazonaws.com"}, {"Service": "ec2.amazonaws.com"}, {"Service": "lambda.amazonaws.com"},
        {"AWS": "arn:aws:iam::999988887777:root"}, {"AWS": "*"}, {"AWS": f"arn:aws:iam::{account}:root"},
    ][i % 6]
    condition = {3: {"StringEquals": {"sts:ExternalId": "x"}}, 4: {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}.get(i % 6)
    st = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    if condition:
        st["Condition"] = condition
    return doc(st)
admin = "arn:aws:iam::aws:policy/AdministratorAccess"
managed = []
for p in range(10):
    body = {0: doc(allow("*")), 1: doc(allow(["iam:Get*", "iam:List*"])), 2: doc(allow(["ec2:Describe*", "cloudwatch:*", "logs:*"]))}.get(
        p, doc(allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::bucket-{p}/*")))
    managed.append(iam.create_policy(PolicyName=f"managed-{p}", PolicyDocument=body)["Policy"]["Arn"])
for g in range(20):
    iam.create_group(GroupName=f"team-{g}")
    if user_policy(g + 3):
        iam.put_group_policy(GroupName=f"team-{g}", PolicyName="team", PolicyDocument=user_policy(g + 3))
    iam.attach_group_policy(GroupName=f"team-{g}", PolicyArn=admin if g == 0 else managed[g % 10])
for i in range(users):
    name = f"user-{i:05}"
    iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": f"t{i % 8}"}],
                    **({"PermissionsBoundary": managed[2]} if i % 17 == 0 else {}))
    if i % 3 == 0:
        iam.create_login_profile(UserName=name, Password="Bench-Passw0rd-123")
    if i % 2 == 0:
        iam.create_access_key(UserName=name)
    if i % 5 == 0:
        iam.add_user_to_group(GroupName=f"team-{i % 20}", UserName=name)
    if user_policy(i):
        iam.put_user_policy(UserName=name, PolicyName="direct", PolicyDocument=user_policy(i))
    if i % 13 == 0:
        iam.attach_user_policy(UserName=name, PolicyArn=managed[i % 10])
for i in range(roles):
    name = f"role-{i:05}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(i))
    if user_policy(i + 1):
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=user_policy(i + 1))
    if i % 50 == 0:
        iam.attach_role_policy(RoleName=name, PolicyArn=admin)
    elif i % 50 % 4 == 0:
        iam.attach_role_policy(RoleName=name, PolicyArn=managed[i % 50 % 10])
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
