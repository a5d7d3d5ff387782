# The dev environment of pricetrack. Outputs feed deploy/overlays/dev and flux/clusters/dev.

module "pricetrack" {
  source = "../../modules/pricetrack"

  environment        = "dev"
  availability_zones = ["${var.region}a", "${var.region}b", "${var.region}c"]
  vpc_cidr           = "10.10.0.0/16"
  single_nat_gateway = true

  kubernetes_version               = "1.34"
  eks_endpoint_public_access       = true
  eks_endpoint_public_access_cidrs = var.eks_endpoint_public_access_cidrs
  eks_admin_role_arns              = var.eks_admin_role_arns
  node_instance_types              = ["t4g.large"]
  node_min_size                    = 2
  node_max_size                    = 4
  node_desired_size                = 2

  db_instance_class        = "db.t4g.micro"
  db_multi_az              = false
  db_backup_retention_days = 7
  deletion_protection      = false

  lambda_zip_path            = var.lambda_zip_path
  alarm_emails               = var.alarm_emails
  hosted_zone_id             = var.hosted_zone_id
  api_hostname               = "api.dev.pricetrack.example.com"
  api_load_balancer_hostname = var.api_load_balancer_hostname
  github_repository          = "pricetrack/pricetrack"
}
