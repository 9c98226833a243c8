output "endpoint_url" {
  description = "Base URL of the model server (through the load balancer)."
  value       = "http://${aws_lb.this.dns_name}/"
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "Name of the ECS service running the model server."
  value       = aws_ecs_service.server.name
}

output "log_group_name" {
  description = "CloudWatch log group with the server's logs."
  value       = aws_cloudwatch_log_group.server.name
}

output "autoscaling" {
  description = "The autoscaling range and target."
  value       = "${var.scaling.min_tasks} to ${var.scaling.max_tasks} tasks, holding average CPU near ${var.scaling.cpu_target}%"
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}
