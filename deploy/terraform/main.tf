# trailwatch: the SQS queue (with a dead-letter queue) that receives CloudTrail notifications,
# the SNS topic alerts go to, and a least-privilege IAM role for the daemon. Wires an existing
# trail, or creates one with its bucket. The same resources as deploy/cloudformation/.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  from_s3          = var.notification_source == "S3"
  from_sns         = var.notification_source == "CloudTrailSNS"
  from_eventbridge = var.notification_source == "EventBridge"

  # The severities at or above the threshold, as Security Hub labels them and as GuardDuty's
  # numeric severity bands start (low 1, medium 4, high 7, critical 9).
  forwarding_findings = var.findings_min_severity != "OFF"
  severity_labels     = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
  severity_index      = local.forwarding_findings ? index(local.severity_labels, var.findings_min_severity) : 4
  finding_labels      = slice(local.severity_labels, local.severity_index, 5)
  guardduty_threshold = [0, 1, 4, 7, 9][local.severity_index]

  bucket_name = var.trail_bucket_name != "" ? var.trail_bucket_name : "${var.name}-${local.account}-${local.region}"
  bucket_arn  = "arn:${local.partition}:s3:::${local.bucket_name}"
  # Where the trail writes: [prefix/]AWSLogs/ACCOUNT/CloudTrail/... for log files, and
  # CloudTrail-Digest/ beside it for digests, which trailwatch does not need to hear about.
  key_prefix    = var.trail_prefix != "" ? "${var.trail_prefix}/" : ""
  trail_name    = var.name
  trail_arn     = "arn:${local.partition}:cloudtrail:${local.region}:${local.account}:trail/${local.trail_name}"
  trail_topic   = local.from_sns ? (var.create_trail ? aws_sns_topic.trail[0].arn : var.trail_sns_topic_arn) : ""
  oidc_provider = "arn:${local.partition}:iam::${local.account}:oidc-provider/${var.eks_oidc_issuer}"
}

# --- Queues ----------------------------------------------------------------------------------

resource "aws_sqs_queue" "dead_letter" {
  name = "${var.name}-dlq"
  # The longest SQS allows: a failed notification waits here for someone to look at it.
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "events" {
  name                       = "${var.name}-events"
  visibility_timeout_seconds = var.visibility_timeout
  receive_wait_time_seconds  = 20
  message_retention_seconds  = 1209600
  # SSE-SQS: S3, SNS and EventBridge can all send to it without a key policy.
  sqs_managed_sse_enabled = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })

  lifecycle {
    precondition {
      condition     = var.create_trail || var.trail_bucket_name != ""
      error_message = "With create_trail = false, trail_bucket_name must name the trail's bucket."
    }
    precondition {
      condition     = !(local.from_sns && !var.create_trail && var.trail_sns_topic_arn == "")
      error_message = "With an existing trail, notification_source = CloudTrailSNS needs trail_sns_topic_arn."
    }
    precondition {
      condition     = var.role_trust != "eks-irsa" || var.eks_oidc_issuer != ""
      error_message = "role_trust = eks-irsa needs eks_oidc_issuer."
    }
  }
}

data "aws_iam_policy_document" "events_queue" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = local.from_s3 ? [1] : []
    content {
      sid       = "TrailBucketNotifications"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.events.arn]
      principals {
        type        = "Service"
        identifiers = ["s3.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [local.bucket_arn]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account]
      }
    }
  }

  dynamic "statement" {
    for_each = local.from_sns ? [1] : []
    content {
      sid       = "TrailTopicNotifications"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.events.arn]
      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [local.trail_topic]
      }
    }
  }

  dynamic "statement" {
    for_each = local.from_eventbridge ? [1] : []
    content {
      sid       = "CloudTrailEventRule"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.events.arn]
      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [aws_cloudwatch_event_rule.cloudtrail[0].arn]
      }
    }
  }

  dynamic "statement" {
    for_each = local.forwarding_findings ? [1] : []
    content {
      sid       = "FindingEventRules"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.events.arn]
      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [for r in aws_cloudwatch_event_rule.findings : r.arn]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.events_queue.json
}

# --- The trail, when this module creates it ----------------------------------------------------

resource "aws_s3_bucket" "trail" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket of the operator's choosing; CloudTrail data events cover reads of this one.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a retention decision for the operator, not something trailwatch needs.
  #checkov:skip=CKV2_AWS_61:Log retention (lifecycle) is the organisation's policy; the module does not guess it.
  #checkov:skip=CKV_AWS_19:Encrypted by aws_s3_bucket_server_side_encryption_configuration.trail; checkov does not evaluate its conditional algorithm, and both branches encrypt.
  #checkov:skip=CKV_AWS_145:SSE-KMS with a customer key is optional (trail_kms_key_arn); SSE-S3 otherwise, which CloudTrail and trailwatch need no key policy for.
  count  = var.create_trail ? 1 : 0
  bucket = local.bucket_name
}

resource "aws_s3_bucket_public_access_block" "trail" {
  count                   = var.create_trail ? 1 : 0
  bucket                  = aws_s3_bucket.trail[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "trail" {
  count  = var.create_trail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "trail" {
  count  = var.create_trail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "trail" {
  count  = var.create_trail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.trail_kms_key_arn != "" ? "aws:kms" : "AES256"
      kms_master_key_id = var.trail_kms_key_arn != "" ? var.trail_kms_key_arn : null
    }
  }
}

data "aws_iam_policy_document" "trail_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "CloudTrailAclCheck"
    actions   = ["s3:GetBucketAcl"]
    resources = [local.bucket_arn]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
  statement {
    sid       = "CloudTrailWrite"
    actions   = ["s3:PutObject"]
    resources = ["${local.bucket_arn}/${local.key_prefix}AWSLogs/${local.account}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-acl"
      values   = ["bucket-owner-full-control"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

resource "aws_s3_bucket_policy" "trail" {
  count  = var.create_trail ? 1 : 0
  bucket = aws_s3_bucket.trail[0].id
  policy = data.aws_iam_policy_document.trail_bucket.json
}

# Unencrypted on purpose: its messages hold only bucket and key names, and a KMS key would
# need a key policy for CloudTrail to publish and for SNS to deliver to the queue.
resource "aws_sns_topic" "trail" {
  #checkov:skip=CKV_AWS_26:Carries only bucket and key names; see the comment above.
  count = local.from_sns && var.create_trail ? 1 : 0
  name  = "${var.name}-trail"
}

data "aws_iam_policy_document" "trail_topic" {
  statement {
    sid       = "CloudTrailPublish"
    actions   = ["sns:Publish"]
    resources = ["arn:${local.partition}:sns:${local.region}:${local.account}:${var.name}-trail"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

resource "aws_sns_topic_policy" "trail" {
  count  = local.from_sns && var.create_trail ? 1 : 0
  arn    = aws_sns_topic.trail[0].arn
  policy = data.aws_iam_policy_document.trail_topic.json
}

resource "aws_cloudtrail" "trail" {
  #checkov:skip=CKV2_AWS_10:CloudWatch Logs delivery is a second consumer of the same events; trailwatch reads them from S3 or EventBridge.
  #checkov:skip=CKV_AWS_35:SSE-KMS is optional (trail_kms_key_arn); the bucket is encrypted with SSE-S3 otherwise.
  #checkov:skip=CKV_AWS_252:The SNS topic is set when notification_source = CloudTrailSNS; the other sources do not need it.
  count                         = var.create_trail ? 1 : 0
  name                          = local.trail_name
  s3_bucket_name                = aws_s3_bucket.trail[0].id
  s3_key_prefix                 = var.trail_prefix != "" ? var.trail_prefix : null
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  enable_logging                = true
  kms_key_id                    = var.trail_kms_key_arn != "" ? var.trail_kms_key_arn : null
  sns_topic_name                = local.from_sns ? aws_sns_topic.trail[0].name : null
  depends_on                    = [aws_s3_bucket_policy.trail, aws_sns_topic_policy.trail]
}

# --- Notification paths ----------------------------------------------------------------------

# Works on an existing bucket as well, but replaces that bucket's whole notification
# configuration: merge by hand if the bucket already notifies something else.
resource "aws_s3_bucket_notification" "trail" {
  count  = local.from_s3 ? 1 : 0
  bucket = local.bucket_name
  queue {
    queue_arn = aws_sqs_queue.events.arn
    events    = ["s3:ObjectCreated:*"]
    # Log files only: digests live under CloudTrail-Digest/, beside CloudTrail/.
    filter_prefix = "${local.key_prefix}AWSLogs/${local.account}/CloudTrail/"
    filter_suffix = ".json.gz"
  }
  depends_on = [aws_sqs_queue_policy.events, aws_s3_bucket.trail]
}

resource "aws_sns_topic_subscription" "trail" {
  count     = local.from_sns ? 1 : 0
  topic_arn = local.trail_topic
  protocol  = "sqs"
  endpoint  = aws_sqs_queue.events.arn
  # trailwatch reads both; raw delivery keeps messages smaller.
  raw_message_delivery = true
}

# EventBridge only sees CloudTrail events of its own region (console sign-ins of IAM users and
# root arrive in us-east-1): instantiate the module in each region to watch.
resource "aws_cloudwatch_event_rule" "cloudtrail" {
  count       = local.from_eventbridge ? 1 : 0
  name        = "${var.name}-cloudtrail"
  description = "CloudTrail management events and console sign-ins, to trailwatch."
  event_pattern = jsonencode({
    detail-type = [
      "AWS API Call via CloudTrail",
      "AWS Console Sign In via CloudTrail",
      "AWS Console Signin via CloudTrail",
    ]
  })
}

resource "aws_cloudwatch_event_target" "cloudtrail" {
  count     = local.from_eventbridge ? 1 : 0
  rule      = aws_cloudwatch_event_rule.cloudtrail[0].name
  target_id = "trailwatch"
  arn       = aws_sqs_queue.events.arn
}

# --- Findings of the security services, this region's ---------------------------------------

locals {
  # Patterns as JSON text, so every rule's value has the same type.
  finding_rules = {
    securityhub = {
      description = "Active Security Hub findings at or above findings_min_severity, to trailwatch."
      pattern = jsonencode({
        source        = ["aws.securityhub"]
        "detail-type" = ["Security Hub Findings - Imported"]
        detail        = { findings = { Severity = { Label = local.finding_labels }, RecordState = ["ACTIVE"] } }
      })
    }
    guardduty = {
      description = "GuardDuty findings at or above findings_min_severity, to trailwatch."
      pattern = jsonencode({
        source        = ["aws.guardduty"]
        "detail-type" = ["GuardDuty Finding"]
        detail        = { severity = [{ numeric = [">=", local.guardduty_threshold] }] }
      })
    }
    access-analyzer = {
      description = "Active IAM Access Analyzer findings, to trailwatch."
      pattern = jsonencode({
        source        = ["aws.access-analyzer"]
        "detail-type" = ["Access Analyzer Finding"]
        detail        = { status = ["ACTIVE"] }
      })
    }
  }
}

resource "aws_cloudwatch_event_rule" "findings" {
  for_each      = { for k, v in local.finding_rules : k => v if local.forwarding_findings }
  name          = "${var.name}-${each.key}-findings"
  description   = each.value.description
  event_pattern = each.value.pattern
}

resource "aws_cloudwatch_event_target" "findings" {
  for_each  = aws_cloudwatch_event_rule.findings
  rule      = each.value.name
  target_id = "trailwatch"
  arn       = aws_sqs_queue.events.arn
}

# --- Alerts ----------------------------------------------------------------------------------

resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  display_name      = "trailwatch alerts"
  kms_master_key_id = var.alert_topic_kms_key_arn != "" ? var.alert_topic_kms_key_arn : null
}

resource "aws_sns_topic_subscription" "alert_email" {
  count     = var.alert_email != "" ? 1 : 0
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# --- The daemon's role: exactly the calls trailwatch makes -------------------------------------

data "aws_iam_policy_document" "daemon_trust" {
  dynamic "statement" {
    for_each = var.role_trust == "eks-irsa" ? [1] : []
    content {
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals {
        type        = "Federated"
        identifiers = [local.oidc_provider]
      }
      condition {
        test     = "StringEquals"
        variable = "${var.eks_oidc_issuer}:sub"
        values   = ["system:serviceaccount:${var.kubernetes_namespace}:${var.kubernetes_service_account}"]
      }
      condition {
        test     = "StringEquals"
        variable = "${var.eks_oidc_issuer}:aud"
        values   = ["sts.amazonaws.com"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.role_trust == "eks-irsa" ? [] : [1]
    content {
      actions = var.role_trust == "ec2" ? ["sts:AssumeRole"] : ["sts:AssumeRole", "sts:TagSession"]
      principals {
        type        = "Service"
        identifiers = [var.role_trust == "ec2" ? "ec2.amazonaws.com" : "pods.eks.amazonaws.com"]
      }
    }
  }
}

# --- Shared state: what replicas on one queue decide together ---------------------------------

resource "aws_dynamodb_table" "state" {
  count        = var.shared_state ? 1 : 0
  name         = "${var.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  # Items expire with their dedupe or suppression window; trailwatch ignores expired items
  # whether or not TTL has deleted them yet.
  ttl {
    attribute_name = "expires"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = var.state_point_in_time_recovery
  }
  server_side_encryption {
    enabled = true
  }
}

data "aws_iam_policy_document" "daemon" {
  # Receive, keep invisible while working, delete (DeleteMessageBatch is authorised as
  # sqs:DeleteMessage), release on shutdown (visibility 0).
  statement {
    sid = "ConsumeNotifications"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
    ]
    resources = [aws_sqs_queue.events.arn]
  }
  # The dead-letter queue from the events queue's RedrivePolicy, and how many messages wait
  # there (trailwatch_dlq_messages; check-config --probe).
  statement {
    sid       = "WatchDeadLetters"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.events.arn, aws_sqs_queue.dead_letter.arn]
  }
  statement {
    sid       = "ReadTrailLogs"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/${local.key_prefix}AWSLogs/*"]
  }
  dynamic "statement" {
    for_each = var.allow_replay ? [1] : []
    content {
      sid       = "ListTrailLogs"
      actions   = ["s3:ListBucket"]
      resources = [local.bucket_arn]
      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${local.key_prefix}AWSLogs/*"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.trail_kms_key_arn != "" ? [1] : []
    content {
      sid       = "DecryptTrailLogs"
      actions   = ["kms:Decrypt"]
      resources = [var.trail_kms_key_arn]
    }
  }
  # PublishBatch is authorised as sns:Publish.
  statement {
    sid       = "PublishAlerts"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alerts.arn]
  }
  dynamic "statement" {
    for_each = var.alert_topic_kms_key_arn != "" ? [1] : []
    content {
      sid       = "EncryptAlerts"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.alert_topic_kms_key_arn]
    }
  }
  # Conditional puts and updates decide; strongly consistent reads check; the posture audit
  # queries the usage record; check-config describes the table and its TTL.
  dynamic "statement" {
    for_each = var.shared_state ? [1] : []
    content {
      sid = "SharedState"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeTimeToLive",
      ]
      resources = [aws_dynamodb_table.state[0].arn]
    }
  }
  # The posture audit reads account-wide metadata (every user, role, policy, trail,
  # detector), so these calls name no single resource.
  dynamic "statement" {
    for_each = var.allow_posture_audit ? [1] : []
    content {
      sid = "AuditPosture"
      actions = [
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountAuthorizationDetails",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:GetAccountSummary",
        "iam:GetAccountPasswordPolicy",
        "iam:ListVirtualMFADevices",
        "iam:ListServerCertificates",
        "iam:GenerateServiceLastAccessedDetails",
        "iam:GetServiceLastAccessedDetails",
        "iam:GetUser",
        "iam:GetLoginProfile",
        "iam:ListMFADevices",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:ListSigningCertificates",
        "ec2:DescribeRegions",
        "securityhub:DescribeHub",
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
        "config:DescribeConfigurationRecorders",
        "config:DescribeConfigurationRecorderStatus",
        "config:DescribeDeliveryChannels",
        "access-analyzer:ListAnalyzers",
        "access-analyzer:ListFindings",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeListeners",
        "acm:DescribeCertificate",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "s3:ListAllMyBuckets",
        "s3:GetBucketPolicy",
        "s3:GetBucketAcl",
        "s3:GetBucketPublicAccessBlock",
        "sns:ListTopics",
        "sns:GetTopicAttributes",
        "sqs:ListQueues",
        "sqs:GetQueueAttributes",
      ]
      resources = ["*"]
    }
  }
  dynamic "statement" {
    for_each = var.organization_role != "" ? [1] : []
    content {
      sid       = "AuditOrganization"
      actions   = ["organizations:ListAccounts"]
      resources = ["*"]
    }
  }
  dynamic "statement" {
    for_each = var.organization_role != "" ? [1] : []
    content {
      sid       = "AssumeAuditRole"
      actions   = ["sts:AssumeRole"]
      resources = ["arn:${local.partition}:iam::*:role/${var.organization_role}"]
    }
  }
  # Findings go to the account's own default product; the hub is where they are read back
  # and their workflow moved.
  dynamic "statement" {
    for_each = var.import_to_security_hub ? [1] : []
    content {
      sid = "ImportFindings"
      actions = [
        "securityhub:BatchImportFindings",
        "securityhub:GetFindings",
        "securityhub:BatchUpdateFindings",
      ]
      resources = [
        "arn:${local.partition}:securityhub:*:${local.account}:product/${local.account}/default",
        "arn:${local.partition}:securityhub:*:${local.account}:hub/default",
      ]
    }
  }
}

resource "aws_iam_role" "daemon" {
  name               = var.name
  description        = "trailwatch daemon"
  assume_role_policy = data.aws_iam_policy_document.daemon_trust.json
}

resource "aws_iam_role_policy" "daemon" {
  name   = "trailwatch"
  role   = aws_iam_role.daemon.id
  policy = data.aws_iam_policy_document.daemon.json
}

resource "aws_iam_instance_profile" "daemon" {
  count = var.role_trust == "ec2" ? 1 : 0
  name  = var.name
  role  = aws_iam_role.daemon.name
}
