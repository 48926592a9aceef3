{{/* The chart's name, unless overridden. */}}
{{- define "lunanode-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: the release name when it already contains the chart's
name, else "<release>-<chart>"; at most 63 characters (a DNS label).
*/}}
{{- define "lunanode-operator.fullname" -}}
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

{{- define "lunanode-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "lunanode-operator.labels" -}}
helm.sh/chart: {{ include "lunanode-operator.chart" . }}
{{ include "lunanode-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: lunanode-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select the operator's pods (never change them: selectors are immutable). */}}
{{- define "lunanode-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lunanode-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "lunanode-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lunanode-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The leader-election Lease's name. */}}
{{- define "lunanode-operator.leaseName" -}}
{{- default (include "lunanode-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The subjects of every binding: the operator's ServiceAccount. */}}
{{- define "lunanode-operator.subjects" -}}
- kind: ServiceAccount
  name: {{ include "lunanode-operator.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{/* The image reference: a tag defaulting to the appVersion, or a digest. */}}
{{- define "lunanode-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString }}
{{- if hasPrefix "sha256:" $tag }}
{{- printf "%s@%s" .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The rules on the operator's own kinds, Secrets and Events: one list, used by the Role in each
served namespace, or by the ClusterRole with clusterWide. docs/install.md explains each rule.
*/}}
{{- define "lunanode-operator.namespacedRules" -}}
- apiGroups: ["lunanode.com"]
  resources:
    - lunavms
    - lunavolumes
    - lunafloatingips
    - lunanetworks
    - lunadnszones
    - lunaloadbalancers
    - lunasshkeys
    - lunasecuritygroups
    - lunastartupscripts
    - lunaimages
    - lunavolumesnapshots
    - lunadynamicrecords
    - lunaemaildomains
    - lunaemailusers
    - lunaemailaliases
    - lunamonitorcontacts
    - lunamonitorchecks
    - lunasnapshotschedules
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["lunanode.com"]
  resources:
    - lunavms/status
    - lunavolumes/status
    - lunafloatingips/status
    - lunanetworks/status
    - lunadnszones/status
    - lunaloadbalancers/status
    - lunasshkeys/status
    - lunasecuritygroups/status
    - lunastartupscripts/status
    - lunaimages/status
    - lunavolumesnapshots/status
    - lunadynamicrecords/status
    - lunaemaildomains/status
    - lunaemailusers/status
    - lunaemailaliases/status
    - lunamonitorcontacts/status
    - lunamonitorchecks/status
    - lunasnapshotschedules/status
  verbs: ["update"]
# A LunaSnapshotSchedule makes and prunes its snapshots as objects of these kinds.
- apiGroups: ["lunanode.com"]
  resources: ["lunavolumesnapshots", "lunaimages"]
  verbs: ["create", "delete"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "update"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
The namespaces the operator serves, joined by commas: watchNamespaces, else the release
namespace. Empty with clusterWide (every namespace), which cannot be combined with a list.
*/}}
{{- define "lunanode-operator.namespaces" -}}
{{- if .Values.clusterWide }}
{{- if .Values.watchNamespaces }}
{{- fail "clusterWide serves every namespace: leave watchNamespaces empty with it" }}
{{- end }}
{{- else }}
{{- default (list .Release.Namespace) .Values.watchNamespaces | uniq | join "," }}
{{- end }}
{{- end }}
