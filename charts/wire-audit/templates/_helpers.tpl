{{/*
Names. Every object name derives from the fullname, so that two releases never collide; with the
release name "wire-audit" the names are the ones config/default creates and the webhook's flag
defaults. The fullname is cut to 40 characters so that the longest derived name of a namespaced
object that must be a DNS label (the Service, fullname + "-webhook-service") stays within 63.
*/}}
{{- define "wire-audit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{- define "wire-audit.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "wire-audit.deploymentName" -}}{{ include "wire-audit.fullname" . }}-webhook{{- end }}
{{- define "wire-audit.serviceName" -}}{{ include "wire-audit.fullname" . }}-webhook-service{{- end }}
{{- define "wire-audit.metricsServiceName" -}}{{ include "wire-audit.fullname" . }}-webhook-metrics-service{{- end }}
{{- define "wire-audit.serviceAccountName" -}}{{ include "wire-audit.fullname" . }}-webhook{{- end }}
{{- define "wire-audit.webhookConfigName" -}}{{ include "wire-audit.fullname" . }}-mutating-webhook-configuration{{- end }}
{{- define "wire-audit.configMapName" -}}{{ include "wire-audit.fullname" . }}-webhook-config{{- end }}

{{/* The Secret the webhook serves from: the built-in rotator's, cert-manager's leaf, or the user's. */}}
{{- define "wire-audit.certSecretName" -}}
{{- if eq .Values.certificates.mode "secret" }}
{{- .Values.certificates.secret.name }}
{{- else }}
{{- include "wire-audit.fullname" . }}-webhook-server-cert
{{- end }}
{{- end }}

{{- define "wire-audit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "wire-audit.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "wire-audit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wire-audit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{/*
Validation of combinations the schema cannot express. Each message names the value to change.
*/}}
{{- define "wire-audit.validate" -}}
{{- $c := .Values.certificates }}
{{- if not (has $c.mode (list "builtin" "cert-manager" "secret")) }}
{{- fail (printf "certificates.mode %q is not one of builtin, cert-manager, secret" $c.mode) }}
{{- end }}
{{- if eq $c.mode "secret" }}
{{- if not $c.secret.name }}
{{- fail "certificates.mode=secret needs certificates.secret.name: the Secret with tls.crt and tls.key in the release namespace" }}
{{- end }}
{{- if not $c.caBundle }}
{{- fail "certificates.mode=secret needs certificates.caBundle: the PEM of the CA that signed the serving certificate (--set-file certificates.caBundle=ca.crt)" }}
{{- end }}
{{- else }}
{{- if $c.caBundle }}
{{- fail (printf "certificates.caBundle is set but certificates.mode=%s injects its own CA; remove certificates.caBundle or use certificates.mode=secret" $c.mode) }}
{{- end }}
{{- if $c.secret.name }}
{{- fail (printf "certificates.secret.name is set but certificates.mode=%s; remove it or use certificates.mode=secret" $c.mode) }}
{{- end }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) must be below replicaCount (%d), or no node could ever be drained; lower it or set podDisruptionBudget.enabled=false" (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.kafka.sasl.mechanism (not .Values.kafka.sasl.secretName) }}
{{- fail "kafka.sasl.mechanism is set but kafka.sasl.secretName is empty: name the Secret with username and password" }}
{{- end }}
{{- if and .Values.kafka.sasl.secretName (not .Values.kafka.sasl.mechanism) }}
{{- fail "kafka.sasl.secretName is set but kafka.sasl.mechanism is empty: choose PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512" }}
{{- end }}
{{- if and (not .Values.kafka.tls.secretName) (or .Values.kafka.tls.clientCertificate .Values.kafka.tls.insecureSkipVerify) }}
{{- fail "kafka.tls.clientCertificate or kafka.tls.insecureSkipVerify is set but kafka.tls.secretName is empty" }}
{{- end }}
{{- end }}

{{/* The webhook's --config file: the cluster defaults, in the schema of config/manager/config.yaml. */}}
{{- define "wire-audit.defaultsFile" -}}
{{- $v := .Values -}}
{{- $file := dict
  "sidecar" (dict "image" $v.sidecar.image "imagePullPolicy" $v.sidecar.imagePullPolicy "mode" $v.sidecar.mode "healthPort" $v.sidecar.healthPort "resources" $v.sidecar.resources)
  "capture" (dict "protocols" $v.capture.protocols "interfaces" $v.capture.interfaces "flows" $v.capture.flows "privacy" $v.capture.privacy)
  "kafka" (dict "brokers" $v.kafka.brokers "topic" $v.kafka.topic "tls" $v.kafka.tls "sasl" $v.kafka.sasl)
-}}
{{- toYaml $file }}
{{- end }}
