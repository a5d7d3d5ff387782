variable "name" {
  description = "Name of the EKS cluster, e.g. pricetrack-prod."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes version of the control plane and the node groups."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control plane's network interfaces and the nodes."
  type        = list(string)
}

variable "endpoint_public_access" {
  description = "Whether the API server endpoint is reachable from the internet (restricted to endpoint_public_access_cidrs). Set false for a private-only endpoint (reach it through a VPN or bastion)."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "CIDR blocks allowed to reach the public API server endpoint, when it is enabled (required then; never 0.0.0.0/0)."
  type        = list(string)
  default     = []
  validation {
    condition     = !var.endpoint_public_access || (length(var.endpoint_public_access_cidrs) > 0 && !contains(var.endpoint_public_access_cidrs, "0.0.0.0/0"))
    error_message = "A public endpoint needs a list of allowed CIDR blocks, without 0.0.0.0/0."
  }
}

variable "node_instance_types" {
  description = "Instance types of the managed node group (arm64 Graviton types match the images' arm64 variant)."
  type        = list(string)
}

variable "node_ami_type" {
  description = "AMI type of the managed node group, e.g. AL2023_ARM_64_STANDARD."
  type        = string
  default     = "AL2023_ARM_64_STANDARD"
}

variable "node_min_size" {
  description = "Smallest number of nodes."
  type        = number
}

variable "node_max_size" {
  description = "Largest number of nodes."
  type        = number
}

variable "node_desired_size" {
  description = "Number of nodes at creation (then managed by the cluster autoscaler or by hand)."
  type        = number
}

variable "log_retention_days" {
  description = "Days the control plane logs are kept."
  type        = number
  default     = 365
}

variable "admin_role_arns" {
  description = "IAM roles given cluster-admin access through EKS access entries (e.g. the operators' SSO role, the CI role that bootstraps Flux)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
