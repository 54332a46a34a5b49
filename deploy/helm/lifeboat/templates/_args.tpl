{{/* Global flags of every command. */}}
{{- define "lifeboat.globalArgs" -}}
- --log-format={{ .Values.logging.format }}
- --log-level={{ .Values.logging.level }}
- --metrics-address=:{{ .Values.metrics.port }}
{{- include "lifeboat.budgetArgs" . }}
{{- end }}

{{/* The cluster-wide drain budget, shared by agent and queue. */}}
{{- define "lifeboat.budgetArgs" -}}
{{- $b := .Values.drainBudget -}}
{{- if gt (int $b.maxConcurrentDrains) 0 }}
- --max-concurrent-drains={{ $b.maxConcurrentDrains }}
- --lease-namespace={{ .Release.Namespace }}
{{- with $b.groupLabel }}
- --drain-group-label={{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Arguments of `lifeboat agent` (after the sub-command). */}}
{{- define "lifeboat.agent.args" -}}
{{- $a := .Values.agent -}}
{{ include "lifeboat.globalArgs" . }}
- --run-mode={{ $a.runMode }}
- --platform={{ $a.platform }}
- --shutdown-timeout={{ $a.shutdownTimeout }}
- --delete-node={{ $a.deleteNode }}
{{- with $a.onRebalance }}
- --on-rebalance={{ . }}
{{- end }}
{{- range $a.actions }}
- --action={{ . }}
{{- end }}
{{- include "lifeboat.notifications.args" . }}
{{- include "lifeboat.flagArgs" $a.flags }}
{{- with $a.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Arguments of `lifeboat queue` (after the sub-command). */}}
{{- define "lifeboat.queue.args" -}}
{{- $q := .Values.queue -}}
{{ include "lifeboat.globalArgs" . }}
- --queue-url={{ required "queue.queueURL is required when queue.enabled is true" $q.queueURL }}
{{- with $q.awsRegion }}
- --aws-region={{ . }}
{{- end }}
{{- with $q.awsEndpoint }}
- --aws-endpoint={{ . }}
{{- end }}
{{- if not (kindIs "invalid" $q.workers) }}
- --workers={{ $q.workers }}
{{- end }}
- --leader-elect={{ $q.leaderElect }}
{{- if $q.leaderElect }}
- --leader-elect-namespace={{ .Release.Namespace }}
- --leader-elect-lease-name={{ $q.leaseName }}
{{- end }}
{{- with $q.heartbeatInterval }}
- --heartbeat-interval={{ . }}
{{- end }}
{{- with $q.onDrainFailure }}
- --on-drain-failure={{ . }}
{{- end }}
{{- with $q.poisonMessages }}
- --poison-messages={{ . }}
{{- end }}
{{- with $q.managedTag }}
- --managed-tag={{ . }}
{{- end }}
- --delete-node={{ $q.deleteNode }}
{{- range $q.actions }}
- --action={{ . }}
{{- end }}
{{- include "lifeboat.notifications.args" . }}
{{- include "lifeboat.flagArgs" $q.flags }}
{{- with $q.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Arguments of `lifeboat plan --serve` (after the sub-command). */}}
{{- define "lifeboat.plan.args" -}}
{{- $p := .Values.plan -}}
- --serve
{{ include "lifeboat.globalArgs" . }}
- --notice={{ join "," $p.notices }}
- --refresh={{ $p.refresh }}
{{- with $p.selector }}
- --selector={{ . }}
{{- end }}
{{- include "lifeboat.flagArgs" $p.flags }}
{{- with $p.extraArgs }}
{{ toYaml . }}
{{- end }}
{{- end }}
