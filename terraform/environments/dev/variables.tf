variable "region" {
  description = "AWS region of the dev environment."
  type        = string
  default     = "eu-west-1"
}

variable "lambda_zip_path" {
  description = "Path of the rescheduler's cargo-lambda zip (download the lambda workflow's artifact) used when the function is first created."
  type        = string
  default     = "../../../target/lambda/rescheduler/bootstrap.zip"
}

variable "alarm_emails" {
  description = "Email addresses that receive the CloudWatch alarms of dev."
  type        = list(string)
  default     = []
}

variable "hosted_zone_id" {
  description = "Route 53 hosted zone that holds the API's hostname."
  type        = string
}

variable "api_load_balancer_hostname" {
  description = "DNS name of the Gateway's load balancer, once Flux has created it (empty: no API DNS record yet)."
  type        = string
  default     = ""
}

variable "eks_endpoint_public_access_cidrs" {
  description = "CIDR blocks allowed to reach the EKS API endpoint when it is public."
  type        = list(string)
  default     = []
}

variable "eks_admin_role_arns" {
  description = "IAM roles with cluster-admin access to the dev cluster."
  type        = list(string)
  default     = []
}
