output "app_url" {
  description = "URL of the application (through the load balancer)."
  value       = "http://${aws_lb.this.dns_name}/"
}

output "repository_url" {
  description = "ECR repository to push images to (tags are immutable)."
  value       = aws_ecr_repository.app.repository_url
}

output "deployed_image" {
  description = "Image the service runs, or a note that nothing is deployed yet."
  value       = local.deployed ? local.image : "nothing deployed yet: push an image, then set image_tag"
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "Name of the ECS service."
  value       = aws_ecs_service.app.name
}

output "log_group_name" {
  description = "CloudWatch log group with the application's logs."
  value       = aws_cloudwatch_log_group.app.name
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}
