terraform {
  required_version = ">= 1.3"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.61, < 6.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.13, < 3.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = ">= 2.31, < 3.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6, < 4.0"
    }
  }
}

provider "aws" {
  region = var.region

  # Every resource carries the environment it belongs to; the terrace:* keys win over user tags.
  default_tags {
    tags = merge(var.tags, local.terrace_tags)
  }
}

# Public ECR (Karpenter and Kubecost charts) hands out its pull tokens only in us-east-1.
provider "aws" {
  alias  = "ecr_public"
  region = "us-east-1"
}

# Talk to the cluster this module creates. The token comes from the AWS provider (no CLI needed on the
# runner) and is valid for 15 minutes, which is why the add-ons are applied in their own phases.
provider "kubernetes" {
  host                   = module.eks.cluster_endpoint
  cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)
  token                  = data.aws_eks_cluster_auth.this.token
}

provider "helm" {
  kubernetes {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)
    token                  = data.aws_eks_cluster_auth.this.token
  }
}
