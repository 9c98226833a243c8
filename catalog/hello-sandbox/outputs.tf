output "app_url" {
  description = "URL where the (pretend) application answers."
  value       = "http://${var.app_name}.sandbox.local:8080/"
}

output "summary" {
  description = "One-line summary of what was built."
  value       = "${var.app_name}: ${var.replicas} replica(s) of ${var.size.cpu} cpu / ${var.size.memory} MiB in ${join(", ", var.regions)}"
}

output "resource_ids" {
  description = "Identifiers of the resources that were created, in order."
  value       = [null_resource.network.id, null_resource.app.id, null_resource.secret.id]
}

output "connection_string" {
  description = "Connection string that embeds the API token."
  value       = "sandbox://${var.app_name}:${var.api_token}@${var.app_name}.sandbox.local:8080"
  sensitive   = true
}
