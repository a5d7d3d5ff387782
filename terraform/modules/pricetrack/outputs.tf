# The values the Flux overlays need (deploy/overlays/<env>, flux/clusters/<env>).

output "aws_region" {
  description = "AWS_REGION of the pods; awsRegion of the KEDA trigger."
  value       = data.aws_region.current.region
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "vpc_cidr" {
  description = "CIDR of the VPC (the api's NetworkPolicy egress to PostgreSQL)."
  value       = module.network.vpc_cidr
}

output "table_name" {
  description = "PRICETRACK_TABLE."
  value       = module.messaging.table_name
}

output "queue_url" {
  description = "PRICETRACK_QUEUE_URL; queueURL of the KEDA trigger."
  value       = module.messaging.queue_url
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue (runbook: inspect and redrive)."
  value       = module.messaging.dead_letter_queue_url
}

output "delivery_queue_url" {
  description = "PRICETRACK_DELIVERY_QUEUE_URL."
  value       = module.messaging.delivery_queue_url
}

output "topic_arn" {
  description = "PRICETRACK_TOPIC_ARN."
  value       = module.messaging.topic_arn
}

output "api_role_arn" {
  description = "IRSA role of the api ServiceAccount."
  value       = module.irsa["api"].arn
}

output "scraper_role_arn" {
  description = "IRSA role of the scraper ServiceAccount."
  value       = module.irsa["scraper"].arn
}

output "keda_role_arn" {
  description = "IRSA role of the KEDA operator (KEDA_ROLE_ARN in flux/clusters/<env>/infrastructure.yaml)."
  value       = module.irsa["keda"].arn
}

output "external_secrets_role_arn" {
  description = "IRSA role of External Secrets (EXTERNAL_SECRETS_ROLE_ARN in flux/clusters/<env>/infrastructure.yaml)."
  value       = module.irsa["external-secrets"].arn
}

output "jwt_secret_name" {
  description = "Secrets Manager secret of PRICETRACK_JWT_SECRET (the ExternalSecret's first remoteRef)."
  value       = aws_secretsmanager_secret.jwt.name
}

output "slack_webhook_secret_name" {
  description = "Secrets Manager secret of Flux's Slack webhook (SLACK_WEBHOOK_SECRET_NAME)."
  value       = aws_secretsmanager_secret.slack_webhook.name
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret RDS manages the database credentials in (the ExternalSecret's database remoteRefs)."
  value       = module.database.master_secret_arn
}

output "db_address" {
  description = "Host of DATABASE_URL (the ExternalSecret's template)."
  value       = module.database.address
}

output "api_hostname" {
  description = "Hostname of the Gateway listener and the HTTPRoutes."
  value       = var.api_hostname
}

output "lambda_function_name" {
  description = "Rescheduler function (LAMBDA_FUNCTION in .github/workflows/lambda.yml)."
  value       = module.rescheduler.function_name
}

output "lambda_deploy_role_arn" {
  description = "Role the lambda workflow assumes through GitHub OIDC (repository variable AWS_LAMBDA_DEPLOY_ROLE_<ENV>)."
  value       = aws_iam_role.lambda_deploy.arn
}

output "alarm_topic_arn" {
  description = "SNS topic of the CloudWatch alarms."
  value       = module.alarms.topic_arn
}
