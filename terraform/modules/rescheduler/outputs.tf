output "function_name" {
  description = "Name of the Lambda function (the lambda workflow's deploy target)."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}
