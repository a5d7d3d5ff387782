# Everything pricetrack needs in one AWS account and region. environments/<env> instantiate it.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  name    = "pricetrack-${var.environment}"
  account = data.aws_caller_identity.current.account_id
}

# ---- encryption key of the data: table, queues, topics, database, secrets, logs ---------------
resource "aws_kms_key" "data" {
  description             = "${local.name}: table, queues, topics, database, secrets, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/${local.name}-data"
  target_key_id = aws_kms_key.data.key_id
}

data "aws_iam_policy_document" "kms" {
  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key; admin is the account root (IAM decides).
  # checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key; services are limited by aws:SourceAccount.
  # checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "ServicesUseIt"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:ReEncrypt*", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type = "Service"
      identifiers = [
        "logs.amazonaws.com",
        "sns.amazonaws.com",
        "cloudwatch.amazonaws.com",
      ]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

# ---- network, cluster, database, messaging -----------------------------------------------------
module "network" {
  source             = "../network"
  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = var.availability_zones
  single_nat_gateway = var.single_nat_gateway
  kms_key_arn        = aws_kms_key.data.arn
  cluster_name       = local.name
  tags               = var.tags
}

module "eks" {
  source                       = "../eks"
  name                         = local.name
  kubernetes_version           = var.kubernetes_version
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.private_subnet_ids
  endpoint_public_access       = var.eks_endpoint_public_access
  endpoint_public_access_cidrs = var.eks_endpoint_public_access_cidrs
  admin_role_arns              = var.eks_admin_role_arns
  node_instance_types          = var.node_instance_types
  node_min_size                = var.node_min_size
  node_max_size                = var.node_max_size
  node_desired_size            = var.node_desired_size
  tags                         = var.tags
}

module "database" {
  source                     = "../database"
  name                       = local.name
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.database_subnet_ids
  allowed_security_group_ids = [module.eks.cluster_security_group_id]
  instance_class             = var.db_instance_class
  multi_az                   = var.db_multi_az
  backup_retention_days      = var.db_backup_retention_days
  deletion_protection        = var.deletion_protection
  kms_key_arn                = aws_kms_key.data.arn
  tags                       = var.tags
}

module "messaging" {
  source              = "../messaging"
  name                = local.name
  kms_key_arn         = aws_kms_key.data.arn
  deletion_protection = var.deletion_protection
  tags                = var.tags
}

module "rescheduler" {
  source      = "../rescheduler"
  name        = "${local.name}-rescheduler"
  zip_path    = var.lambda_zip_path
  table_name  = module.messaging.table_name
  table_arn   = module.messaging.table_arn
  queue_url   = module.messaging.queue_url
  queue_arn   = module.messaging.queue_arn
  kms_key_arn = aws_kms_key.data.arn
  lease_secs  = var.lease_secs
  tags        = var.tags
}

module "alarms" {
  source                 = "../alarms"
  name                   = local.name
  kms_key_arn            = aws_kms_key.data.arn
  alarm_emails           = var.alarm_emails
  queue_name             = module.messaging.queue_name
  dead_letter_queue_name = module.messaging.dead_letter_queue_name
  lambda_function_name   = module.rescheduler.function_name
  db_instance_identifier = module.database.identifier
  tags                   = var.tags
}

# ---- secrets (values never in Terraform: filled by the operator, docs/operations.md) ----------
resource "aws_secretsmanager_secret" "jwt" {
  name                    = "${local.name}/jwt-secret"
  description             = "PRICETRACK_JWT_SECRET of the api (at least 32 random bytes)"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret" "slack_webhook" {
  name                    = "${local.name}/slack-webhook"
  description             = "Slack incoming webhook URL of Flux's notifications"
  kms_key_id              = aws_kms_key.data.arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

# ---- IAM roles of the pods (IRSA), least privilege ----------------------------------------------
locals {
  table_resources = [module.messaging.table_arn, "${module.messaging.table_arn}/index/due-index"]
  kms_via = [
    "dynamodb.${data.aws_region.current.region}.amazonaws.com",
    "sqs.${data.aws_region.current.region}.amazonaws.com",
    "sns.${data.aws_region.current.region}.amazonaws.com",
  ]
}

data "aws_iam_policy_document" "api" {
  statement {
    sid = "Jobs"
    actions = [
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
      "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
    ]
    resources = local.table_resources
  }
  statement {
    sid       = "FirstCheckOfNewJobs"
    actions   = ["sqs:SendMessage"]
    resources = [module.messaging.queue_arn]
  }
  statement {
    # An email channel's subscription, made when the user adds the channel (never at sign-up).
    sid       = "SubscribeEmailChannels"
    actions   = ["sns:Subscribe"]
    resources = [module.messaging.topic_arn]
  }
  statement {
    sid       = "EncryptedData"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via
    }
  }
}

data "aws_iam_policy_document" "scraper" {
  statement {
    sid = "Jobs"
    actions = [
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
      "dynamodb:ConditionCheckItem",
    ]
    resources = local.table_resources
  }
  statement {
    sid = "CheckRequests"
    actions = [
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    ]
    resources = [module.messaging.queue_arn]
  }
  statement {
    sid       = "Alerts"
    actions   = ["sns:Publish"]
    resources = [module.messaging.topic_arn]
  }
  statement {
    # The delivery workers: alerts from the delivery queue, put off until their next retry.
    sid = "Deliveries"
    actions = [
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    ]
    resources = [module.messaging.delivery_queue_arn]
  }
  statement {
    sid       = "EncryptedData"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via
    }
  }
}

data "aws_iam_policy_document" "keda" {
  statement {
    sid       = "QueueDepth"
    actions   = ["sqs:GetQueueAttributes"]
    resources = [module.messaging.queue_arn]
  }
}

data "aws_iam_policy_document" "external_secrets" {
  statement {
    sid       = "ReadPricetrackSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [aws_secretsmanager_secret.jwt.arn, aws_secretsmanager_secret.slack_webhook.arn, module.database.master_secret_arn]
  }
  statement {
    sid       = "DecryptThem"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

locals {
  irsa = {
    api              = { namespace = "pricetrack", service_account = "api", policy = data.aws_iam_policy_document.api.json }
    scraper          = { namespace = "pricetrack", service_account = "scraper", policy = data.aws_iam_policy_document.scraper.json }
    keda             = { namespace = "keda", service_account = "keda-operator", policy = data.aws_iam_policy_document.keda.json }
    external-secrets = { namespace = "external-secrets", service_account = "external-secrets", policy = data.aws_iam_policy_document.external_secrets.json }
  }
}

module "irsa" {
  for_each           = local.irsa
  source             = "../irsa-role"
  name               = "${local.name}-${each.key}"
  oidc_provider_arn  = module.eks.oidc_provider_arn
  oidc_issuer_url    = module.eks.oidc_issuer_url
  namespace          = each.value.namespace
  service_account    = each.value.service_account
  inline_policy_json = each.value.policy
  tags               = var.tags
}

# ---- GitHub Actions deploys the Lambda through OIDC (no stored keys) ----------------------------
resource "aws_iam_openid_connect_provider" "github" {
  count           = var.github_oidc_provider_arn == "" ? 1 : 0
  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
  tags            = var.tags
}

data "aws_iam_policy_document" "lambda_deploy_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.github_oidc_provider_arn == "" ? aws_iam_openid_connect_provider.github[0].arn : var.github_oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    # Only the workflow's job in this GitHub environment (protected by required reviewers in prod).
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.environment}"]
    }
  }
}

resource "aws_iam_role" "lambda_deploy" {
  name                 = "${local.name}-lambda-deploy"
  assume_role_policy   = data.aws_iam_policy_document.lambda_deploy_assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

data "aws_iam_policy_document" "lambda_deploy" {
  statement {
    actions   = ["lambda:UpdateFunctionCode", "lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:PublishVersion"]
    resources = [module.rescheduler.function_arn]
  }
}

resource "aws_iam_role_policy" "lambda_deploy" {
  name   = "deploy-rescheduler"
  role   = aws_iam_role.lambda_deploy.id
  policy = data.aws_iam_policy_document.lambda_deploy.json
}

# ---- DNS ------------------------------------------------------------------------------------------
resource "aws_route53_record" "api" {
  count   = var.api_load_balancer_hostname == "" ? 0 : 1
  zone_id = var.hosted_zone_id
  name    = var.api_hostname
  type    = "CNAME"
  ttl     = 300
  records = [var.api_load_balancer_hostname]
}

# Certificate authority authorization: only Let's Encrypt (cert-manager) issues for the API.
resource "aws_route53_record" "api_caa" {
  zone_id = var.hosted_zone_id
  name    = var.api_hostname
  type    = "CAA"
  ttl     = 3600
  records = ["0 issue \"letsencrypt.org\""]
}
