variable "name" {
  description = "Name of the Lambda function, e.g. pricetrack-prod-rescheduler."
  type        = string
}

variable "zip_path" {
  description = "Path of the cargo-lambda zip (target/lambda/rescheduler/bootstrap.zip, from the lambda workflow's artifact) used when the function is created; later releases are deployed by .github/workflows/lambda.yml."
  type        = string
}

variable "table_name" {
  description = "PRICETRACK_TABLE: the job table."
  type        = string
}

variable "table_arn" {
  description = "ARN of the job table (the role may query its due index and update its items)."
  type        = string
}

variable "queue_url" {
  description = "PRICETRACK_QUEUE_URL: the check queue."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the check queue (the role may send to it)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the table and the queue (and of the function's log group)."
  type        = string
}

variable "lease_secs" {
  description = "PRICETRACK_LEASE_SECS: how long a claimed job stays off the due list; equal to the api's and the scraper's."
  type        = number
  default     = 300
}

variable "host_concurrency" {
  description = "PRICETRACK_HOST_CONCURRENCY: the scrapers' requests at once per shop host; equal to the scraper's."
  type        = number
  default     = 2
}

variable "host_min_delay" {
  description = "PRICETRACK_HOST_MIN_DELAY: the scrapers' spacing of request starts per shop host; equal to the scraper's."
  type        = string
  default     = "1s"
}

variable "schedule_expression" {
  description = "EventBridge schedule of the runs: rate(N minute[s]) with N from 1 to 5, so that the rescheduler-not-running alarm (no run in 15 minutes) only fires when runs stop."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^rate\\(([1-5]) minutes?\\)$", var.schedule_expression))
    error_message = "schedule_expression must be rate(N minute) or rate(N minutes) with N from 1 to 5."
  }
}

variable "timeout_secs" {
  description = "Lambda timeout; a run stops claiming before it (30 to 60 s recommended)."
  type        = number
  default     = 50
}

variable "memory_mb" {
  description = "Lambda memory size."
  type        = number
  default     = 256
}

variable "log_level" {
  description = "RUST_LOG of the function."
  type        = string
  default     = "info"
}

variable "log_retention_days" {
  description = "Days the function's logs are kept."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
