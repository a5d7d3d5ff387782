variable "name" {
  description = "Identifier of the database instance, e.g. pricetrack-prod."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Database subnets (no route to the internet), in at least two zones."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 5432: the EKS cluster's (nodes and pods) only."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL major.minor version."
  type        = string
  default     = "17.6"
}

variable "instance_class" {
  description = "Instance class, e.g. db.t4g.medium."
  type        = string
}

variable "allocated_storage_gb" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage_gb" {
  description = "Upper bound of storage autoscaling in GiB."
  type        = number
  default     = 200
}

variable "multi_az" {
  description = "Standby replica in a second zone (prod)."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days automated backups (point-in-time restore) are kept."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (true in prod); a final snapshot is taken either way."
  type        = bool
}

variable "kms_key_arn" {
  description = "KMS key encrypting storage, Performance Insights and the generated master password secret."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
