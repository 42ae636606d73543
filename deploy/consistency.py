#!/usr/bin/env python3
"""The two infrastructure definitions, the documentation and the code say the same thing.

deploy/cloudformation/trailwatch.yaml and deploy/terraform/ are written by hand in two
languages; this keeps them one design: the same inputs, the same outputs, and the daemon's
IAM policy with the same statements and actions, which are also the policy docs/deployment.md
prints;
and its AuditPosture statement grants exactly the permissions the posture audit's calls need.
Parses the template with cfn-lint's loader and the module with python-hcl2.
"""

import glob
import json
import re
import sys

import hcl2
from cfnlint.decode import decode

TEMPLATE = "deploy/cloudformation/trailwatch.yaml"
MODULE = "deploy/terraform"
POLICY_DOC = "docs/deployment.md"
AUDIT_SOURCES = "src/audit/collect"

# Terraform-only: the name prefix (CloudFormation takes it from the stack).
TERRAFORM_ONLY_VARIABLES = {"name"}
# CloudFormation-only: the notification to add by hand to a bucket the stack does not own
# (the module's aws_s3_bucket_notification manages any bucket).
CLOUDFORMATION_ONLY_OUTPUTS = {"bucket_notification"}


def snake(camel):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def walk(node):
    """Every dict inside a parsed document."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def flat(value):
    """hcl2 wraps attribute values in lists; CloudFormation allows a string or a list."""
    out = []
    for v in value if isinstance(value, list) else [value]:
        out.extend(flat(v) if isinstance(v, list) else [v])
    return out


def cloudformation():
    template, errors = decode(TEMPLATE)
    if errors:
        sys.exit(f"{TEMPLATE}: {errors}")
    policy = template["Resources"]["DaemonRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    statements = {
        s["Sid"]: set(flat(s["Action"])) for s in walk(policy) if "Sid" in s and "Action" in s
    }
    params = {snake(p) for p in template["Parameters"]}
    outputs = {snake(o) for o in template["Outputs"]}
    return params, outputs, statements


def unquote(node):
    """The parse without python-hcl2's version quirks.

    Before 8.x it gave block labels and strings bare; 8.x keeps their double quotes
    ('"aws_iam_policy_document"', '"A"') and marks blocks with `__is_block__`. Both forms
    become the bare one here, so the checks below hold whichever version parsed the module.
    """
    if isinstance(node, dict):
        return {unquote(k): unquote(v) for k, v in node.items() if k != "__is_block__"}
    if isinstance(node, list):
        return [unquote(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def terraform():
    docs = []
    for path in sorted(glob.glob(f"{MODULE}/*.tf")):
        with open(path) as f:
            docs.append(unquote(hcl2.load(f)))
    if not docs:
        sys.exit(f"{MODULE}: no *.tf files")
    variables, outputs, statements = set(), set(), None
    for doc in docs:
        for block in doc.get("variable", []):
            variables.update(block)
        for block in doc.get("output", []):
            outputs.update(block)
        for block in doc.get("data", []):
            daemon = block.get("aws_iam_policy_document", {}).get("daemon")
            if daemon is not None:
                statements = {
                    flat(s["sid"])[0]: set(flat(s["actions"]))
                    for s in walk(daemon)
                    if "sid" in s and "actions" in s
                }
    if statements is None:
        sys.exit(
            f"{MODULE}/*.tf: looked for the block data \"aws_iam_policy_document\" \"daemon\" "
            "with statement blocks holding sid and actions, and found none"
        )
    return variables, outputs, statements


def readme():
    text = open(POLICY_DOC).read()
    m = re.search(r"<!-- daemon-iam-policy -->\s*```json\n(.*?)```", text, re.S)
    if not m:
        sys.exit(f"{POLICY_DOC}: no ```json block after <!-- daemon-iam-policy -->")
    policy = json.loads(m.group(1))
    return {s["Sid"]: set(flat(s["Action"])) for s in policy["Statement"]}


def audit_permissions():
    """Every IAM permission the posture audit's calls need: each ApiError's `call`, which is
    also the permission's name."""
    found = set()
    for path in sorted(glob.glob(f"{AUDIT_SOURCES}/*.rs")):
        text = open(path).read()
        found.update(re.findall(r'api_error\(\s*"([^"]+)"', text))
        found.update(re.findall(r'all_items!\([^;]*?,\s*"([^"]+)"\s*\)', text, re.S))
        found.update(re.findall(r'call:\s*"([^"]+)"', text))
    if not found:
        sys.exit(f"{AUDIT_SOURCES}: no api_error(call, ...) or all_items!(..., call) found")
    return found


def main():
    problems = []
    cfn_params, cfn_outputs, cfn_policy = cloudformation()
    tf_vars, tf_outputs, tf_policy = terraform()
    readme_policy = readme()

    if cfn_params != tf_vars - TERRAFORM_ONLY_VARIABLES:
        problems.append(
            f"inputs differ: only in CloudFormation {sorted(cfn_params - tf_vars)}, "
            f"only in Terraform {sorted(tf_vars - cfn_params - TERRAFORM_ONLY_VARIABLES)}"
        )
    if cfn_outputs - CLOUDFORMATION_ONLY_OUTPUTS != tf_outputs:
        problems.append(
            f"outputs differ: only in CloudFormation {sorted(cfn_outputs - tf_outputs - CLOUDFORMATION_ONLY_OUTPUTS)}, "
            f"only in Terraform {sorted(tf_outputs - cfn_outputs)}"
        )
    for name, policy in [("Terraform", tf_policy), ("docs/deployment.md", readme_policy)]:
        if policy != cfn_policy:
            problems.append(f"daemon policy: CloudFormation {cfn_policy} but {name} {policy}")

    audit = audit_permissions()
    granted = cfn_policy.get("AuditPosture", set())
    if audit != granted:
        problems.append(
            f"posture audit: the code calls {sorted(audit - granted)} that AuditPosture does not grant, "
            f"and AuditPosture grants {sorted(granted - audit)} that the code never calls"
        )

    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    actions = sorted(set().union(*cfn_policy.values()))
    print(
        f"consistent: {len(cfn_params)} inputs, {len(tf_outputs)} outputs, "
        f"{len(cfn_policy)} policy statements ({', '.join(actions)})"
    )


if __name__ == "__main__":
    main()
