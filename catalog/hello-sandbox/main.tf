terraform {
  required_version = ">= 1.0"

  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "~> 2.1"
    }
  }
}

locals {
  all_tags = merge({ app = var.app_name, managed_by = "terrace" }, var.tags)
  tag_text = join(",", [for key, value in local.all_tags : "${key}=${value}"])
}

# Step 1: pretend to create a network in each region.
resource "null_resource" "network" {
  triggers = {
    app_name = var.app_name
    regions  = join(",", var.regions)
    tags     = local.tag_text
  }

  provisioner "local-exec" {
    command = <<-EOT
      echo "[network] creating network for $APP_NAME in $REGIONS"
      sleep $STEP
      echo "[network] tags: $TAGS"
      sleep $STEP
      echo "[network] network ready"
    EOT

    environment = {
      APP_NAME = var.app_name
      REGIONS  = join(" ", var.regions)
      TAGS     = local.tag_text
      STEP     = var.step_seconds
    }
  }
}

# Step 2: pretend to start the application replicas.
resource "null_resource" "app" {
  depends_on = [null_resource.network]

  triggers = {
    app_name     = var.app_name
    replicas     = var.replicas
    cpu          = var.size.cpu
    memory       = var.size.memory
    enable_debug = var.enable_debug
  }

  provisioner "local-exec" {
    command = <<-EOT
      echo "[app] starting $REPLICAS replica(s) of $APP_NAME ($CPU cpu, $MEMORY MiB)"
      sleep $STEP
      if [ "$DEBUG" = "true" ]; then echo "[app] debug: running as $(id -un) in $(pwd)"; fi
      echo "[app] replicas healthy"
    EOT

    environment = {
      APP_NAME = var.app_name
      REPLICAS = var.replicas
      CPU      = var.size.cpu
      MEMORY   = var.size.memory
      DEBUG    = var.enable_debug
      STEP     = var.step_seconds
    }
  }
}

# Step 3: pretend to hand the API token to the application.
# The token travels through `environment`, never inside `command`, so the shell does not interpret it and
# an error message cannot echo it. Terraform suppresses all output of a provisioner whose configuration
# holds a sensitive value, so the progress lines (and the token length, the only thing revealed about the
# token) come from a first provisioner; the second one receives the token and stays silent.
resource "null_resource" "secret" {
  depends_on = [null_resource.app]

  triggers = {
    app_name = var.app_name
    # A hash, so that a new token replaces the resource without the state holding the token itself.
    token_hash = sha256(var.api_token)
  }

  provisioner "local-exec" {
    command = <<-EOT
      echo "[secret] configuring credentials for $APP_NAME"
      sleep $STEP
      echo "[secret] API token length: $TOKEN_LENGTH"
    EOT

    environment = {
      APP_NAME     = var.app_name
      TOKEN_LENGTH = nonsensitive(length(var.api_token))
      STEP         = var.step_seconds
    }
  }

  provisioner "local-exec" {
    command = <<-EOT
      test "$${#API_TOKEN}" -eq "$TOKEN_LENGTH"
      echo "[secret] token handed over"
    EOT

    environment = {
      API_TOKEN    = var.api_token
      TOKEN_LENGTH = nonsensitive(length(var.api_token))
    }
  }
}
