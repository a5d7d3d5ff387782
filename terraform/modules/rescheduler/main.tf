# The rescheduler as a Lambda function (arm64, provided.al2023, the cargo-lambda zip) run by an
# EventBridge schedule. Its role may only query the due index, update jobs and send to the queue.

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "ClaimDueJobs"
    actions   = ["dynamodb:Query"]
    resources = ["${var.table_arn}/index/due-index"]
  }
  statement {
    sid       = "LeaseJobs"
    actions   = ["dynamodb:UpdateItem"]
    resources = [var.table_arn]
  }
  statement {
    sid       = "QueueChecks"
    actions   = ["sqs:SendMessage"]
    resources = [var.queue_arn]
  }
  statement {
    sid       = "EncryptedTableAndQueue"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
  statement {
    sid       = "Traces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "rescheduler"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}

resource "aws_lambda_function" "this" {
  function_name    = var.name
  role             = aws_iam_role.this.arn
  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  timeout          = var.timeout_secs
  memory_size      = var.memory_mb
  # One run at a time is enough (runs are safe to overlap: claims are conditional writes).
  reserved_concurrent_executions = 2
  kms_key_arn                    = var.kms_key_arn

  # Exactly what the rescheduler reads (crates/services/src/config.rs, checked by
  # scripts/check-deploy.sh). AWS_REGION is set by Lambda itself.
  environment {
    variables = {
      PRICETRACK_TABLE      = var.table_name
      PRICETRACK_QUEUE_URL  = var.queue_url
      PRICETRACK_LEASE_SECS = tostring(var.lease_secs)
      # The scrapers' per-host politeness: one host's due checks are sent this far apart
      # (min delay / concurrency), so they reach the fleet spread over time.
      PRICETRACK_HOST_CONCURRENCY = tostring(var.host_concurrency)
      PRICETRACK_HOST_MIN_DELAY   = var.host_min_delay
      # Every AWS call ends well inside the function's timeout (docs/runbook.md).
      PRICETRACK_AWS_CONNECT_TIMEOUT   = "1s"
      PRICETRACK_AWS_ATTEMPT_TIMEOUT   = "3s"
      PRICETRACK_AWS_OPERATION_TIMEOUT = "8s"
      PRICETRACK_AWS_MAX_ATTEMPTS      = "3"
      RUST_LOG                         = var.log_level
      PRICETRACK_LOG_FORMAT            = "json"
    }
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this.name
  }

  # Releases are deployed by .github/workflows/lambda.yml (update-function-code); Terraform only
  # creates the function.
  lifecycle {
    ignore_changes = [filename, source_code_hash]
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.this]
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = var.name
  description         = "Runs the pricetrack rescheduler"
  schedule_expression = var.schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = aws_lambda_function.this.arn
  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "EventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}
