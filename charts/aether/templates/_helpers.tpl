{{/* Chart name, overridable. */}}
{{- define "aether.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name; room is left for the "-migrate" style suffixes (63 max). */}}
{{- define "aether.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "aether.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels selectors match on; "component" is web, worker or migrations. */}}
{{- define "aether.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aether.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every object's labels. Call with (dict "root" $ "component" "web"). */}}
{{- define "aether.labels" -}}
{{ include "aether.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: aether
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "aether.chart" .root }}
{{- end -}}

{{- define "aether.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "aether.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aether.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "aether.secretName" -}}
{{- default (include "aether.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* AETHER_PUBLIC_URL: the configured one, else the ingress host, else the in-cluster Service. */}}
{{- define "aether.publicUrl" -}}
{{- if .Values.config.AETHER_PUBLIC_URL -}}
{{- .Values.config.AETHER_PUBLIC_URL -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "%s://%s" (ternary "https" "http" (ne .Values.ingress.tls.secretName "")) .Values.ingress.host -}}
{{- else -}}
{{- include "aether.serviceUrl" . -}}
{{- end -}}
{{- end -}}

{{/*
An env value as a string: YAML numbers reach templates as float64, which toString would print
as 8e+06; whole numbers are printed as integers instead.
*/}}
{{- define "aether.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . | toString -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* Fails the render, with the reason, when the chart manages the Secret and it lacks what every pod needs. */}}
{{- define "aether.validateSecrets" -}}
{{- if not .Values.existingSecret -}}
{{- $s := .Values.secrets -}}
{{- if not $s.DATABASE_URL -}}
{{- fail "secrets.DATABASE_URL is required (or set existingSecret): web, worker and migrations share one PostgreSQL" -}}
{{- end -}}
{{- if not $s.REDIS_URL -}}
{{- fail "secrets.REDIS_URL is required (or set existingSecret): the queues live in Redis" -}}
{{- end -}}
{{- if and (eq (toString $.Values.config.AETHER_RUNTIME) "kubernetes") (not (or $s.AETHER_RUNTIME_FETCH_SECRET $s.AETHER_STORAGE_SECRET)) -}}
{{- fail "secrets.AETHER_RUNTIME_FETCH_SECRET is required with AETHER_RUNTIME=kubernetes (or set existingSecret): at least 32 characters, e.g. openssl rand -hex 32" -}}
{{- end -}}
{{- if not (or $s.AETHER_API_TOKENS $s.AETHER_API_TOKEN) -}}
{{- fail "secrets.AETHER_API_TOKENS or secrets.AETHER_API_TOKEN is required (or set existingSecret): nobody could log in otherwise" -}}
{{- end -}}
{{- if and (not $.Values.secretsKey.existingSecret) (not $s.AETHER_SECRETS_KEY) -}}
{{- fail "secrets.AETHER_SECRETS_KEY is required (or set existingSecret or secretsKey.existingSecret): config secrets are encrypted with it; generate one with openssl rand -base64 32 and keep a copy" -}}
{{- end -}}
{{- end -}}
{{- range $name := list "AETHER_SECRETS_KEY" "AETHER_SECRETS_KEY_PREVIOUS" -}}
{{- $key := toString (index $.Values.secrets $name) -}}
{{- if and $key (ne (len (b64dec $key)) 32) -}}
{{- fail (printf "secrets.%s must be base64 of 32 bytes (openssl rand -base64 32)" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The in-cluster URL of the web Service: how app pods fetch their artifacts by default. */}}
{{- define "aether.serviceUrl" -}}
{{- printf "http://%s.%s.svc.cluster.local:%v" (include "aether.fullname" .) .Release.Namespace .Values.service.port -}}
{{- end -}}

{{/* Variables the chart sets itself; `config` may not override them. */}}
{{- define "aether.validateConfig" -}}
{{- range $name := list "PORT" "AETHER_WORKERS" "AETHER_DATA_DIR" "AETHER_NAMESPACE" "AETHER_APP_DOMAIN" "AETHER_INGRESS_CLASS" "AETHER_INGRESS_TLS_SECRET" -}}
{{- if hasKey $.Values.config $name -}}
{{- fail (printf "config.%s is set by the chart (see values.yaml: web.port, runtime.namespace, runtime.ingress)" $name) -}}
{{- end -}}
{{- end -}}
{{- include "aether.validateAppDomain" . -}}
{{- end -}}

{{/*
Fails the render when the control plane's own host (ingress.host, or the host of
config.AETHER_PUBLIC_URL) lies under runtime.ingress.domain: the app named after its first label
would get an Ingress for the portal's host. The driver refuses the same at startup.
*/}}
{{- define "aether.validateAppDomain" -}}
{{- with .Values.runtime.ingress.domain -}}
{{- $domain := lower . -}}
{{- $hosts := list (urlParse (include "aether.publicUrl" $)).hostname -}}
{{- if $.Values.ingress.enabled -}}
{{- $hosts = append $hosts $.Values.ingress.host -}}
{{- end -}}
{{- range $hosts -}}
{{- $host := lower (toString .) -}}
{{- if or (eq $host $domain) (hasSuffix (printf ".%s" $domain) $host) -}}
{{- fail (printf "the control plane's host %s (ingress.host or config.AETHER_PUBLIC_URL) lies under runtime.ingress.domain %s: an app could claim it; give apps a domain of their own, e.g. apps.%s" $host $domain $domain) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Env of web and worker: the ConfigMap and the Secret, whose keys are the variable names. */}}
{{- define "aether.envFrom" -}}
- configMapRef:
    name: {{ include "aether.fullname" . }}
- secretRef:
    name: {{ include "aether.secretName" . }}
{{- end -}}

{{/*
The secrets key by reference, on top of envFrom: a pod whose Secret lacks it fails to start
(CreateContainerConfigError) rather than making a key of its own, which no other pod could read.
*/}}
{{- define "aether.secretsKeyEnv" -}}
{{- $secret := default (include "aether.secretName" .) .Values.secretsKey.existingSecret -}}
- name: AETHER_SECRETS_KEY
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: AETHER_SECRETS_KEY }
- name: AETHER_SECRETS_KEY_PREVIOUS
  valueFrom:
    secretKeyRef: { name: {{ $secret }}, key: AETHER_SECRETS_KEY_PREVIOUS, optional: true }
{{- end -}}

{{/*
The apps' Ingress settings (runtime.ingress) as env of web and worker, which both run the
Kubernetes driver. In the pod spec rather than the ConfigMap: AETHER_INGRESS_TLS_SECRET names a
Secret (no secret value), but the ConfigMap's keys are held to names that look like no secret.
*/}}
{{- define "aether.appIngressEnv" -}}
{{- with .Values.runtime.ingress -}}
{{- if .domain }}
- name: AETHER_APP_DOMAIN
  value: {{ .domain | quote }}
{{- end }}
{{- if .className }}
- name: AETHER_INGRESS_CLASS
  value: {{ .className | quote }}
{{- end }}
{{- if .tlsSecretName }}
- name: AETHER_INGRESS_TLS_SECRET
  value: {{ .tlsSecretName | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Rolls web and worker pods when the ConfigMap or the chart-managed Secret changes. */}}
{{- define "aether.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/*
Pod-level settings of web, worker and migrations. No service links: a Service named "aether"
would put AETHER_PORT, AETHER_SERVICE_HOST... into every pod, inside our own variables' prefix.
*/}}
{{- define "aether.podSecurity" -}}
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
