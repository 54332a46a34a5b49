# lifeboat as an AWS Lambda function draining EKS nodes on Auto Scaling scale-in.
#
# EventBridge invokes the function with each "EC2 Instance-terminate Lifecycle Action" of the
# listed groups; the function (the lifeboat binary as `bootstrap`, running `lifeboat lambda`)
# authenticates to EKS with an STS-presigned token for its own role, drains the node before the
# invocation's deadline, and completes the hook. Apply rbac.yaml in the cluster once.

terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.40" }
  }
}

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_eks_cluster" "this" {
  name = var.cluster_name
}

locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}"
  asg_arns = [for g in var.autoscaling_group_names :
  "${local.arn_prefix}:autoscaling:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${g}"]
}

resource "aws_iam_role" "lambda" {
  name = var.name
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "lambda.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

# Least privilege: heartbeat and complete lifecycle actions of these groups only. No EKS API
# permission is needed (the token is a presigned sts:GetCallerIdentity, which needs none), and no
# ec2:DescribeInstances unless --private-dns-fallback or --managed-tag is turned on.
resource "aws_iam_role_policy" "lifecycle" {
  name = "lifecycle-hooks"
  role = aws_iam_role.lambda.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "CompleteOwnHooks"
      Effect   = "Allow"
      Action   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
      Resource = local.asg_arns
    }]
  })
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.lambda.name
  policy_arn = "${local.arn_prefix}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy_attachment" "vpc" {
  count      = length(var.subnet_ids) > 0 ? 1 : 0
  role       = aws_iam_role.lambda.name
  policy_arn = "${local.arn_prefix}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

# Map the role to a Kubernetes group; rbac.yaml grants that group what a drain needs.
resource "aws_eks_access_entry" "lambda" {
  cluster_name      = var.cluster_name
  principal_arn     = aws_iam_role.lambda.arn
  kubernetes_groups = [var.kubernetes_group]
  type              = "STANDARD"
}

resource "aws_lambda_function" "lifeboat" {
  function_name    = var.name
  role             = aws_iam_role.lambda.arn
  filename         = var.lambda_zip
  source_code_hash = filebase64sha256(var.lambda_zip)
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap" # custom runtimes run ./bootstrap, which execs `lifeboat lambda`
  timeout          = var.timeout
  memory_size      = 256

  environment {
    variables = {
      # Every flag of `lifeboat lambda` can be set as LIFEBOAT_<FLAG>.
      LIFEBOAT_CLUSTER_NAME       = var.cluster_name
      LIFEBOAT_CLUSTER_ENDPOINT   = data.aws_eks_cluster.this.endpoint
      LIFEBOAT_CLUSTER_CA_DATA    = data.aws_eks_cluster.this.certificate_authority[0].data
      LIFEBOAT_DEADLINE_MARGIN    = var.deadline_margin
      LIFEBOAT_HEARTBEAT_INTERVAL = "${var.heartbeat_interval_seconds}s"
      LIFEBOAT_DELETE_NODE        = tostring(var.delete_node)
      LIFEBOAT_LOG_FORMAT         = "json"
    }
  }

  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }
}

# A lifecycle hook per group: the instance waits in Terminating:Wait until the function completes it.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  for_each               = toset(var.autoscaling_group_names)
  name                   = var.lifecycle_hook_name
  autoscaling_group_name = each.value
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.heartbeat_timeout
  default_result         = "CONTINUE"
}

resource "aws_cloudwatch_event_rule" "terminate" {
  name = "${var.name}-terminate"
  event_pattern = jsonencode({
    source        = ["aws.autoscaling"]
    "detail-type" = ["EC2 Instance-terminate Lifecycle Action"]
    detail = {
      AutoScalingGroupName = var.autoscaling_group_names
      LifecycleHookName    = [var.lifecycle_hook_name]
    }
  })
}

resource "aws_cloudwatch_event_target" "lambda" {
  rule = aws_cloudwatch_event_rule.terminate.name
  arn  = aws_lambda_function.lifeboat.arn
  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.lifeboat.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.terminate.arn
}
