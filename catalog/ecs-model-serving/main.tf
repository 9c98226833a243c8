data "aws_partition" "current" {}

locals {
  has_token = nonsensitive(var.hf_token != "")
  container_environment = merge(
    var.app_environment,
    var.model_id == "" ? {} : { MODEL_ID = var.model_id },
    { PORT = tostring(var.container_port) },
  )
}

resource "aws_cloudwatch_log_group" "server" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# --- Secret: kept in SSM Parameter Store, handed to the container by ECS (never on a command line) ---------

resource "aws_ssm_parameter" "hf_token" {
  count = local.has_token ? 1 : 0

  name        = "/${var.name}/hf-token"
  description = "HF_TOKEN of ${var.name}"
  type        = "SecureString"
  value       = var.hf_token
}

# --- IAM ----------------------------------------------------------------------------------------------

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

data "aws_iam_policy_document" "execution_token" {
  count = local.has_token ? 1 : 0

  statement {
    actions   = ["ssm:GetParameters"]
    resources = [aws_ssm_parameter.hf_token[0].arn]
  }
}

resource "aws_iam_role_policy" "execution_token" {
  count = local.has_token ? 1 : 0

  name   = "read-hf-token"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_token[0].json
}

# The server itself needs no AWS permissions: its task role has none.
resource "aws_iam_role" "task" {
  name_prefix        = "${var.name}-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

# --- Load balancer ------------------------------------------------------------------------------------------

resource "aws_lb" "this" {
  name               = "${var.name}-alb"
  load_balancer_type = "application"
  internal           = var.internal_alb
  security_groups    = [aws_security_group.alb.id]
  subnets            = local.alb_subnet_ids
  # Generation can take a while; keep idle connections open longer than the 60 s default.
  idle_timeout = 300
}

resource "aws_lb_target_group" "server" {
  name_prefix          = "srv-"
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = local.vpc_id
  deregistration_delay = 60

  health_check {
    path                = var.health_check_path
    matcher             = "200-399"
    interval            = 30
    timeout             = 10
    healthy_threshold   = 2
    unhealthy_threshold = 5
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
    target_group_arn = aws_lb_target_group.server.arn
  }
}

# --- The model server -------------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "server" {
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
      name         = "server"
      image        = var.container_image
      essential    = true
      portMappings = [{ containerPort = var.container_port, protocol = "tcp" }]
      environment  = [for key, value in local.container_environment : { name = key, value = value }]
      secrets      = local.has_token ? [{ name = "HF_TOKEN", valueFrom = aws_ssm_parameter.hf_token[0].arn }] : []
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.server.name
          awslogs-region        = var.region
          awslogs-stream-prefix = "server"
        }
      }
    }
  ])
}

resource "aws_ecs_service" "server" {
  name                              = var.name
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.server.arn
  desired_count                     = var.scaling.min_tasks
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = var.health_check_grace_seconds

  # Keep full capacity during a deployment: start new tasks before stopping old ones.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  network_configuration {
    subnets          = local.task_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = local.assign_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.server.arn
    container_name   = "server"
    container_port   = var.container_port
  }

  # A deployment whose tasks never become healthy is stopped and rolled back to the last working one.
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # The autoscaler owns the task count once the service exists.
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener.http]
}

# --- Autoscaling: target tracking on average CPU -----------------------------------------------------------

resource "aws_appautoscaling_target" "server" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.server.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.scaling.min_tasks
  max_capacity       = var.scaling.max_tasks
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${var.name}-cpu-target"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.server.service_namespace
  resource_id        = aws_appautoscaling_target.server.resource_id
  scalable_dimension = aws_appautoscaling_target.server.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.scaling.cpu_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}
