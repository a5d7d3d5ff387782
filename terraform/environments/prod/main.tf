# The prod environment of pricetrack. Outputs feed deploy/overlays/prod and flux/clusters/prod.

module "pricetrack" {
  source = "../../modules/pricetrack"

  environment        = "prod"
  availability_zones = ["${var.region}a", "${var.region}b", "${var.region}c"]
  vpc_cidr           = "10.20.0.0/16"
  single_nat_gateway = false

  kubernetes_version               = "1.34"
  eks_endpoint_public_access       = false
  eks_endpoint_public_access_cidrs = var.eks_endpoint_public_access_cidrs
  eks_admin_role_arns              = var.eks_admin_role_arns
  node_instance_types              = ["m7g.large"]
  node_min_size                    = 3
  node_max_size                    = 9
  node_desired_size                = 3

  db_instance_class        = "db.t4g.medium"
  db_multi_az              = true
  db_backup_retention_days = 30
  deletion_protection      = true

  lambda_zip_path            = var.lambda_zip_path
  alarm_emails               = var.alarm_emails
  hosted_zone_id             = var.hosted_zone_id
  api_hostname               = "api.pricetrack.example.com"
  api_load_balancer_hostname = var.api_load_balancer_hostname
  github_repository          = "pricetrack/pricetrack"
}
