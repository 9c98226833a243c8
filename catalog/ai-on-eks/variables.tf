variable "region" {
  description = "AWS region to deploy to; it needs at least two availability zones offering the GPU instance families."
  type        = string
  default     = "us-west-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[1-9]$", var.region))
    error_message = "The region must be an AWS region code such as us-west-2 or eu-west-1."
  }
}

variable "name" {
  description = "Name of the EKS cluster, also used for the VPC, node roles and discovery tags."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "The name must be 3 to 20 characters: a lowercase letter first, then lowercase letters, digits or hyphens, not ending with a hyphen."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes version of the EKS control plane (e.g. 1.31)."
  type        = string
  default     = "1.31"

  validation {
    condition     = can(regex("^1\\.(2[89]|3[0-9])$", var.kubernetes_version))
    error_message = "The kubernetes_version must be an EKS version from 1.28 to 1.39, written like 1.31."
  }
}

variable "vpc_cidr" {
  description = "Address range of the VPC (/16 to /20): half goes to two large private subnets for nodes and pods."
  type        = string
  default     = "10.1.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], false) && can(regex("/(1[6-9]|20)$", var.vpc_cidr))
    error_message = "The vpc_cidr must be an IPv4 network address with a prefix from /16 to /20, such as 10.1.0.0/16."
  }
}

variable "core_node_instance_types" {
  description = "Instance types of the managed core node group that runs the add-ons."
  type        = list(string)
  default     = ["m5.xlarge"]

  validation {
    condition     = length(var.core_node_instance_types) > 0 && alltrue([for t in var.core_node_instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    error_message = "Give at least one EC2 instance type such as m5.xlarge."
  }
}

variable "core_nodes" {
  description = "Size of the core node group: min, desired and max number of nodes."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = {
    min     = 2
    desired = 2
    max     = 4
  }

  validation {
    condition     = var.core_nodes.min >= 1 && var.core_nodes.min <= var.core_nodes.desired && var.core_nodes.desired <= var.core_nodes.max && var.core_nodes.max <= 20 && floor(var.core_nodes.min) == var.core_nodes.min && floor(var.core_nodes.desired) == var.core_nodes.desired && floor(var.core_nodes.max) == var.core_nodes.max
    error_message = "The core_nodes need whole numbers with 1 <= min <= desired <= max <= 20."
  }
}

variable "enable_karpenter" {
  description = "Install Karpenter and its CPU node pool, so workloads get nodes on demand."
  type        = bool
  default     = true
}

variable "enable_gpu_node_pool" {
  description = "Add a Karpenter GPU node pool (tainted nvidia.com/gpu) and the NVIDIA device plugin; needs enable_karpenter."
  type        = bool
  default     = true
}

variable "gpu_instance_families" {
  description = "EC2 instance families the GPU node pool may launch."
  type        = list(string)
  default     = ["g5", "g6"]

  validation {
    condition     = length(var.gpu_instance_families) > 0 && alltrue([for f in var.gpu_instance_families : can(regex("^(g|p)[0-9][a-z0-9]*$", f))])
    error_message = "Give at least one GPU instance family such as g5, g6 or p4d."
  }
}

variable "capacity_types" {
  description = "Capacity types the Karpenter node pools may use: spot, on-demand or both."
  type        = list(string)
  default     = ["spot", "on-demand"]

  validation {
    condition     = length(var.capacity_types) > 0 && alltrue([for c in var.capacity_types : contains(["spot", "on-demand"], c)])
    error_message = "The capacity_types may contain only spot and on-demand."
  }
}

variable "enable_kuberay" {
  description = "Install the KubeRay operator (Ray clusters, jobs and Ray Serve)."
  type        = bool
  default     = true
}

variable "enable_volcano" {
  description = "Install the Volcano batch scheduler (gang scheduling for distributed training)."
  type        = bool
  default     = false
}

variable "enable_kube_prometheus_stack" {
  description = "Install kube-prometheus-stack (Prometheus, Alertmanager, Grafana)."
  type        = bool
  default     = true
}

variable "enable_kubecost" {
  description = "Install Kubecost for per-namespace cost reports."
  type        = bool
  default     = false
}

variable "grafana_admin_password" {
  description = "Grafana admin password; a random one is generated when empty (read it from the kube-prometheus-stack-grafana secret)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "tags" {
  description = "Extra tags for every AWS resource (the terrace:* tags are always added)."
  type        = map(string)
  default     = {}
}
