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

{{/*
Labels of the `helm test` pod. Not the app's selector labels: the Service, the
PodDisruptionBudget and the NetworkPolicy's podSelector must not take it for an app pod (the
NetworkPolicy lets it in by these).
*/}}
{{- define "zhimaguan.testSelectorLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}

{{/*
The port a URL connects to: its explicit port, else the scheme's default (http 80, https 443,
postgres 5432). Regular expressions rather than urlParse, which aborts the render on a password
with unescaped characters; the host is taken after the last "@" for the same reason.
*/}}
{{- define "zhimaguan.urlPort" -}}
{{- $rest := regexReplaceAll "^[a-zA-Z][a-zA-Z0-9+.-]*://" . "" }}
{{- if contains "@" $rest }}
{{- $rest = regexReplaceAll "^.*@" $rest "" }}
{{- end }}
{{- $hostPort := regexReplaceAll "[/?#].*$" $rest "" }}
{{- $port := regexFind ":[0-9]+$" $hostPort | trimPrefix ":" }}
{{- if $port }}{{ $port }}
{{- else if hasPrefix "https://" . }}443
{{- else if hasPrefix "http://" . }}80
{{- else }}5432
{{- end }}
{{- end }}

{{/*
"true" when networkPolicy.egressPorts lets the pods connect to port .port: an entry with that
port, a range (port..endPort) holding it, or an entry without a port (every port). Named ports
name the destination pod's ports and cannot be checked here.
*/}}
{{- define "zhimaguan.egressAllows" -}}
{{- $port := int .port }}
{{- range .ports }}
{{- /* get, not .port: lint --strict fails on a missing key */}}
{{- $from := get . "port" }}
{{- if not $from }}true
{{- else if and (not (kindIs "string" $from)) (le (int $from) $port) (ge (int (get . "endPort" | default $from)) $port) }}true
{{- end }}
{{- end }}
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
{{- if not (has .Values.face.provider (list "dev" "tencent")) }}
{{- fail (printf "face.provider must be dev or tencent, got %q" .Values.face.provider) }}
{{- end }}
{{- if eq .Values.face.provider "tencent" }}
{{- if not .Values.face.tencent.ruleId }}
{{- fail "face.provider=tencent needs face.tencent.ruleId (the DetectAuth rule from the FaceID console)" }}
{{- end }}
{{- if and (not .Values.existingSecret) (or (not .Values.face.tencent.secretId) (not .Values.face.tencent.secretKey)) }}
{{- fail "face.provider=tencent needs face.tencent.secretId and secretKey (or existingSecret with ZMG_TENCENT_FACE_SECRET_ID and ZMG_TENCENT_FACE_SECRET_KEY)" }}
{{- end }}
{{- end }}
{{- if .Values.networkPolicy.enabled }}
{{- if not .Values.networkPolicy.ingressFrom }}
{{- fail "networkPolicy.enabled needs networkPolicy.ingressFrom (the ingress controller's namespace, Prometheus): without it nothing but the helm test pod could reach the API" }}
{{- end }}
{{- /* Every address the chart knows the pods connect to must be open, or enabling the policy cuts them off. */}}
{{- $urls := dict }}
{{- if not .Values.existingSecret }}
{{- $_ := set $urls "database.url" .Values.database.url }}
{{- if and .Values.migration.enabled .Values.migration.databaseUrl }}
{{- $_ := set $urls "migration.databaseUrl" .Values.migration.databaseUrl }}
{{- end }}
{{- end }}
{{- if .Values.s3.enabled }}
{{- $_ := set $urls "s3.endpoint" .Values.s3.endpoint }}
{{- end }}
{{- if eq .Values.sms.provider "tencent" }}
{{- $_ := set $urls "sms.tencent.endpoint" .Values.sms.tencent.endpoint }}
{{- end }}
{{- if eq .Values.face.provider "tencent" }}
{{- $_ := set $urls "face.tencent.endpoint" .Values.face.tencent.endpoint }}
{{- end }}
{{- range $key, $url := $urls }}
{{- $port := include "zhimaguan.urlPort" $url }}
{{- if not (include "zhimaguan.egressAllows" (dict "port" $port "ports" $.Values.networkPolicy.egressPorts)) }}
{{- fail (printf "networkPolicy.egressPorts must include port %s (%s), or the policy cuts the pods off from it" $port $key) }}
{{- end }}
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
{{- /* A mounted CA that no URL names would leave the connection unchecked. */}}
{{- if and .Values.database.caSecret (not .Values.existingSecret) }}
{{- $urls := dict "database.url" .Values.database.url }}
{{- if and .Values.migration.enabled .Values.migration.databaseUrl }}
{{- $_ := set $urls "migration.databaseUrl" .Values.migration.databaseUrl }}
{{- end }}
{{- range $key, $url := $urls }}
{{- if not (contains "sslrootcert=" $url) }}
{{- fail (printf "database.caSecret is mounted at /etc/zhimaguan/db-ca/%s, but %s does not name it: add sslmode=verify-full&sslrootcert=/etc/zhimaguan/db-ca/%s to its query" $.Values.database.caKey $key $.Values.database.caKey) }}
{{- end }}
{{- end }}
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
{{- if eq .Values.face.provider "tencent" }}
- name: ZMG_TENCENT_FACE_SECRET_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_TENCENT_FACE_SECRET_ID
- name: ZMG_TENCENT_FACE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "zhimaguan.secretName" . }}
      key: ZMG_TENCENT_FACE_SECRET_KEY
{{- end }}
{{- end }}
