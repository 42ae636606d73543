output "queue_url" {
  description = "trailwatch run --queue-url (sqs.queue_urls in the config)"
  value       = aws_sqs_queue.events.id
}

output "queue_arn" {
  value = aws_sqs_queue.events.arn
}

output "dead_letter_queue_url" {
  description = "Notifications trailwatch could not handle after max_receive_count deliveries."
  value       = aws_sqs_queue.dead_letter.id
}

output "alert_topic_arn" {
  description = "trailwatch run --sns-topic-arn ([[sinks.sns]] topic_arn in the config)"
  value       = aws_sns_topic.alerts.arn
}

output "role_arn" {
  description = "The daemon's role (the eks.amazonaws.com/role-arn annotation for IRSA)."
  value       = aws_iam_role.daemon.arn
}

output "instance_profile_arn" {
  value = var.role_trust == "ec2" ? aws_iam_instance_profile.daemon[0].arn : null
}

output "trail_bucket_name" {
  value = local.bucket_name
}

output "state_table_name" {
  description = "[state] table in the config, with backend = \"dynamodb\""
  value       = var.shared_state ? aws_dynamodb_table.state[0].name : null
}
