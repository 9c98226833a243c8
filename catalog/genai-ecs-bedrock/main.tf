data "aws_partition" "current" {}

locals {
  # Bedrock foundation models are regional resources without an account id.
  model_ids = distinct(concat([var.bedrock_model_id], var.additional_bedrock_model_ids))
  model_arns = [
    for id in local.model_ids :
    "arn:${data.aws_partition.current.partition}:bedrock:${var.region}::foundation-model/${id}"
  ]
  has_secret = nonsensitive(var.app_secret != "")
}

resource "aws_cloudwatch_log_group" "app" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

# --- Secret: kept in SSM Parameter Store, handed to the container by ECS (never on a command line) ---------

resource "aws_ssm_parameter" "app_secret" {
  count = local.has_secret ? 1 : 0

  name        = "/${var.name}/app-secret"
  description = "APP_SECRET of ${var.name}"
  type        = "SecureString"
  value       = var.app_secret
}

# --- IAM: the execution role starts the task; the task role is what the app may do ------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secret" {
  count = local.has_secret ? 1 : 0

  statement {
    actions   = ["ssm:GetParameters"]
    resources = [aws_ssm_parameter.app_secret[0].arn]
  }
}

resource "aws_iam_role_policy" "execution_secret" {
  count = local.has_secret ? 1 : 0

  name   = "read-app-secret"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secret[0].json
}

resource "aws_iam_role" "task" {
  name_prefix        = "${var.name}-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

data "aws_iam_policy_document" "bedrock_invoke" {
  statement {
    sid       = "InvokeChosenModels"
    actions   = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    resources = local.model_arns
  }
}

resource "aws_iam_role_policy" "bedrock_invoke" {
  name   = "bedrock-invoke"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.bedrock_invoke.json
}

# --- Load balancer ------------------------------------------------------------------------------------------

resource "aws_lb" "this" {
  name               = "${var.name}-alb"
  load_balancer_type = "application"
  internal           = var.internal_alb
  security_groups    = [aws_security_group.alb.id]
  subnets            = local.alb_subnet_ids
}

resource "aws_lb_target_group" "app" {
  name_prefix          = "app-"
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = local.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.health_check_path
    matcher             = "200-399"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
}

# --- The application ------------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "app" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_size.cpu
  memory                   = var.task_size.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([
    {
      name      = "app"
      image     = var.container_image
      essential = true
      portMappings = [
        { containerPort = var.container_port, protocol = "tcp" }
      ]
      environment = [
        for key, value in merge(var.app_environment, {
          AWS_REGION        = var.region
          BEDROCK_MODEL_ID  = var.bedrock_model_id
          BEDROCK_MODEL_IDS = join(",", local.model_ids)
          PORT              = tostring(var.container_port)
        }) : { name = key, value = value }
      ]
      secrets = local.has_secret ? [{ name = "APP_SECRET", valueFrom = aws_ssm_parameter.app_secret[0].arn }] : []
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.app.name
          awslogs-region        = var.region
          awslogs-stream-prefix = "app"
        }
      }
    }
  ])
}

resource "aws_ecs_service" "app" {
  name                              = var.name
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.app.arn
  desired_count                     = var.desired_count
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = 60

  network_configuration {
    subnets          = local.task_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = local.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.app.arn
    container_name   = "app"
    container_port   = var.container_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # The listener must exist before ECS registers targets.
  depends_on = [aws_lb_listener.http, aws_iam_role_policy.bedrock_invoke]
}
