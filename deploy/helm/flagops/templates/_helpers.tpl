{{/* Names, labels and the checks every template relies on. */}}

{{- define "flagops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name, at most 63 characters (a DNS label). */}}
{{- define "flagops.fullname" -}}
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

{{- define "flagops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flagops.labels" -}}
helm.sh/chart: {{ include "flagops.chart" . }}
{{ include "flagops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "flagops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flagops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flagops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flagops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: the digest wins over the tag. */}}
{{- define "flagops.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "flagops.masterKeySecretName" -}}
{{- default (printf "%s-master-key" (include "flagops.fullname" .)) .Values.masterKey.existingSecret }}
{{- end }}

{{- define "flagops.adminTokenSecretName" -}}
{{- default (printf "%s-admin-token" (include "flagops.fullname" .)) .Values.adminToken.existingSecret }}
{{- end }}

{{- define "flagops.databaseSecretName" -}}
{{- default (printf "%s-database" (include "flagops.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{- define "flagops.postgresql" -}}
{{- if eq .Values.database.type "postgresql" }}true{{ end }}
{{- end }}

{{/* The scheme the server speaks on its port. */}}
{{- define "flagops.scheme" -}}
{{- if .Values.server.tlsSecret }}https{{ else }}http{{ end }}
{{- end }}

{{/* The in-cluster URL of the server Service. */}}
{{- define "flagops.serverURL" -}}
{{- printf "%s://%s.%s.svc:%d" (include "flagops.scheme" .) (include "flagops.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}

{{/*
A DNS-label form of a target name for object names and label values:
lower case, runs of other characters as "-", at most 63 characters with the
release name in front.
*/}}
{{- define "flagops.targetSlug" -}}
{{- regexReplaceAll "[^a-z0-9]+" (lower .) "-" | trimAll "-" }}
{{- end }}

{{/* The security context of every container. */}}
{{- define "flagops.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/* The master key variable every server-like pod gets. */}}
{{- define "flagops.masterKeyEnv" -}}
- name: FLAGOPS_MASTER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "flagops.masterKeySecretName" . }}
      key: {{ .Values.masterKey.existingSecretKey }}
{{- end }}

{{/*
Cross-field rules the schema cannot state clearly. Each failure names the
value and the rule.
*/}}
{{- define "flagops.validate" -}}
{{- $pg := eq .Values.database.type "postgresql" }}
{{- if and (not $pg) (ne (int .Values.replicaCount) 1) }}
{{- fail (printf "replicaCount: SQLite allows exactly one server pod, got %d; set database.type=postgresql to run more" (int .Values.replicaCount)) }}
{{- end }}
{{- if and $pg (not .Values.database.url) (not .Values.database.existingSecret) }}
{{- fail "database: with database.type=postgresql set database.existingSecret (a Secret holding the URL) or database.url" }}
{{- end }}
{{- if and $pg .Values.database.url .Values.database.existingSecret }}
{{- fail "database: set database.url or database.existingSecret, not both" }}
{{- end }}
{{- if and (not $pg) (or .Values.database.url .Values.database.existingSecret) }}
{{- fail "database.url and database.existingSecret apply to database.type=postgresql only; SQLite keeps its database on the volume" }}
{{- end }}
{{- if and (not .Values.adminToken.bootstrap) .Values.adminToken.existingSecret }}
{{- fail "adminToken: existingSecret gives the bootstrap admin key its token; with adminToken.bootstrap=false no key is made, so leave existingSecret empty" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.serviceMonitor.tokenSecret.name) }}
{{- fail "metrics.serviceMonitor.tokenSecret.name: /metrics needs an API key with the viewer role; name the Secret holding its token" }}
{{- end }}
{{- if .Values.agent.enabled }}
{{- if not .Values.agent.targets }}
{{- fail "agent.targets: list at least one target ({name: eu-1}) when agent.enabled is true" }}
{{- end }}
{{- $slugs := dict }}
{{- range $i, $t := .Values.agent.targets }}
{{- $slug := include "flagops.targetSlug" $t.name }}
{{- if not $slug }}
{{- fail (printf "agent.targets[%d].name: %q has no letter or digit to name its Deployment after" $i $t.name) }}
{{- end }}
{{- if hasKey $slugs $slug }}
{{- fail (printf "agent.targets[%d].name: %q names the same Deployment as %q" $i $t.name (get $slugs $slug)) }}
{{- end }}
{{- $_ := set $slugs $slug $t.name }}
{{- if not (default $.Values.agent.argocdServer $t.argocdServer) }}
{{- fail (printf "agent.argocdServer (or agent.targets[%d].argocdServer): the Argo CD URL is required" $i) }}
{{- end }}
{{- if not (dig "argocdTokenSecret" "name" $.Values.agent.argocdTokenSecret.name $t) }}
{{- fail (printf "agent.argocdTokenSecret.name (or agent.targets[%d].argocdTokenSecret.name): the Secret holding the Argo CD token is required" $i) }}
{{- end }}
{{- if not (dig "tokenSecret" "name" $.Values.agent.tokenSecret.name $t) }}
{{- fail (printf "agent.tokenSecret.name (or agent.targets[%d].tokenSecret.name): the Secret holding the agent's flagops API key is required" $i) }}
{{- end }}
{{- if and $t.appsFile $t.selector }}
{{- fail (printf "agent.targets[%d]: set selector or appsFile, not both" $i) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.edge.enabled (not .Values.edge.tokenSecret.name) }}
{{- fail "edge.tokenSecret.name: edge replicas follow the primary with an API key; name the Secret holding it" }}
{{- end }}
{{- end }}
