# Values for deploy/overlays/prod and flux/clusters/prod (see docs/operations.md).

output "aws_region" {
  description = "AWS_REGION of the pods; awsRegion of the KEDA trigger."
  value       = module.pricetrack.aws_region
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.pricetrack.cluster_name
}

output "vpc_cidr" {
  description = "CIDR of the VPC (the api's NetworkPolicy egress to PostgreSQL)."
  value       = module.pricetrack.vpc_cidr
}

output "table_name" {
  description = "PRICETRACK_TABLE."
  value       = module.pricetrack.table_name
}

output "queue_url" {
  description = "PRICETRACK_QUEUE_URL; queueURL of the KEDA trigger."
  value       = module.pricetrack.queue_url
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (runbook: inspect and redrive)."
  value       = module.pricetrack.dead_letter_queue_url
}

output "delivery_queue_url" {
  description = "PRICETRACK_DELIVERY_QUEUE_URL."
  value       = module.pricetrack.delivery_queue_url
}

output "topic_arn" {
  description = "PRICETRACK_TOPIC_ARN."
  value       = module.pricetrack.topic_arn
}

output "api_role_arn" {
  description = "IRSA role of the api ServiceAccount."
  value       = module.pricetrack.api_role_arn
}

output "scraper_role_arn" {
  description = "IRSA role of the scraper ServiceAccount."
  value       = module.pricetrack.scraper_role_arn
}

output "keda_role_arn" {
  description = "IRSA role of the KEDA operator (KEDA_ROLE_ARN in flux/clusters/<env>/infrastructure.yaml)."
  value       = module.pricetrack.keda_role_arn
}

output "external_secrets_role_arn" {
  description = "IRSA role of External Secrets (EXTERNAL_SECRETS_ROLE_ARN in flux/clusters/<env>/infrastructure.yaml)."
  value       = module.pricetrack.external_secrets_role_arn
}

output "jwt_secret_name" {
  description = "Secrets Manager secret of PRICETRACK_JWT_SECRET (the ExternalSecret's first remoteRef)."
  value       = module.pricetrack.jwt_secret_name
}

output "slack_webhook_secret_name" {
  description = "Secrets Manager secret of Flux's Slack webhook (SLACK_WEBHOOK_SECRET_NAME)."
  value       = module.pricetrack.slack_webhook_secret_name
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret RDS manages the database credentials in (the ExternalSecret's database remoteRefs)."
  value       = module.pricetrack.db_master_secret_arn
}

output "db_address" {
  description = "Host of DATABASE_URL (the ExternalSecret's template)."
  value       = module.pricetrack.db_address
}

output "api_hostname" {
  description = "Hostname of the Gateway listener and the HTTPRoutes."
  value       = module.pricetrack.api_hostname
}

output "lambda_function_name" {
  description = "Rescheduler function (LAMBDA_FUNCTION in .github/workflows/lambda.yml)."
  value       = module.pricetrack.lambda_function_name
}

output "lambda_deploy_role_arn" {
  description = "Role the lambda workflow assumes through GitHub OIDC (repository variable AWS_LAMBDA_DEPLOY_ROLE_<ENV>)."
  value       = module.pricetrack.lambda_deploy_role_arn
}

output "alarm_topic_arn" {
  description = "SNS topic of the CloudWatch alarms."
  value       = module.pricetrack.alarm_topic_arn
}
