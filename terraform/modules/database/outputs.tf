output "address" {
  description = "Host name of the database (the host of DATABASE_URL)."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "Port of the database."
  value       = aws_db_instance.this.port
}

output "identifier" {
  description = "Identifier of the instance (for CloudWatch metrics)."
  value       = aws_db_instance.this.identifier
}

output "master_secret_arn" {
  description = "ARN of the Secrets Manager secret RDS keeps the master user's credentials in (JSON: username, password)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "allocated_storage_gb" {
  description = "Allocated storage in GiB (for the free-storage alarm)."
  value       = aws_db_instance.this.allocated_storage
}
