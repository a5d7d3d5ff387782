variable "environment" {
  description = "Environment name (dev, prod): part of every resource name, pricetrack-<environment>."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones used (at least two)."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (dev) instead of one per zone (prod)."
  type        = bool
}

variable "kubernetes_version" {
  description = "Kubernetes version of the EKS cluster."
  type        = string
}

variable "eks_endpoint_public_access" {
  description = "Whether the EKS API endpoint is public (restricted to eks_endpoint_public_access_cidrs); false keeps it private to the VPC."
  type        = bool
}

variable "eks_endpoint_public_access_cidrs" {
  description = "CIDR blocks allowed to reach a public EKS API endpoint."
  type        = list(string)
  default     = []
}

variable "eks_admin_role_arns" {
  description = "IAM roles given cluster-admin access (operators, the Flux bootstrap)."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the EKS managed node group."
  type        = list(string)
}

variable "node_min_size" {
  description = "Smallest number of EKS nodes."
  type        = number
}

variable "node_max_size" {
  description = "Largest number of EKS nodes."
  type        = number
}

variable "node_desired_size" {
  description = "Number of EKS nodes at creation."
  type        = number
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
}

variable "db_multi_az" {
  description = "Whether the database has a standby in a second zone."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
}

variable "deletion_protection" {
  description = "Protect the database and the DynamoDB table from deletion (prod)."
  type        = bool
}

variable "lambda_zip_path" {
  description = "Path of the rescheduler's cargo-lambda zip for the function's creation."
  type        = string
}

variable "lease_secs" {
  description = "PRICETRACK_LEASE_SECS of the rescheduler; must equal the value in deploy/base (pricetrack-shared)."
  type        = number
  default     = 300
}

variable "alarm_emails" {
  description = "Email addresses that receive the CloudWatch alarms."
  type        = list(string)
  default     = []
}

variable "hosted_zone_id" {
  description = "Route 53 hosted zone of the API's hostname."
  type        = string
}

variable "api_hostname" {
  description = "Public hostname of the API (the Gateway listener's hostname in deploy/overlays/<env>)."
  type        = string
}

variable "api_load_balancer_hostname" {
  description = "DNS name of the load balancer in front of the Gateway (kubectl -n envoy-gateway-system get svc); empty until Flux has created it, then set it and apply again to create the API's DNS record."
  type        = string
  default     = ""
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose workflows may deploy the Lambda function through OIDC."
  type        = string
}

variable "github_oidc_provider_arn" {
  description = "ARN of an existing token.actions.githubusercontent.com OIDC provider in the account; empty to create one."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
