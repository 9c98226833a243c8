variable "app_name" {
  description = "Short name of the application; used in resource names and the URL."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.app_name))
    error_message = "The app_name must start with a lowercase letter and use 3 to 31 lowercase letters, digits or hyphens."
  }
}

variable "replicas" {
  description = "Number of simulated application replicas (1 to 5)."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas >= 1 && var.replicas <= 5 && floor(var.replicas) == var.replicas
    error_message = "The replicas value must be a whole number from 1 to 5."
  }
}

variable "enable_debug" {
  description = "Print extra diagnostic lines while provisioning."
  type        = bool
  default     = false
}

variable "regions" {
  description = "Regions the sandbox is (pretend) deployed to."
  type        = list(string)
  default     = ["eu-west-1"]

  validation {
    condition     = length(var.regions) > 0
    error_message = "At least one region is required."
  }
}

variable "tags" {
  description = "Extra tags attached to every resource."
  type        = map(string)
  default     = {}
}

variable "size" {
  description = "Size of each replica: CPU units and memory in MiB."
  type = object({
    cpu    = number
    memory = number
  })
  default = {
    cpu    = 256
    memory = 512
  }

  validation {
    condition     = contains([256, 512, 1024], var.size.cpu)
    error_message = "The size.cpu value must be one of 256, 512 or 1024."
  }
}

variable "api_token" {
  description = "Optional API token handed to the application; never printed."
  type        = string
  default     = ""
  sensitive   = true
}

variable "step_seconds" {
  description = "Seconds each provisioning step sleeps (0 to 10); controls how long an apply takes."
  type        = number
  default     = 1

  validation {
    condition     = var.step_seconds >= 0 && var.step_seconds <= 10
    error_message = "The step_seconds value must be between 0 and 10."
  }
}
