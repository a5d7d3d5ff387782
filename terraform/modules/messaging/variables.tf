variable "name" {
  description = "Prefix of the resource names: <name>-jobs, <name>-checks, <name>-checks-dlq, <name>-alerts (the names `pricetrack aws bootstrap --prefix <name>` gives)."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key encrypting the table, the queues and the topic."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the DynamoDB table (true in prod)."
  type        = bool
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
