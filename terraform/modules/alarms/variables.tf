variable "name" {
  description = "Prefix of the alarm names and of the alarm topic, e.g. pricetrack-prod."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the alarm topic (its policy lets CloudWatch use it)."
  type        = string
}

variable "alarm_emails" {
  description = "Email addresses subscribed to the alarm topic (each must confirm)."
  type        = list(string)
  default     = []
}

variable "queue_name" {
  description = "Name of the check queue."
  type        = string
}

variable "dead_letter_queue_name" {
  description = "Name of the check queue's dead-letter queue."
  type        = string
}

variable "oldest_message_age_threshold_secs" {
  description = "Alarm when the oldest check request has waited longer than this: the scrapers are not keeping up."
  type        = number
  default     = 900
}

variable "lambda_function_name" {
  description = "Name of the rescheduler Lambda function."
  type        = string
}

variable "db_instance_identifier" {
  description = "Identifier of the RDS instance."
  type        = string
}

variable "db_cpu_threshold_percent" {
  description = "Alarm when the database's CPU stays above this percentage."
  type        = number
  default     = 80
}

variable "db_free_storage_threshold_bytes" {
  description = "Alarm when the database's free storage falls below this many bytes."
  type        = number
  default     = 5368709120
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
