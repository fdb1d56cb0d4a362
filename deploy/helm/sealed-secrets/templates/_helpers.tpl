{{/* The chart's name, or nameOverride. */}}
{{- define "sealed-secrets.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The objects' base name: fullnameOverride, else the release name when it already holds the
chart name (release `sealed-secrets` gives `sealed-secrets`), else RELEASE-NAME. As
upstream's chart, so an upgrade keeps every object's name.
*/}}
{{- define "sealed-secrets.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "sealed-secrets.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The controller's home namespace: where it runs and keeps its key Secrets. */}}
{{- define "sealed-secrets.namespace" -}}
{{- default .Release.Namespace .Values.namespace -}}
{{- end -}}

{{- define "sealed-secrets.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sealed-secrets.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: upstream's, so the Deployment's (immutable) selector stays. */}}
{{- define "sealed-secrets.matchLabels" -}}
app.kubernetes.io/name: {{ include "sealed-secrets.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object, commonLabels last. */}}
{{- define "sealed-secrets.labels" -}}
{{ include "sealed-secrets.matchLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: sealed-secrets
{{- with .Values.commonLabels }}
{{ include "sealed-secrets.render" (dict "value" . "context" $) }}
{{- end }}
{{- end -}}

{{/* Labels plus extra ones: (dict "extra" MAP "context" $). */}}
{{- define "sealed-secrets.labelsWith" -}}
{{ include "sealed-secrets.labels" .context }}
{{- with .extra }}
{{ include "sealed-secrets.render" (dict "value" . "context" $.context) }}
{{- end }}
{{- end -}}

{{/* `annotations:` from extra ones and commonAnnotations, or nothing: (dict "extra" MAP "context" $). */}}
{{- define "sealed-secrets.annotations" -}}
{{- $all := merge (dict) (default (dict) .extra) (default (dict) .context.Values.commonAnnotations) -}}
{{- if $all -}}
annotations: {{- include "sealed-secrets.render" (dict "value" $all "context" .context) | nindent 2 }}
{{- end -}}
{{- end -}}

{{/* A value that may hold templates (a string is one; anything else is printed as YAML first). */}}
{{- define "sealed-secrets.render" -}}
{{- if typeIs "string" .value -}}
{{- tpl .value .context -}}
{{- else -}}
{{- tpl (.value | toYaml) .context -}}
{{- end -}}
{{- end -}}

{{- define "sealed-secrets.image" -}}
{{- $repo := printf "%s/%s" .Values.image.registry .Values.image.repository | trimPrefix "/" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%v" $repo .Values.image.tag -}}
{{- end -}}
{{- end -}}

{{/* replicaCount, 1 when unset (0 is kept: a scaled-down controller). */}}
{{- define "sealed-secrets.replicas" -}}
{{- if kindIs "invalid" .Values.sealedSecretsRs.replicaCount -}}
1
{{- else -}}
{{- int .Values.sealedSecretsRs.replicaCount -}}
{{- end -}}
{{- end -}}

{{/* "true" when the controller elects a leader: leaderElection.enabled true, or auto and more than one replica. */}}
{{- define "sealed-secrets.leaderElect" -}}
{{- $enabled := .Values.sealedSecretsRs.leaderElection.enabled -}}
{{- if kindIs "bool" $enabled -}}
{{- if $enabled }}true{{ end -}}
{{- else if gt (int (include "sealed-secrets.replicas" .)) 1 -}}
true
{{- end -}}
{{- end -}}

{{- define "sealed-secrets.leaseName" -}}
{{- default (include "sealed-secrets.fullname" .) .Values.sealedSecretsRs.leaderElection.leaseName -}}
{{- end -}}

{{/* "true" when the controller watches only its home namespace and additionalNamespaces, under Roles. */}}
{{- define "sealed-secrets.namespaced" -}}
{{- if and .Values.rbac.namespacedRoles (not .Values.rbac.clusterRole) }}true{{ end -}}
{{- end -}}

{{/* What the controller does in the namespaces it watches (ClusterRole, or a Role per namespace). */}}
{{- define "sealed-secrets.unsealerRules" -}}
# Watch SealedSecrets, write their status (merge patch).
- apiGroups: ["bitnami.com"]
  resources: ["sealedsecrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["bitnami.com"]
  resources: ["sealedsecrets/status"]
  verbs: ["patch"]
# Read, create and replace the Secrets; list + watch (metadata) to recreate deleted ones;
# delete only to replace a Secret whose template type changed.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{/* A "k=v,k2=v2" flag value from a map whose values must be strings. */}}
{{- define "sealed-secrets.keyValues" -}}
{{- $pairs := list -}}
{{- range $k, $v := .map -}}
{{- if not (kindIs "string" $v) -}}
{{- fail (printf "%s.%s: the value must be a string (quote it)" $.key $k) -}}
{{- end -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
