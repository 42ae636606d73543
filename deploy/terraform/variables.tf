# The same inputs as deploy/cloudformation/trailwatch.yaml's parameters.

variable "name" {
  description = "Prefix for every resource name."
  type        = string
  default     = "trailwatch"
}

variable "notification_source" {
  description = "How trailwatch hears about new events: S3 (bucket notifications), CloudTrailSNS (the trail's SNS topic) or EventBridge (a rule on CloudTrail events)."
  type        = string
  default     = "S3"
  validation {
    condition     = contains(["S3", "CloudTrailSNS", "EventBridge"], var.notification_source)
    error_message = "notification_source must be S3, CloudTrailSNS or EventBridge."
  }
}

variable "create_trail" {
  description = "Create a multi-region trail and its bucket (true), or wire an existing trail (false)."
  type        = bool
  default     = true
}

variable "trail_bucket_name" {
  description = "The existing trail's bucket (create_trail = false), or a name for the new bucket (empty: NAME-ACCOUNT-REGION)."
  type        = string
  default     = ""
  validation {
    condition     = var.trail_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.trail_bucket_name))
    error_message = "trail_bucket_name must be a valid S3 bucket name."
  }
}

variable "trail_prefix" {
  description = "The trail's S3 key prefix, without slashes at either end (empty for none)."
  type        = string
  default     = ""
  validation {
    condition     = !startswith(var.trail_prefix, "/") && !endswith(var.trail_prefix, "/")
    error_message = "trail_prefix takes no leading or trailing slash."
  }
}

variable "trail_kms_key_arn" {
  description = "The KMS key the trail encrypts log files with (SSE-KMS); empty for SSE-S3."
  type        = string
  default     = ""
}

variable "trail_sns_topic_arn" {
  description = "The existing trail's SNS topic (notification_source = CloudTrailSNS and create_trail = false)."
  type        = string
  default     = ""
}

variable "alert_email" {
  description = "An e-mail address subscribed to the alert topic (empty for none)."
  type        = string
  default     = ""
}

variable "alert_topic_kms_key_arn" {
  description = "A KMS key to encrypt the alert topic with (empty: not encrypted)."
  type        = string
  default     = ""
}

variable "max_receive_count" {
  description = "Deliveries of one message before SQS moves it to the dead-letter queue."
  type        = number
  default     = 5
}

variable "visibility_timeout" {
  description = "The queue's visibility timeout in seconds; trailwatch renews it while it works on a message."
  type        = number
  default     = 120
}

variable "role_trust" {
  description = "Who runs the daemon: ec2 (an instance profile is created), eks-irsa or eks-pod-identity."
  type        = string
  default     = "ec2"
  validation {
    condition     = contains(["ec2", "eks-irsa", "eks-pod-identity"], var.role_trust)
    error_message = "role_trust must be ec2, eks-irsa or eks-pod-identity."
  }
}

variable "eks_oidc_issuer" {
  description = "For role_trust = eks-irsa: the cluster's OIDC issuer without https://."
  type        = string
  default     = ""
}

variable "kubernetes_namespace" {
  type    = string
  default = "trailwatch"
}

variable "kubernetes_service_account" {
  type    = string
  default = "trailwatch"
}

variable "allow_replay" {
  description = "Also allow s3:ListBucket on the trail prefix, for `trailwatch replay s3://...`."
  type        = bool
  default     = false
}

variable "allow_posture_audit" {
  description = "Allow the read-only calls of the IAM posture audit (`[audit] enabled = true`, `trailwatch audit`): IAM, Security Hub, GuardDuty, Config, Access Analyzer, ELB, ACM and CloudTrail metadata, no data."
  type        = bool
  default     = true
}

variable "findings_min_severity" {
  description = "EventBridge rules send Security Hub findings (Severity.Label), GuardDuty findings (in the same bands of their numeric severity) at or above this, and active Access Analyzer findings, to the queue: the daemon sends them to the sinks ([findings] min_severity filters again). OFF: no rule."
  type        = string
  default     = "HIGH"
  validation {
    condition     = contains(["OFF", "INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"], var.findings_min_severity)
    error_message = "findings_min_severity must be OFF, INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL."
  }
}

variable "organization_role" {
  description = "The role name `[audit] organization_role` assumes in every account of the organization (deploy it there with a StackSet); empty: the daemon audits no other account. Grants organizations:ListAccounts and sts:AssumeRole on that role name in any account."
  type        = string
  default     = ""
  validation {
    condition     = can(regex("^[\\w+=,.@-]{0,64}$", var.organization_role))
    error_message = "organization_role is a role name (up to 64 of letters, digits and +=,.@_-), not an ARN."
  }
}

variable "import_to_security_hub" {
  description = "Allow the posture audit to import its findings into Security Hub ([audit] security_hub = true, `trailwatch audit --security-hub`) in the account's default product, in every region, and to move their workflow when they pass."
  type        = bool
  default     = false
}

variable "shared_state" {
  description = "Create the DynamoDB table replicas share ([state] backend = \"dynamodb\", table = the state_table_name output): on-demand, TTL on expires, encrypted; and grant the daemon its item reads and writes. Needed when more than one replica consumes the queue."
  type        = bool
  default     = false
}

variable "state_point_in_time_recovery" {
  description = "Point-in-time recovery for the shared state table. Its items live a day or so (dedupe and suppression windows), so recovery is rarely worth its cost."
  type        = bool
  default     = false
}
