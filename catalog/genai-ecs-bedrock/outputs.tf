output "app_url" {
  description = "URL of the chat application (through the load balancer)."
  value       = "http://${aws_lb.this.dns_name}/"
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "Name of the ECS service running the application."
  value       = aws_ecs_service.app.name
}

output "log_group_name" {
  description = "CloudWatch log group with the application's logs."
  value       = aws_cloudwatch_log_group.app.name
}

output "task_role_arn" {
  description = "IAM role the application runs as (may invoke only the chosen Bedrock models)."
  value       = aws_iam_role.task.arn
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}
