# The job table, the check queue with its dead-letter queue, and the alert topic. Keys, index,
# TTL and queue settings are those of crates/aws/src/schema.rs (what `pricetrack aws bootstrap`
# creates): scripts/check-deploy.sh fails when they drift apart.

# Jobs and observations (schema.rs: PARTITION_KEY, SORT_KEY, DUE_INDEX, TTL_ATTRIBUTE).
resource "aws_dynamodb_table" "jobs" {
  name                        = "${var.name}-jobs"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "PK"
  range_key                   = "SK"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "PK"
    type = "S"
  }
  attribute {
    name = "SK"
    type = "S"
  }
  attribute {
    name = "due_shard"
    type = "S"
  }
  attribute {
    name = "next_check_at"
    type = "N"
  }

  # Sparse index of live jobs by due time: the rescheduler's claim reads keys only.
  global_secondary_index {
    name            = "due-index"
    hash_key        = "due_shard"
    range_key       = "next_check_at"
    projection_type = "KEYS_ONLY"
  }

  # Observations expire (OBSERVATION_TTL_DAYS).
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

# Check requests that failed QUEUE_MAX_RECEIVE_COUNT times (schema.rs: DEAD_LETTER_RETENTION_SECS).
resource "aws_sqs_queue" "checks_dlq" {
  name                              = "${var.name}-checks-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

# Check requests (schema.rs: QUEUE_VISIBILITY_TIMEOUT_SECS, QUEUE_RECEIVE_WAIT_SECS,
# QUEUE_RETENTION_SECS, QUEUE_MAX_RECEIVE_COUNT).
resource "aws_sqs_queue" "checks" {
  name                              = "${var.name}-checks"
  visibility_timeout_seconds        = 60
  receive_wait_time_seconds         = 20
  message_retention_seconds         = 345600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.checks_dlq.arn
    maxReceiveCount     = 5
  })
  tags = var.tags
}

# Only the check queue may use the dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "checks_dlq" {
  queue_url = aws_sqs_queue.checks_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.checks.arn]
  })
}

# Alerts (schema.rs: ALERT_SUBJECT; users subscribe with a filter on USER_ID_ATTRIBUTE).
resource "aws_sns_topic" "alerts" {
  name              = "${var.name}-alerts"
  kms_master_key_id = var.kms_key_arn
  tags              = var.tags
}

# Every alert is also kept on a queue for 14 days: an audit trail, and the feed of any consumer
# that delivers alerts another way (webhooks). SNS may send to it (the queue policy below): real
# SQS refuses SNS deliveries without one.
resource "aws_sqs_queue" "alerts_archive" {
  name                              = "${var.name}-alerts-archive"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

data "aws_iam_policy_document" "alerts_archive" {
  statement {
    sid       = "AlertTopicDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.alerts_archive.arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.alerts.arn]
    }
  }
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.alerts_archive.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "alerts_archive" {
  queue_url = aws_sqs_queue.alerts_archive.id
  policy    = data.aws_iam_policy_document.alerts_archive.json
}

resource "aws_sns_topic_subscription" "alerts_archive" {
  topic_arn            = aws_sns_topic.alerts.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.alerts_archive.arn
  raw_message_delivery = true
  depends_on           = [aws_sqs_queue_policy.alerts_archive]
}

# The check queue: TLS only.
data "aws_iam_policy_document" "checks" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.checks.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "checks" {
  queue_url = aws_sqs_queue.checks.id
  policy    = data.aws_iam_policy_document.checks.json
}

# ---- the delivery stage (issue 11) ----------------------------------------------------------------
# Alerts the deliverers failed to handle DELIVERY_QUEUE_MAX_RECEIVE_COUNT times (crashes, store
# failures: channel failures are retried by putting the message off, not by failing it).
resource "aws_sqs_queue" "deliveries_dlq" {
  name                              = "${var.name}-deliveries-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

# Alerts to deliver (schema.rs: DELIVERY_QUEUE_VISIBILITY_TIMEOUT_SECS,
# DELIVERY_QUEUE_MAX_RECEIVE_COUNT), fed by the alert topic and consumed by the scraper's
# delivery workers. Retention (4 days) outlasts the 24 hours of retries.
resource "aws_sqs_queue" "deliveries" {
  name                              = "${var.name}-deliveries"
  visibility_timeout_seconds        = 60
  receive_wait_time_seconds         = 20
  message_retention_seconds         = 345600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.deliveries_dlq.arn
    maxReceiveCount     = 500
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "deliveries_dlq" {
  queue_url = aws_sqs_queue.deliveries_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.deliveries.arn]
  })
}

data "aws_iam_policy_document" "deliveries" {
  statement {
    sid       = "AlertTopicDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.deliveries.arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.alerts.arn]
    }
  }
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.deliveries.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "deliveries" {
  queue_url = aws_sqs_queue.deliveries.id
  policy    = data.aws_iam_policy_document.deliveries.json
}

# Alerts only (schema.rs: delivery_filter_policy, KIND_ATTRIBUTE = "kind"): the emails of email
# channels go through the same topic to their own subscriptions, never back to this queue.
resource "aws_sns_topic_subscription" "deliveries" {
  topic_arn            = aws_sns_topic.alerts.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.deliveries.arn
  raw_message_delivery = true
  filter_policy        = jsonencode({ kind = ["alert"] })
  depends_on           = [aws_sqs_queue_policy.deliveries]
}
