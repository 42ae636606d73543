#!/usr/bin/env python3
"""Seeds an emulated account (moto server at AWS_ENDPOINT_URL) with standing IAM risks and
security settings for `trailwatch audit`: the local demo shows its report, and
tests/audit_moto.rs asserts the exact findings for it. The region in AWS_DEFAULT_REGION gets
Security Hub, GuardDuty, a Config recorder, a multi-region trail and two load balancers with
TLS listeners; any other region is left bare.

What it creates (account 123456789012 unless MOTO_ACCOUNT_ID says otherwise):
  users   admin-alice  AdministratorAccess attached directly (an admin)
          admin-bob    in group ops-admins, whose customer policy full-star allows * on *
          dev-carol    console password without MFA, inline policy s3-read
          ci-dave      two active access keys
          old-erin     a deactivated access key
          ops-frank    in group ops, whose inline policy allows * on * (an admin, no MFA)
          self-attacher  may attach any policy to any user (itself included)
          launcher     may pass any role and run instances (escalates through ec2-admin)
          self-service may manage only its own access keys (no escalation)
  groups  ops-admins (admin-bob), ops (ops-frank, inline * on *), empty-group (no one)
  roles   app-role (inline policy), support-role (AWSSupportAccess), ec2-admin (EC2 may
          assume it; AdministratorAccess), open-role (any AWS principal may assume it),
          partner-role (account 999988887777 may assume it, no external id), vendor-role
          (account 444455556666 may assume it with an external id)
  policies full-star (attached to ops-admins), unused-star (allows * on *, attached to
          nobody), s3-read-managed (attached to app-role)
  buckets  posture-logs (private), public-reports (policy lets anyone read), public-acl
          (ACL grants AllUsers read), fenced-reports (public policy, but Block Public Access
          restricts it)
  topics/queues  public-alerts (any AWS principal may subscribe), org-queue (only the
          organization o-a1b2c3d4e5 may send)
  password policy: length 8, remembers 5, only uppercase required, no expiry
  certificates: ACM certificate expiring in 10 days on an HTTPS listener, ACM certificate
          expiring in a year on another; IAM server certificate (moto dates it 2010-2012)
          on a TLS listener
"""

import datetime
import json
import os

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")


def certificate(cn, days):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, key_pem


def policy(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


STAR = policy([{"Effect": "Allow", "Action": "*", "Resource": "*"}])
S3_READ = policy([{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}])


def seed_iam(iam):
    account = boto3.client("sts").get_caller_identity()["Account"]
    arn = lambda kind, name: f"arn:aws:iam::{account}:{kind}/{name}"
    iam.create_user(UserName="admin-alice")
    iam.attach_user_policy(UserName="admin-alice", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_user(UserName="admin-bob")
    iam.create_group(GroupName="ops-admins")
    iam.create_group(GroupName="empty-group")
    iam.create_policy(PolicyName="full-star", PolicyDocument=STAR)
    iam.create_policy(PolicyName="unused-star", PolicyDocument=STAR)
    iam.create_policy(PolicyName="s3-read-managed", PolicyDocument=S3_READ)
    iam.attach_group_policy(GroupName="ops-admins", PolicyArn=arn("policy", "full-star"))
    iam.add_user_to_group(GroupName="ops-admins", UserName="admin-bob")
    iam.create_user(UserName="dev-carol")
    iam.create_login_profile(UserName="dev-carol", Password="Correct-Horse-9")
    iam.put_user_policy(UserName="dev-carol", PolicyName="s3-read", PolicyDocument=S3_READ)
    iam.create_user(UserName="ci-dave")
    iam.create_access_key(UserName="ci-dave")
    iam.create_access_key(UserName="ci-dave")
    iam.create_user(UserName="old-erin")
    key = iam.create_access_key(UserName="old-erin")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="old-erin", AccessKeyId=key, Status="Inactive")
    trust = policy([{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}])
    iam.create_role(RoleName="app-role", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="app-role", PolicyName="inline-s3", PolicyDocument=S3_READ)
    iam.attach_role_policy(RoleName="app-role", PolicyArn=arn("policy", "s3-read-managed"))
    iam.create_role(RoleName="support-role", AssumeRolePolicyDocument=trust)
    iam.attach_role_policy(RoleName="support-role", PolicyArn="arn:aws:iam::aws:policy/AWSSupportAccess")
    seed_permissions(iam, trust)
    iam.update_account_password_policy(
        MinimumPasswordLength=8,
        PasswordReusePrevention=5,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=False,
        RequireNumbers=False,
        RequireSymbols=False,
    )


def seed_permissions(iam, ec2_trust):
    """The permission risks: admins by less obvious routes, escalation, wide trust."""
    iam.create_group(GroupName="ops")
    iam.put_group_policy(GroupName="ops", PolicyName="everything", PolicyDocument=STAR)
    iam.create_user(UserName="ops-frank")
    iam.add_user_to_group(GroupName="ops", UserName="ops-frank")
    for user, name, statements in [
        ("self-attacher", "attach", [{"Effect": "Allow", "Action": "iam:AttachUserPolicy", "Resource": "*"}]),
        ("launcher", "launch", [{"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"}]),
        (
            "self-service",
            "own-keys",
            [
                {
                    "Effect": "Allow",
                    "Action": ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys"],
                    "Resource": "arn:aws:iam::*:user/${aws:username}",
                }
            ],
        ),
    ]:
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=name, PolicyDocument=policy(statements))
    iam.create_role(RoleName="ec2-admin", AssumeRolePolicyDocument=ec2_trust)
    iam.attach_role_policy(RoleName="ec2-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    anyone = policy([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}])
    iam.create_role(RoleName="open-role", AssumeRolePolicyDocument=anyone)
    partner = policy(
        [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "sts:AssumeRole"}]
    )
    iam.create_role(RoleName="partner-role", AssumeRolePolicyDocument=partner)
    vendor = policy(
        [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "trailwatch-7f3a"}},
            }
        ]
    )
    iam.create_role(RoleName="vendor-role", AssumeRolePolicyDocument=vendor)


def seed_services():
    boto3.client("securityhub").enable_security_hub()
    boto3.client("guardduty").create_detector(Enable=True)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="posture-logs")
    config = boto3.client("config")
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": "arn:aws:iam::" + boto3.client("sts").get_caller_identity()["Account"] + ":role/config",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "posture-logs"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    trail = boto3.client("cloudtrail")
    trail.create_trail(Name="org-trail", S3BucketName="posture-logs", IsMultiRegionTrail=True, EnableLogFileValidation=True)
    trail.start_logging(Name="org-trail")


def seed_resource_policies():
    s3 = boto3.client("s3")
    read_anyone = lambda bucket: policy([{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}])
    s3.create_bucket(Bucket="public-reports")
    s3.put_bucket_policy(Bucket="public-reports", Policy=read_anyone("public-reports"))
    s3.create_bucket(Bucket="public-acl")
    s3.put_bucket_acl(Bucket="public-acl", ACL="public-read")
    s3.create_bucket(Bucket="fenced-reports")
    s3.put_bucket_policy(Bucket="fenced-reports", Policy=read_anyone("fenced-reports"))
    s3.put_public_access_block(
        Bucket="fenced-reports",
        PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True},
    )
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="public-alerts")["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=topic,
        AttributeName="Policy",
        AttributeValue=policy([{"Sid": "AnyoneSubscribes", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Subscribe", "Resource": topic}]),
    )
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="org-queue")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={"Policy": policy([{"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": queue_arn, "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}}])},
    )


def seed_load_balancers(iam):
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    acm = boto3.client("acm")
    soon_pem, soon_key = certificate("soon.example.com", 10)
    later_pem, later_key = certificate("later.example.com", 365)
    soon = acm.import_certificate(Certificate=soon_pem, PrivateKey=soon_key)["CertificateArn"]
    later = acm.import_certificate(Certificate=later_pem, PrivateKey=later_key)["CertificateArn"]
    iam_pem, iam_key = certificate("legacy.example.com", 30)
    legacy = iam.upload_server_certificate(
        ServerCertificateName="legacy", CertificateBody=iam_pem.decode(), PrivateKey=iam_key.decode()
    )["ServerCertificateMetadata"]["Arn"]
    elb = boto3.client("elbv2")
    listeners = {}
    for name, kind, protocol, port, cert in [
        ("web-soon", "application", "HTTPS", 443, soon),
        ("web-later", "application", "HTTPS", 443, later),
        ("tls-legacy", "network", "TLS", 8443, legacy),
    ]:
        lb = elb.create_load_balancer(Name=name, Subnets=subnets, Type=kind)["LoadBalancers"][0]["LoadBalancerArn"]
        tg = elb.create_target_group(Name=f"{name}-tg", Protocol="TCP" if kind == "network" else "HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
        listener = elb.create_listener(
            LoadBalancerArn=lb,
            Protocol=protocol,
            Port=port,
            Certificates=[{"CertificateArn": cert}],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )["Listeners"][0]["ListenerArn"]
        listeners[name] = listener
    return listeners


def main():
    iam = boto3.client("iam")
    seed_iam(iam)
    seed_services()
    seed_resource_policies()
    listeners = seed_load_balancers(iam)
    # The listener ARNs are generated: the test reads them from here.
    print(json.dumps({"listeners": listeners}))


if __name__ == "__main__":
    main()
