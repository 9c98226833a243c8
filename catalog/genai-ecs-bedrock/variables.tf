variable "region" {
  description = "AWS region to deploy to; Bedrock and the chosen models must be available there."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[1-9]$", var.region))
    error_message = "The region must be an AWS region code such as us-east-1 or eu-west-3."
  }
}

variable "name" {
  description = "Short name used for every resource (cluster, service, load balancer, log group)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "The name must be 3 to 20 characters: a lowercase letter first, then lowercase letters, digits or hyphens, not ending with a hyphen."
  }
}

variable "container_image" {
  description = "Image of the chat application, with an explicit tag or digest (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/chat:1.4.0)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", var.container_image))
    error_message = "The container_image must be an image reference ending in an explicit :tag or @sha256 digest."
  }
}

variable "container_port" {
  description = "Port the application listens on inside the container."
  type        = number
  default     = 8080

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535 && floor(var.container_port) == var.container_port
    error_message = "The container_port must be a whole number from 1 to 65535."
  }
}

variable "health_check_path" {
  description = "HTTP path the load balancer checks; it must answer 200-399 when the app is healthy."
  type        = string
  default     = "/health"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._~/?=&%-]*$", var.health_check_path)) && length(var.health_check_path) <= 1024
    error_message = "The health_check_path must start with / and contain only URL path characters."
  }
}

variable "task_size" {
  description = "Fargate task size: cpu in CPU units (1024 = 1 vCPU) and memory in MiB; must be a valid Fargate pair."
  type = object({
    cpu    = number
    memory = number
  })
  default = {
    cpu    = 1024
    memory = 2048
  }

  validation {
    condition = contains(try({
      "256"   = [512, 1024, 2048]
      "512"   = range(1024, 4097, 1024)
      "1024"  = range(2048, 8193, 1024)
      "2048"  = range(4096, 16385, 1024)
      "4096"  = range(8192, 30721, 1024)
      "8192"  = range(16384, 61441, 4096)
      "16384" = range(32768, 122881, 8192)
    }[tostring(var.task_size.cpu)], []), var.task_size.memory)
    error_message = "The task_size is not a valid Fargate cpu/memory pair: cpu 256 takes 512, 1024 or 2048 MiB; 512 takes 1024-4096; 1024 takes 2048-8192; 2048 takes 4096-16384 (steps of 1024); 4096 takes 8192-30720 (steps of 1024); 8192 takes 16384-61440 (steps of 4096); 16384 takes 32768-122880 (steps of 8192)."
  }
}

variable "desired_count" {
  description = "Number of tasks to run."
  type        = number
  default     = 1

  validation {
    condition     = var.desired_count >= 0 && var.desired_count <= 10 && floor(var.desired_count) == var.desired_count
    error_message = "The desired_count must be a whole number from 0 to 10."
  }
}

variable "bedrock_model_id" {
  description = "Bedrock foundation model the app uses, given to it as BEDROCK_MODEL_ID; the task role may invoke it."
  type        = string
  default     = "anthropic.claude-3-haiku-20240307-v1:0"

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[a-z0-9][a-z0-9.:-]*$", var.bedrock_model_id))
    error_message = "The bedrock_model_id must be a Bedrock model id such as anthropic.claude-3-haiku-20240307-v1:0 (provider.model, lowercase)."
  }
}

variable "additional_bedrock_model_ids" {
  description = "Other Bedrock models the app may also invoke; the task role is limited to these and bedrock_model_id."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.additional_bedrock_model_ids : can(regex("^[a-z0-9-]+\\.[a-z0-9][a-z0-9.:-]*$", id))])
    error_message = "Each additional model id must look like amazon.titan-text-express-v1 (provider.model, lowercase)."
  }
}

variable "vpc_cidr" {
  description = "Address range of the VPC created when no existing subnets are given (/16 to /24)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], false) && can(regex("/(1[6-9]|2[0-4])$", var.vpc_cidr))
    error_message = "The vpc_cidr must be an IPv4 network address with a prefix from /16 to /24, such as 10.40.0.0/16."
  }
}

variable "existing_subnet_ids" {
  description = "Deploy into these existing subnets (at least two, in different availability zones) instead of creating a VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = (length(var.existing_subnet_ids) == 0 || length(var.existing_subnet_ids) >= 2) && alltrue([for id in var.existing_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", id))])
    error_message = "Give no subnets (a VPC is created) or at least two subnet ids such as subnet-0123456789abcdef0."
  }
}

variable "internal_alb" {
  description = "Make the load balancer internal (reachable only inside the VPC) instead of internet-facing."
  type        = bool
  default     = false
}

variable "allowed_ingress_cidrs" {
  description = "Address ranges allowed to reach the load balancer on port 80."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.allowed_ingress_cidrs) > 0 && alltrue([for cidr in var.allowed_ingress_cidrs : can(cidrnetmask(cidr))])
    error_message = "Give at least one IPv4 CIDR block such as 203.0.113.0/24."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the application logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be one CloudWatch accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "container_insights" {
  description = "Turn on CloudWatch Container Insights for the cluster (extra metrics, extra cost)."
  type        = bool
  default     = false
}

variable "app_environment" {
  description = "Extra plain environment variables for the application (not for secrets)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key in keys(var.app_environment) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", key))])
    error_message = "Environment variable names must be letters, digits and underscores, not starting with a digit."
  }
}

variable "app_secret" {
  description = "Optional secret for the application (e.g. a session key); stored as an SSM SecureString and given to the container as APP_SECRET."
  type        = string
  default     = ""
  sensitive   = true
}

variable "tags" {
  description = "Extra tags for every resource (the terrace:* tags are always added)."
  type        = map(string)
  default     = {}
}
