variable "name" {
  description = "Name of the function and its IAM role."
  type        = string
  default     = "lifeboat-drainer"
}

variable "cluster_name" {
  description = "EKS cluster whose nodes the function drains."
  type        = string
}

variable "autoscaling_group_names" {
  description = "Auto Scaling groups whose terminate lifecycle hooks invoke the function."
  type        = list(string)
}

variable "lifecycle_hook_name" {
  description = "Name of the terminate lifecycle hook created on each group."
  type        = string
  default     = "lifeboat-drain"
}

variable "heartbeat_timeout" {
  description = "Hook HeartbeatTimeout in seconds; the function heartbeats every heartbeat_interval_seconds."
  type        = number
  default     = 300
}

variable "heartbeat_interval_seconds" {
  description = "Interval of RecordLifecycleActionHeartbeat; keep it well below heartbeat_timeout."
  type        = number
  default     = 60
}

variable "lambda_zip" {
  description = "Zip holding the lifeboat binary as `bootstrap` (GOOS=linux GOARCH=arm64 CGO_ENABLED=0)."
  type        = string
}

variable "timeout" {
  description = "Function timeout in seconds (max 900); drains end deadline_margin before it."
  type        = number
  default     = 900
}

variable "deadline_margin" {
  description = "Time kept free before the invocation deadline (Go duration)."
  type        = string
  default     = "30s"
}

variable "delete_node" {
  description = "Delete the Node object after the drain."
  type        = bool
  default     = true
}

variable "kubernetes_group" {
  description = "Kubernetes group the function's role is mapped to (bound by rbac.yaml)."
  type        = string
  default     = "lifeboat:drainers"
}

variable "subnet_ids" {
  description = "Subnets for a function that must reach a private cluster endpoint; empty for none."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups for the function in the VPC."
  type        = list(string)
  default     = []
}
