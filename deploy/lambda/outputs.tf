output "function_arn" {
  description = "ARN of the lifeboat function."
  value       = aws_lambda_function.lifeboat.arn
}

output "role_arn" {
  description = "IAM role the function runs as (mapped to var.kubernetes_group in the cluster)."
  value       = aws_iam_role.lambda.arn
}
