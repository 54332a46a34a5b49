{{/* Name of the chart, overridable. */}}
{{- define "lifeboat.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "lifeboat.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "lifeboat.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "lifeboat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lifeboat
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component (agent, agent-windows, queue): pass (list $ "component"). */}}
{{- define "lifeboat.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "lifeboat.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* All labels of one component: pass (list $ "component"). */}}
{{- define "lifeboat.componentLabels" -}}
{{ include "lifeboat.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* ServiceAccount names. */}}
{{- define "lifeboat.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (printf "%s-agent" (include "lifeboat.fullname" .)) .Values.agent.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lifeboat.queue.serviceAccountName" -}}
{{- if .Values.queue.serviceAccount.create }}
{{- default (printf "%s-queue" (include "lifeboat.fullname" .)) .Values.queue.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.queue.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference; pass (list $ repository tag [digest]). A digest pins the image: image.digest, or the
     one passed with its own repository (the agent's image). */}}
{{- define "lifeboat.image" -}}
{{- $ := index . 0 -}}
{{- $repo := default $.Values.image.repository (index . 1) -}}
{{- $tag := default (default $.Chart.AppVersion $.Values.image.tag) (index . 2) -}}
{{- $digest := $.Values.image.digest -}}
{{- if and (gt (len .) 3) (index . 1) }}{{ $digest = index . 3 }}{{ end -}}
{{- if $digest -}}
{{ $repo }}@{{ $digest }}
{{- else -}}
{{ $repo }}:{{ $tag }}
{{- end -}}
{{- end }}

{{/* Name of the notification credentials Secret. */}}
{{- define "lifeboat.notifications.secretName" -}}
{{- default (printf "%s-notifications" (include "lifeboat.fullname" .)) .Values.notifications.existingSecret }}
{{- end }}

{{/* Whether any notifier needs the credentials Secret. */}}
{{- define "lifeboat.notifications.secretNeeded" -}}
{{- $n := .Values.notifications -}}
{{- if or $n.slack.enabled $n.slackWebhook.enabled $n.telegram.enabled $n.webhook.enabled }}true{{ end }}
{{- end }}

{{/* Where the credentials Secret and the webhook template are mounted. */}}
{{- define "lifeboat.notifications.secretDir" -}}/etc/lifeboat/notifications{{- end }}
{{- define "lifeboat.notifications.templateDir" -}}/etc/lifeboat/webhook-template{{- end }}

{{/*
Notification arguments shared by the agent and the queue consumer. Secrets are
passed as -file flags pointing into the mounted Secret, never as values.
*/}}
{{- define "lifeboat.notifications.args" -}}
{{- $n := .Values.notifications -}}
{{- $dir := include "lifeboat.notifications.secretDir" . -}}
{{- with $n.clusterName }}
- --cluster-name={{ . }}
{{- end }}
{{- if $n.slack.enabled }}
{{- if not $n.slack.channel }}{{ fail "notifications.slack.channel is required when notifications.slack.enabled is true" }}{{ end }}
- --slack-token-file={{ $dir }}/{{ $n.secretKeys.slackToken }}
- --slack-channel={{ $n.slack.channel }}
{{- end }}
{{- if $n.slackWebhook.enabled }}
- --slack-webhook-url-file={{ $dir }}/{{ $n.secretKeys.slackWebhookURL }}
{{- end }}
{{- if $n.telegram.enabled }}
{{- if not $n.telegram.chatID }}{{ fail "notifications.telegram.chatID is required when notifications.telegram.enabled is true" }}{{ end }}
- --telegram-token-file={{ $dir }}/{{ $n.secretKeys.telegramToken }}
- --telegram-chat-id={{ $n.telegram.chatID }}
{{- end }}
{{- if $n.webhook.enabled }}
- --webhook-url-file={{ $dir }}/{{ $n.secretKeys.webhookURL }}
{{- with $n.webhook.method }}
- --webhook-method={{ . }}
{{- end }}
{{- with $n.webhook.contentType }}
- --webhook-content-type={{ . }}
{{- end }}
{{- if $n.webhook.template }}
- --webhook-template-file={{ include "lifeboat.notifications.templateDir" . }}/template
{{- end }}
{{- end }}
{{- end }}

{{/* Volume mounts for notifications. */}}
{{- define "lifeboat.notifications.volumeMounts" -}}
{{- if include "lifeboat.notifications.secretNeeded" . }}
- name: notifications
  mountPath: {{ include "lifeboat.notifications.secretDir" . }}
  readOnly: true
{{- end }}
{{- if and .Values.notifications.webhook.enabled .Values.notifications.webhook.template }}
- name: webhook-template
  mountPath: {{ include "lifeboat.notifications.templateDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/*
Volumes for notifications; pass (dict "root" $ "podSecurityContext" ...). The
Secret's files are group-readable for the pod's fsGroup, or world-readable
inside the container when there is none (lifeboat runs as a non-root user).
*/}}
{{- define "lifeboat.notifications.volumes" -}}
{{- $ := .root -}}
{{- $psc := .podSecurityContext | default dict -}}
{{- if include "lifeboat.notifications.secretNeeded" $ }}
- name: notifications
  secret:
    secretName: {{ include "lifeboat.notifications.secretName" $ }}
    defaultMode: {{ if $psc.fsGroup }}0440{{ else }}0444{{ end }}
{{- end }}
{{- if and $.Values.notifications.webhook.enabled $.Values.notifications.webhook.template }}
- name: webhook-template
  configMap:
    name: {{ include "lifeboat.fullname" $ }}-webhook-template
{{- end }}
{{- end }}

{{/* Arguments from a flags map (name: value; a list repeats the flag). */}}
{{- define "lifeboat.flagArgs" -}}
{{- range $name, $value := . }}
{{- if kindIs "slice" $value }}
{{- range $value }}
- --{{ $name }}={{ . }}
{{- end }}
{{- else if kindIs "invalid" $value }}
{{- else }}
- --{{ $name }}={{ $value }}
{{- end }}
{{- end }}
{{- end }}

{{/* Environment from a name: value map. */}}
{{- define "lifeboat.envMap" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Downward-API environment every lifeboat pod gets. */}}
{{- define "lifeboat.downwardEnv" -}}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}

{{/*
The API calls of the drain engine (internal/drain, and kubectl's drain filters
it reuses), shared by the agent and the queue consumer:
- pods: list by spec.nodeName and watch (the engine waits for deletions on a
  watch), get (kubectl's filters, the agent's own pod), delete (finished pods,
  the deadline fallback, shutdown leftovers);
- pods/eviction: create (policy/v1 Eviction);
- poddisruptionbudgets: list (which budget blocks a pod) and watch (retry the
  moment a budget allows it);
- daemonsets: get (kubectl's DaemonSet filter looks up each pod's owner);
- events: create and patch (client-go's event correlator aggregates repeats).
*/}}
{{- define "lifeboat.rbac.drainRules" -}}
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch]
- apiGroups: [apps]
  resources: [daemonsets]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
# Node lifecycle conditions (MaintenancePlanned, DrainInProgress, Drained).
- apiGroups: [""]
  resources: [nodes/status]
  verbs: [patch]
# --wait-for-volume-detach: the evicted pods' claims, and whether their
# volumes are still attached to the node.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get]
- apiGroups: [storage.k8s.io]
  resources: [volumeattachments]
  verbs: [list]
{{- end }}

{{- define "lifeboat.plan.serviceAccountName" -}}
{{- if .Values.plan.serviceAccount.create }}
{{- default (printf "%s-plan" (include "lifeboat.fullname" .)) .Values.plan.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.plan.serviceAccount.name }}
{{- end }}
{{- end }}
