variable "name" {
  description = "Name of the IAM role."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_issuer_url" {
  description = "OIDC issuer URL of the cluster (with or without https://)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the service account allowed to assume the role."
  type        = string
}

variable "service_account" {
  description = "Name of the Kubernetes service account allowed to assume the role."
  type        = string
}

variable "inline_policy_json" {
  description = "IAM policy document (JSON) of the role's permissions; used when has_inline_policy is true."
  type        = string
  default     = "{}"
}

variable "has_inline_policy" {
  description = "Whether to attach inline_policy_json (a plain flag: the count must be known when planning)."
  type        = bool
  default     = true
}

variable "managed_policy_arns" {
  description = "AWS managed policies attached to the role."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to the role."
  type        = map(string)
  default     = {}
}
