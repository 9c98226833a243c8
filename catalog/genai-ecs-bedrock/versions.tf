terraform {
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
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
