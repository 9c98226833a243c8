# Reserved variables: Terrace fills these for every environment (they are not asked in the form).

variable "terrace_environment_id" {
  description = "Set by Terrace: the environment's id, written to the terrace:environment-id tag."
  type        = string
  default     = ""
}

variable "terrace_environment_name" {
  description = "Set by Terrace: the environment's name, written to the terrace:environment tag."
  type        = string
  default     = ""
}

variable "terrace_project" {
  description = "Set by Terrace: the slug of the environment's project, written to the terrace:project tag."
  type        = string
  default     = ""
}

variable "terrace_owner" {
  description = "Set by Terrace: who created the environment, written to the terrace:owner tag."
  type        = string
  default     = ""
}

locals {
  terrace_tags = {
    "terrace:environment-id" = var.terrace_environment_id
    "terrace:environment"    = var.terrace_environment_name
    "terrace:project"        = var.terrace_project
    "terrace:owner"          = var.terrace_owner
  }
}
