output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Endpoint of the Kubernetes API server."
  value       = module.eks.cluster_endpoint
}

output "configure_kubectl" {
  description = "Command that writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "vpc_id" {
  description = "Id of the VPC."
  value       = module.vpc.vpc_id
}

output "enabled_addons" {
  description = "The optional add-ons installed in this environment."
  value = compact([
    var.enable_karpenter ? "karpenter (cpu node pool)" : "",
    local.gpu_pool_enabled ? "karpenter gpu node pool + nvidia device plugin" : "",
    var.enable_kuberay ? "kuberay" : "",
    var.enable_volcano ? "volcano" : "",
    var.enable_kube_prometheus_stack ? "kube-prometheus-stack" : "",
    var.enable_kubecost ? "kubecost" : "",
  ])
}
