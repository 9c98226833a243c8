# AI on EKS: a VPC, an EKS cluster with a core node group, and the AI/ML add-ons of the AI on EKS reference
# (Karpenter CPU and GPU node pools, KubeRay, Volcano, kube-prometheus-stack, Kubecost).
# Apply in phases (see README and terrace.yaml apply_phases): the cluster must exist before the Helm and
# Kubernetes providers can reach it, and Karpenter's CRDs before its node pools.

data "aws_availability_zones" "available" {
  state = "available"
}

data "aws_eks_cluster_auth" "this" {
  name = module.eks.cluster_name
}

data "aws_ecrpublic_authorization_token" "token" {
  provider = aws.ecr_public
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, 2)
  # Karpenter finds the subnets and the node security group by this tag.
  discovery_tag = { "karpenter.sh/discovery" = var.name }

  gpu_pool_enabled = var.enable_karpenter && var.enable_gpu_node_pool
  karpenter_node_role = var.enable_karpenter ? try(
    split("/", module.eks_blueprints_addons.karpenter.node_iam_role_arn)[1], ""
  ) : ""
}

# --- Phase 1: network ---------------------------------------------------------------------------------------

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 5.16"

  name = var.name
  cidr = var.vpc_cidr
  azs  = local.azs

  # Two large private subnets for nodes and pods (VPC CNI gives every pod a VPC address), two small public
  # subnets for load balancers and the NAT gateway.
  private_subnets = [for i in range(2) : cidrsubnet(var.vpc_cidr, 2, i)]
  public_subnets  = [for i in range(2) : cidrsubnet(var.vpc_cidr, 6, 32 + i)]

  enable_nat_gateway = true
  single_nat_gateway = true

  public_subnet_tags  = { "kubernetes.io/role/elb" = 1 }
  private_subnet_tags = merge({ "kubernetes.io/role/internal-elb" = 1 }, local.discovery_tag)
}

# --- Phase 2: cluster and core node group -----------------------------------------------------------------

module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 20.31"

  cluster_name                             = var.name
  cluster_version                          = var.kubernetes_version
  cluster_endpoint_public_access           = true
  enable_cluster_creator_admin_permissions = true

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  cluster_addons = {
    coredns                = {}
    kube-proxy             = {}
    vpc-cni                = { before_compute = true }
    eks-pod-identity-agent = {}
  }

  eks_managed_node_groups = {
    core = {
      instance_types = var.core_node_instance_types
      ami_type       = "AL2023_x86_64_STANDARD"
      min_size       = var.core_nodes.min
      desired_size   = var.core_nodes.desired
      max_size       = var.core_nodes.max
      labels         = { NodeGroupType = "core" }
    }
  }

  node_security_group_tags = local.discovery_tag
}

# --- Phase 3: cluster add-ons (EBS CSI, load balancer controller, Karpenter, monitoring) --------------------

module "ebs_csi_irsa" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.48"

  role_name_prefix      = "${var.name}-ebs-csi-"
  attach_ebs_csi_policy = true

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:ebs-csi-controller-sa"]
    }
  }
}

resource "random_password" "grafana" {
  length  = 24
  special = false
}

module "eks_blueprints_addons" {
  source  = "aws-ia/eks-blueprints-addons/aws"
  version = "~> 1.21"

  cluster_name      = module.eks.cluster_name
  cluster_endpoint  = module.eks.cluster_endpoint
  cluster_version   = module.eks.cluster_version
  oidc_provider_arn = module.eks.oidc_provider_arn

  eks_addons = {
    aws-ebs-csi-driver = { service_account_role_arn = module.ebs_csi_irsa.iam_role_arn }
  }

  enable_aws_load_balancer_controller = true
  enable_metrics_server               = true

  enable_karpenter                           = var.enable_karpenter
  karpenter_enable_spot_termination          = true
  karpenter_enable_instance_profile_creation = true
  karpenter = {
    chart_version       = "1.2.1"
    repository_username = data.aws_ecrpublic_authorization_token.token.user_name
    repository_password = data.aws_ecrpublic_authorization_token.token.password
  }
  karpenter_node = {
    iam_role_use_name_prefix = false
    iam_role_name            = "${var.name}-karpenter-node"
    iam_role_additional_policies = {
      AmazonSSMManagedInstanceCore = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    }
  }

  # The Grafana password travels through the Helm provider (set_sensitive), never through a command line.
  enable_kube_prometheus_stack = var.enable_kube_prometheus_stack
  kube_prometheus_stack = {
    set_sensitive = [{
      name  = "grafana.adminPassword"
      value = var.grafana_admin_password != "" ? var.grafana_admin_password : random_password.grafana.result
    }]
  }
}

# Nodes launched by Karpenter join the cluster with this access entry.
resource "aws_eks_access_entry" "karpenter_node" {
  count = var.enable_karpenter ? 1 : 0

  cluster_name  = module.eks.cluster_name
  principal_arn = module.eks_blueprints_addons.karpenter.node_iam_role_arn
  type          = "EC2_LINUX"
}

# --- Phase 4: AI/ML add-ons (node pools, device plugin, KubeRay, Volcano, Kubecost) --------------------------

locals {
  node_class = {
    amiFamily                  = "AL2023"
    amiSelectorTerms           = [{ alias = "al2023@latest" }]
    karpenterRole              = local.karpenter_node_role
    subnetSelectorTerms        = { tags = local.discovery_tag }
    securityGroupSelectorTerms = { tags = local.discovery_tag }
  }

  cpu_node_pool = {
    cpu-karpenter = {
      values = [yamlencode({
        name         = "cpu-karpenter"
        clusterName  = module.eks.cluster_name
        ec2NodeClass = local.node_class
        nodePool = {
          labels = [{ type = "karpenter" }, { NodeGroupType = "cpu-karpenter" }]
          requirements = [
            { key = "karpenter.sh/capacity-type", operator = "In", values = var.capacity_types },
            { key = "karpenter.k8s.aws/instance-category", operator = "In", values = ["c", "m", "r"] },
            { key = "karpenter.k8s.aws/instance-size", operator = "In", values = ["xlarge", "2xlarge", "4xlarge", "8xlarge"] },
            { key = "kubernetes.io/arch", operator = "In", values = ["amd64"] },
          ]
          limits     = { cpu = 1000 }
          disruption = { consolidationPolicy = "WhenEmptyOrUnderutilized", consolidateAfter = "60s" }
        }
      })]
    }
  }

  gpu_node_pool = {
    gpu-karpenter = {
      values = [yamlencode({
        name         = "gpu-karpenter"
        clusterName  = module.eks.cluster_name
        ec2NodeClass = merge(local.node_class, { blockDevice = { deviceName = "/dev/xvda", volumeSize = "500Gi", volumeType = "gp3", encrypted = true, deleteOnTermination = true } })
        nodePool = {
          labels = [{ type = "karpenter" }, { NodeGroupType = "gpu-karpenter" }]
          taints = [{ key = "nvidia.com/gpu", value = "Exists", effect = "NoSchedule" }]
          requirements = [
            { key = "karpenter.sh/capacity-type", operator = "In", values = var.capacity_types },
            { key = "karpenter.k8s.aws/instance-family", operator = "In", values = var.gpu_instance_families },
            { key = "kubernetes.io/arch", operator = "In", values = ["amd64"] },
          ]
          limits     = { cpu = 1000, "nvidia.com/gpu" = 64 }
          disruption = { consolidationPolicy = "WhenEmpty", consolidateAfter = "300s" }
        }
      })]
    }
  }
}

module "eks_data_addons" {
  source  = "aws-ia/eks-data-addons/aws"
  version = "~> 1.34"

  oidc_provider_arn = module.eks.oidc_provider_arn

  enable_karpenter_resources      = var.enable_karpenter
  karpenter_resources_helm_config = merge(local.cpu_node_pool, { for pool, config in local.gpu_node_pool : pool => config if local.gpu_pool_enabled })

  # Exposes nvidia.com/gpu on GPU nodes; only GPU nodes run it (the pool's taint is tolerated by the chart).
  enable_nvidia_device_plugin = local.gpu_pool_enabled

  enable_kuberay_operator = var.enable_kuberay
  enable_volcano          = var.enable_volcano

  enable_kubecost = var.enable_kubecost
  kubecost_helm_config = {
    repository_username = data.aws_ecrpublic_authorization_token.token.user_name
    repository_password = data.aws_ecrpublic_authorization_token.token.password
  }
}
