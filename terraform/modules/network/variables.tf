variable "name" {
  description = "Prefix of every resource name, e.g. pricetrack-prod."
  type        = string
}

variable "cidr_block" {
  description = "CIDR block of the VPC; split into public, private (nodes) and database subnets."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones to spread subnets over (at least two)."
  type        = list(string)
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Use at least two availability zones."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, for dev) instead of one per zone (prod)."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}

variable "cluster_name" {
  description = "Name of the EKS cluster, for the subnet discovery tags of load balancers."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
