output "table_name" {
  description = "PRICETRACK_TABLE."
  value       = aws_dynamodb_table.jobs.name
}

output "table_arn" {
  description = "ARN of the job table."
  value       = aws_dynamodb_table.jobs.arn
}

output "queue_url" {
  description = "PRICETRACK_QUEUE_URL."
  value       = aws_sqs_queue.checks.url
}

output "queue_arn" {
  description = "ARN of the check queue."
  value       = aws_sqs_queue.checks.arn
}

output "queue_name" {
  description = "Name of the check queue (for CloudWatch metrics)."
  value       = aws_sqs_queue.checks.name
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (for redrives)."
  value       = aws_sqs_queue.checks_dlq.url
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue (for CloudWatch metrics)."
  value       = aws_sqs_queue.checks_dlq.name
}

output "topic_arn" {
  description = "PRICETRACK_TOPIC_ARN."
  value       = aws_sns_topic.alerts.arn
}

output "delivery_queue_url" {
  description = "PRICETRACK_DELIVERY_QUEUE_URL."
  value       = aws_sqs_queue.deliveries.url
}

output "delivery_queue_arn" {
  description = "ARN of the delivery queue."
  value       = aws_sqs_queue.deliveries.arn
}

output "delivery_queue_name" {
  description = "Name of the delivery queue (for CloudWatch metrics)."
  value       = aws_sqs_queue.deliveries.name
}

output "delivery_dead_letter_queue_name" {
  description = "Name of the delivery dead-letter queue (for CloudWatch metrics)."
  value       = aws_sqs_queue.deliveries_dlq.name
}
