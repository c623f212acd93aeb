{{- define "indexsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "indexsync.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "indexsync.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "indexsync.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "indexsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "indexsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "indexsync.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "indexsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "indexsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "indexsync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "indexsync.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "indexsync.claimName" -}}
{{- default (printf "%s-state" (include "indexsync.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/*
indexsync.env: the container's env for one component, from a dict with
"root" (the chart's context), "settings" (the component's own settings, which
win over .Values.settings) and "secrets" (the flag names of the secrets this
component uses). A setting becomes INDEXSYNC_<FLAG> (upper case, - as _); a
secret a secretKeyRef into .Values.secrets.name. A secret in a settings map
stops the install: secrets are given by reference only.
*/}}
{{- define "indexsync.env" -}}
{{- $root := .root }}
{{- $settings := merge (dict) (.settings | default dict) $root.Values.settings }}
{{- range $flag, $value := $settings }}
{{- if or (hasSuffix "-password" $flag) (eq $flag "api-key") (eq $flag "api-keys") }}
{{- fail (printf "settings.%s: a secret does not belong in values; put it in the Secret %q and name its key in secrets.keys" $flag $root.Values.secrets.name) }}
{{- end }}
{{- if not (kindIs "invalid" $value) }}
{{- $s := toString $value }}
{{- if kindIs "slice" $value }}
{{- $s = join "," $value }}
{{- else if and (kindIs "float64" $value) (eq (floor $value) $value) }}
{{- $s = printf "%d" (int64 $value) }}
{{- end }}
- name: {{ printf "INDEXSYNC_%s" ($flag | upper | replace "-" "_") }}
  value: {{ $s | quote }}
{{- end }}
{{- end }}
{{- range $flag := .secrets }}
{{- $key := index $root.Values.secrets.keys $flag }}
{{- if $key }}
- name: {{ printf "INDEXSYNC_%s" ($flag | upper | replace "-" "_") }}
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.name: the name of an existing Secret" $root.Values.secrets.name | quote }}
      key: {{ $key | quote }}
      optional: true
{{- end }}
{{- end }}
{{- end }}

{{/* indexsync.podCommon: what every pod spec shares. */}}
{{- define "indexsync.podCommon" -}}
serviceAccountName: {{ include "indexsync.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}
