{{/* Names, labels and the checks every render must pass. */}}

{{- define "zhimaguan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zhimaguan.fullname" -}}
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

{{- define "zhimaguan.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zhimaguan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zhimaguan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zhimaguan.labels" -}}
helm.sh/chart: {{ include "zhimaguan.chart" . }}
{{ include "zhimaguan.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zhimaguan
{{- end }}

{{- define "zhimaguan.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "zhimaguan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "zhimaguan.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the app reads credentials from: the operator's or the chart's. */}}
{{- define "zhimaguan.secretName" -}}
{{- default (include "zhimaguan.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* The hook Secret holding the migration URL (only without existingSecret). */}}
{{- define "zhimaguan.migrationSecretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- printf "%s-migration" (include "zhimaguan.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "zhimaguan.migrationSecretKey" -}}
{{- if .Values.existingSecret }}{{ .Values.migration.secretKey }}{{ else }}ZMG_MIGRATION_DATABASE_URL{{ end }}
{{- end }}

{{/* Whether /metrics is protected by a token held in the Secret (ours or the operator's). */}}
{{- define "zhimaguan.metricsToken" -}}
{{- if .Values.existingSecret }}{{ if .Values.metrics.tokenInExistingSecret }}true{{ end }}
{{- else if .Values.metrics.token }}true{{ end }}
{{- end }}

{{/* Local storage is used whenever S3 is not. */}}
{{- define "zhimaguan.localStorage" -}}
{{- if not .Values.s3.enabled }}true{{ end }}
{{- end }}

{{/*
Checks of combinations that would render valid YAML but a broken deployment. Included by the
Deployment, so `helm template`, `helm lint` and `helm install` all stop on them.
*/}}
{{- define "zhimaguan.validate" -}}
{{- if and .Values.ingress.enabled (not .Values.baseDomain) }}
{{- fail "ingress.enabled needs baseDomain (the ingress serves <baseDomain> and *.<baseDomain>)" }}
{{- end }}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled (not .Values.ingress.tls.secretName) }}
{{- fail "ingress.tls.enabled needs ingress.tls.secretName (a certificate for <baseDomain> and *.<baseDomain>)" }}
{{- end }}
{{- if and (not .Values.s3.enabled) (not .Values.storage.local.existingClaim) (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- fail "more than one replica (replicaCount > 1 or autoscaling.enabled) needs s3.enabled or storage.local.existingClaim (a ReadWriteMany volume): each pod's emptyDir would hold different attachments" }}
{{- end }}
{{- if .Values.s3.enabled }}
{{- if or (not .Values.s3.endpoint) (not .Values.s3.bucket) }}
{{- fail "s3.enabled needs s3.endpoint and s3.bucket" }}
{{- end }}
{{- if and (not .Values.existingSecret) (or (not .Values.s3.accessKey) (not .Values.s3.secretKey)) }}
{{- fail "s3.enabled needs s3.accessKey and s3.secretKey (or existingSecret with ZMG_S3_ACCESS_KEY and ZMG_S3_SECRET_KEY)" }}
{{- end }}
{{- end }}
{{- if not (has .Values.sms.provider (list "outbox" "tencent")) }}
{{- fail (printf "sms.provider must be outbox or tencent, got %q" .Values.sms.provider) }}
{{- end }}
{{- if eq .Values.sms.provider "tencent" }}
{{- if or (not .Values.sms.tencent.sdkAppId) (not .Values.sms.tencent.signName) (not .Values.sms.tencent.templateId) }}
{{- fail "sms.provider=tencent needs sms.tencent.sdkAppId, signName and templateId" }}
{{- end }}
{{- if and (not .Values.existingSecret) (or (not .Values.sms.tencent.secretId) (not .Values.sms.tencent.secretKey)) }}
{{- fail "sms.provider=tencent needs sms.tencent.secretId and secretKey (or existingSecret with ZMG_TENCENT_SMS_SECRET_ID and ZMG_TENCENT_SMS_SECRET_KEY)" }}
{{- end }}
{{- end }}
{{- if and (not .Values.existingSecret) (not .Values.devMode) (not .Values.signing.secret) }}
{{- fail "signing.secret is required (or existingSecret with ZMG_SIGNING_SECRET): street offices sign their ballot ledgers with keys derived from it; generate one with `openssl rand -hex 32`" }}
{{- end }}
{{- if and .Values.signing.secret (lt (len .Values.signing.secret) 32) }}
{{- fail "signing.secret must be at least 32 characters" }}
{{- end }}
{{- if and (not .Values.existingSecret) (not .Values.database.url) }}
{{- fail "database.url is required (or existingSecret with ZMG_DATABASE_URL)" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled .Values.podDisruptionBudget.minAvailable .Values.podDisruptionBudget.maxUnavailable }}
{{- fail "podDisruptionBudget: set only one of minAvailable and maxUnavailable" }}
{{- end }}
{{- if and .Values.lifecycle.useSleepAction (semverCompare "<1.30.0-0" .Capabilities.KubeVersion.Version) }}
{{- fail "lifecycle.useSleepAction needs Kubernetes 1.30 or later (the preStop sleep action); use the default exec of /bin/sleep" }}
{{- end }}
{{- if ge (add .Values.lifecycle.preStopSleepSeconds .Values.shutdownGraceSeconds) (int .Values.terminationGracePeriodSeconds) }}
{{- fail "terminationGracePeriodSeconds must exceed lifecycle.preStopSleepSeconds + shutdownGraceSeconds, or SIGKILL cuts the drain short" }}
{{- end }}
{{- end }}

{{/* Environment shared by the app pods: secrets by key reference, never inlined. */}}
{{- define "zhimaguan.secretEnv" -}}
- name: ZMG_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_DATABASE_URL
{{- if or .Values.existingSecret .Values.signing.secret }}
- name: ZMG_SIGNING_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_SIGNING_SECRET
{{- end }}
{{- if include "zhimaguan.metricsToken" . }}
- name: ZMG_METRICS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_METRICS_TOKEN
{{- end }}
{{- if .Values.s3.enabled }}
- name: ZMG_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_S3_ACCESS_KEY
- name: ZMG_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_S3_SECRET_KEY
{{- end }}
{{- if eq .Values.sms.provider "tencent" }}
- name: ZMG_TENCENT_SMS_SECRET_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_TENCENT_SMS_SECRET_ID
- name: ZMG_TENCENT_SMS_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_TENCENT_SMS_SECRET_KEY
{{- end }}
{{- end }}
