//! What every kind of the `lunanode.com` group shares: the group constants, the policies and
//! references of the spec, the spec and status fields every kind has ([`ManagedSpec`],
//! [`ManagedStatusFields`], flattened into each kind), the standard `Condition` and its update
//! rule, the [`ManagedResource`] / [`ManagedStatus`] traits the generic controller skeleton is
//! written against, and the macros that declare a kind (`managed_crd!`), its status types
//! (`status_types!`) and implement the traits for it (`managed_kind!`).

use std::fmt::Debug;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    KubeSchema, Resource, ResourceExt,
    core::{Message, Rule},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The API group of every kind.
pub const GROUP: &str = "lunanode.com";
/// The API version of every kind.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "lunanode.com/v1alpha1";
/// The field manager of every write the operator makes (server-side apply).
pub const FIELD_MANAGER: &str = "lunanode-operator";
/// Annotation: `"true"` stops every write to the cloud and to the finalizer for this object.
pub const PAUSED_ANNOTATION: &str = "lunanode.com/paused";
/// Annotation: any new value (a timestamp, by convention) forces a reconcile now.
pub const RECONCILE_REQUESTED_AT_ANNOTATION: &str = "lunanode.com/reconcile-requested-at";
/// Annotation: the Luna Node ID of the cloud object this object stands for. Written by the
/// operator as soon as the ID is known, so that an object restored without its status (a backup,
/// `kubectl get -o yaml` into another cluster) finds the same cloud object instead of creating a
/// second one. Like Crossplane's external-name; `status.id` wins when both are present.
pub const EXTERNAL_ID_ANNOTATION: &str = "lunanode.com/external-id";
/// Annotation: the API ID of the Luna Node account that holds the cloud object. Written with the
/// create intent; an object whose credentials later resolve to another account stops with
/// `AccountChanged` instead of creating (or deleting) anything there.
pub const ACCOUNT_ANNOTATION: &str = "lunanode.com/account";
/// Annotation: a create that was started and whose answer has not been recorded yet (JSON of a
/// [`PendingCreate`]). Written before the create call, removed once the ID is recorded.
pub const CREATE_PENDING_ANNOTATION: &str = "lunanode.com/create-pending";
/// Condition type: the cloud object exists and matches the spec.
pub const READY: &str = "Ready";
/// Condition type: the last reconcile succeeded.
pub const SYNCED: &str = "Synced";
/// Condition type (kstatus): work toward the spec is under way or being retried. Present only
/// while `True`, derived from `Ready` and `Synced`.
pub const RECONCILING: &str = "Reconciling";
/// Condition type (kstatus): the operator cannot make progress until the manifest (or something
/// outside the operator) changes. Present only while `True`, derived from `Ready` and `Synced`.
pub const STALLED: &str = "Stalled";
/// The credentials Secret used when a spec names none.
pub const DEFAULT_CREDENTIALS_SECRET: &str = "lunanode-credentials";
/// The finalizer on a credentials Secret while managed objects use it, so that the Secret (and
/// with it the account) outlives them: their cloud objects can still be deleted when the Secret is
/// deleted first, as `kubectl delete -f` of a folder or a namespace deletion does.
pub const CREDENTIALS_FINALIZER: &str = "lunanode.com/credentials-in-use";
/// Maximum length of a Kubernetes object name (a DNS subdomain).
pub const MAX_NAME_LENGTH: u32 = 253;
/// Pattern of a Kubernetes object name (RFC 1123 subdomain), for references.
pub const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Pattern of the name or label a network, volume or load balancer has on Luna Node (also how
/// one whose create answer was lost is found again).
pub const CLOUD_NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$";

/// The finalizer of a kind: `<plural>.lunanode.com/cleanup`, e.g. `lunavms.lunanode.com/cleanup`.
/// One per kind, so that a stuck kind is visible from the finalizer alone.
pub fn finalizer_for(plural: &str) -> String {
    format!("{plural}.{GROUP}/cleanup")
}

/// Whether the pause annotation is set to `true` (case-insensitive; any other value is ignored).
pub fn is_paused<K: Resource>(object: &K) -> bool {
    object
        .annotations()
        .get(PAUSED_ANNOTATION)
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

/// Schema transform for spec types: an optional field is "absent", never `null`.
///
/// schemars marks every `Option` as nullable. In a spec that would let `image: null` (what a
/// template with an empty value renders) reach the CEL rules as a present field, so `has()`
/// would disagree with the Rust type. Without `nullable`, the apiserver drops explicit nulls
/// before validation and defaulting, and `has()` means "set". Applied with
/// `#[schemars(transform = not_nullable)]` on spec structs; it recurses into nested objects and
/// arrays.
pub fn not_nullable(schema: &mut schemars::Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if let Some(serde_json::Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [single] = types.as_slice() {
            let single = single.clone();
            object.insert("type".to_owned(), single);
        }
    }
    object.remove("nullable");
    if let Some(serde_json::Value::Object(properties)) = object.get_mut("properties") {
        for property in properties.values_mut() {
            if let Ok(property) = <&mut schemars::Schema>::try_from(property) {
                not_nullable(property);
            }
        }
    }
    if let Some(items) = object.get_mut("items") {
        if let Ok(items) = <&mut schemars::Schema>::try_from(items) {
            not_nullable(items);
        }
    }
}

/// What happens to the cloud object when the Kubernetes object is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the cloud object, then release the Kubernetes object.
    #[default]
    Delete,
    /// Leave the cloud object as it is and only release the Kubernetes object.
    Orphan,
}

/// How far the operator may act on the cloud object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ManagementPolicy {
    /// Create, update and delete the cloud object to match the spec.
    #[default]
    Managed,
    /// Never write to the cloud: find the object (by `import.id` or the spec) and report it.
    ObserveOnly,
}

/// What a new object (no cloud ID recorded, no `import.id`) does when the account already holds
/// an object with the same natural key (a VM's hostname, a volume's label, a zone's origin, ...)
/// that no other object of the operator manages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AdoptionPolicy {
    /// Stop with `Ready=False` reason `AlreadyExists`, naming the existing object and how to
    /// adopt it (`spec.import.id`). Nothing is created.
    #[default]
    Refuse,
    /// Adopt the existing object when exactly one unclaimed object matches; stop with
    /// `AmbiguousAdoption` when several do; create when none does.
    AdoptIfUnique,
    /// Create a new object even though others have the same name.
    CreateDuplicate,
}

/// Adopt an existing cloud object instead of creating one. Read only while the object has no
/// `status.id`: once adopted (or created), later edits here have no effect.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// An empty `import: {}` says nothing; room is left for a lookup filter besides `id`.
#[schemars(extend("minProperties" = 1))]
pub struct ImportSpec {
    /// The Luna Node ID of the object to adopt. It must exist on the account of the credentials;
    /// once adopted, the object is managed (and, with `deletionPolicy: Delete`, deleted) like one
    /// the operator created.
    #[schemars(length(min = 1, max = 64))]
    pub id: Option<String>,
}

/// The Secret holding the Luna Node API credentials (keys `api_id` and `api_key`).
///
/// There is deliberately no namespace field: the Secret is always read from the namespace of the
/// object, so a namespace can never use another namespace's credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of a Secret in the same namespace, with keys `api_id` and `api_key`. While objects
    /// use it, the operator keeps the finalizer `lunanode.com/credentials-in-use` on it, so that a
    /// deleted Secret stays until their cloud objects are deleted.
    #[serde(default = "default_credentials_secret")]
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = NAME_PATTERN))]
    pub name: String,
}

impl Default for SecretRef {
    fn default() -> Self {
        Self {
            name: default_credentials_secret(),
        }
    }
}

fn default_credentials_secret() -> String {
    DEFAULT_CREDENTIALS_SECRET.to_owned()
}

/// A key of a Secret or ConfigMap in the same namespace.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRef {
    /// The Secret's or ConfigMap's name.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = NAME_PATTERN))]
    pub name: String,
    /// The key holding the value.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

impl KeyRef {
    /// Key `key` of the object `name`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            key: key.into(),
        }
    }
}

/// A reference by name to another object of this group in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalObjectReference {
    /// Name of the referenced object, in the same namespace.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = NAME_PATTERN))]
    pub name: String,
}

impl LocalObjectReference {
    /// A reference to `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// The region a Luna Node resource is in: `toronto` (the default), `montreal` or `roubaix`. It is
/// the same field, with the same default and schema, in every kind that has one, and reads as a
/// `&str` wherever one is wanted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Region(#[schemars(length(min = 1, max = 32), regex(pattern = r"^[a-z]+$"))] pub String);

impl Region {
    /// The region the API falls back to when a call names none.
    pub const DEFAULT: &'static str = "toronto";
}

impl Default for Region {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl std::ops::Deref for Region {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Region {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Region {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Region> for String {
    fn eq(&self, other: &Region) -> bool {
        *self == other.0
    }
}

/// A CEL transition rule for the object it is set on: its field `field` never changes, with the
/// message `<field> is immutable` reported at `.<field>`.
pub fn immutable(field: &str) -> Rule {
    Rule::new(format!("self.{field} == oldSelf.{field}"))
        .message(Message::Message(format!("{field} is immutable")))
        .field_path(format!(".{field}"))
}

/// A CEL rule for the object it is set on: exactly one of its fields `a` and `b` is set.
pub fn exactly_one(a: &str, b: &str) -> Rule {
    Rule::new(format!("has(self.{a}) != has(self.{b})"))
        .message(Message::Message(format!("set exactly one of {a} and {b}")))
}

/// A CEL rule for the object it is set on: exactly one of its fields `fields` (two or more) is
/// set, with the message `set exactly one of a, b and c`.
pub fn exactly_one_of(fields: &[&str]) -> Rule {
    let set = joined(fields, ", ", |field| format!("has(self.{field})"));
    Rule::new(format!("[{set}].filter(x, x).size() == 1")).message(Message::Message(format!(
        "set exactly one of {}",
        and_list(fields)
    )))
}

/// `a`, `a and b`, `a, b and c`: the fields a message names.
fn and_list(fields: &[&str]) -> String {
    match fields.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, first)) => format!("{} and {last}", first.join(", ")),
    }
}

/// The CEL term `term` makes of each of `fields`, joined by `separator`.
fn joined(fields: &[&str], separator: &str, term: impl Fn(&str) -> String) -> String {
    let terms: Vec<String> = fields.iter().map(|field| term(field)).collect();
    terms.join(separator)
}

/// A CEL rule for the object it is set on: at most one of its fields `fields` (two or more) is
/// set, counted as `(has(self.a) ? 1 : 0) + ... <= 1`, with the message `set at most one of a, b
/// and c`.
pub fn at_most_one_of(fields: &[&str]) -> Rule {
    let count = joined(fields, " + ", |field| {
        format!("(has(self.{field}) ? 1 : 0)")
    });
    Rule::new(format!("{count} <= 1")).message(Message::Message(format!(
        "set at most one of {}",
        and_list(fields)
    )))
}

/// A CEL rule for the object it is set on: at most one of its fields `a` and `b` is set.
pub fn at_most_one(a: &str, b: &str) -> Rule {
    Rule::new(format!("!(has(self.{a}) && has(self.{b}))"))
        .message(Message::Message(format!("set at most one of {a} and {b}")))
}

/// A CEL transition rule for the object it is set on: its fields `fields` never change. The
/// message is `a, b and c are immutable: <why>`; for a single field, `a is immutable: <why>`,
/// reported at `.a`.
pub fn immutable_fields(fields: &[&str], why: &str) -> Rule {
    let rule = Rule::new(joined(fields, " && ", |field| {
        format!("self.{field} == oldSelf.{field}")
    }));
    match fields {
        [field] => rule
            .message(Message::Message(format!("{field} is immutable: {why}")))
            .field_path(format!(".{field}")),
        _ => rule.message(Message::Message(format!(
            "{} are immutable: {why}",
            and_list(fields)
        ))),
    }
}

/// A CEL transition rule for the object it is set on: its optional field `field`, once set, is
/// never removed nor changed (it may be set later), with the message `<field> is immutable:
/// <why>`.
pub fn immutable_once_set(field: &str, why: &str) -> Rule {
    Rule::new(format!(
        "!has(oldSelf.{field}) || (has(self.{field}) && self.{field} == oldSelf.{field})"
    ))
    .message(Message::Message(format!("{field} is immutable: {why}")))
}

/// A CEL transition rule for the object it is set on: its optional field `field` is neither set
/// nor left out later and, while set, keeps its value (compared at `field` + `compared`, say
/// `.name` for a reference); `<field> is immutable` is reported at `.<field>`.
pub fn immutable_optional(field: &str, compared: &str) -> Rule {
    Rule::new(format!(
        "has(self.{field}) == has(oldSelf.{field}) && (!has(self.{field}) || self.{field}{compared} == oldSelf.{field}{compared})"
    ))
    .message(Message::Message(format!("{field} is immutable")))
    .field_path(format!(".{field}"))
}

/// Where a VM or load balancer lives and the floating IP it takes as its public address:
/// a network (`networkRef` or `netId`, at most one; both immutable) and an address
/// (`floatingIP` or `floatingIPRef`, at most one). Flattened into the spec of both kinds, which
/// say what leaving them out means and carry the CEL rules (built with [`at_most_one`] and
/// [`immutable_optional`]) among their own: rules of a flattened part would come first, out of
/// the order the stored CRDs have.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = not_nullable)]
pub struct Placement {
    /// A `LunaNetwork` in the same namespace to create the object in. At most one of
    /// `networkRef` and `netId`. Immutable.
    pub network_ref: Option<LocalObjectReference>,

    /// ID of an existing Luna Node network to create the object in. Immutable.
    #[schemars(length(min = 1, max = 64))]
    pub net_id: Option<String>,

    /// A floating IP already on the account (same region) to take as the public address. At
    /// most one of `floatingIP` and `floatingIPRef`.
    #[serde(rename = "floatingIP")]
    #[schemars(ipv4, length(max = 15))]
    pub floating_ip: Option<String>,

    /// A `LunaFloatingIP` in the same namespace whose address (`status.address`) to take as the
    /// public address.
    #[serde(rename = "floatingIPRef")]
    pub floating_ip_ref: Option<LocalObjectReference>,
}

/// The VM something is attached to: a LunaVM of the namespace or the Luna Node ID of a VM,
/// exactly one of them. Flattened into the attachment of a volume and of a floating IP.
#[serde_with::skip_serializing_none]
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[x_kube(
    validation = exactly_one("vmRef", "vmId"),
)]
#[serde(rename_all = "camelCase")]
pub struct AttachedVm {
    /// A LunaVM in the same namespace.
    pub vm_ref: Option<LocalObjectReference>,
    /// The Luna Node ID of a VM.
    #[schemars(length(min = 1, max = 64))]
    pub vm_id: Option<String>,
}

impl AttachedVm {
    /// The LunaVM `name`.
    pub fn vm_ref(name: impl Into<String>) -> Self {
        Self {
            vm_ref: Some(LocalObjectReference::new(name)),
            vm_id: None,
        }
    }
}

/// The Secret the operator writes connection details to (IP addresses, login details).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSecretRef {
    /// Name of the Secret, in the same namespace. The operator creates it, with a controlling
    /// owner reference to this object (so it is deleted with the object), and later updates only
    /// a Secret that this very object controls. An existing Secret of that name that is not
    /// controlled by this object (the credentials Secret, say, or one of an earlier object of the
    /// same name) is never written, not even its metadata: `Synced=False` with reason
    /// `ConnectionSecretConflict` says so, and the next change of the object looks again.
    #[schemars(length(min = 1, max = MAX_NAME_LENGTH), regex(pattern = NAME_PATTERN))]
    pub name: String,
}

/// The spec fields every kind has: how far the operator may act on the cloud object, what
/// happens to it on deletion, how an existing one is adopted, and which credentials to use.
/// Flattened into every kind's spec: on the wire the fields sit directly under `spec`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = not_nullable)]
pub struct ManagedSpec {
    /// What happens to the cloud object when this object is deleted: `Delete` (default; a
    /// volume or floating IP is detached first) or `Orphan` (it stays on the account). A
    /// LunaDnsZone with `prune: false` that still holds records the operator did not create is
    /// kept: only the operator's records are removed.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// `Managed` (default) creates, updates and deletes the cloud object; `ObserveOnly` only
    /// reports it (found by `import.id`), and never writes to the cloud.
    #[serde(default)]
    pub management_policy: ManagementPolicy,

    /// Adopt an existing cloud object (by its Luna Node ID: a network's `net_id`, a zone's zone
    /// ID) instead of creating one. An adopted load balancer's pool becomes the operator's
    /// (members not in `spec.members` are removed); an adopted zone's records are left alone
    /// unless the spec lists them verbatim (those are taken over) or `prune` is true.
    pub import: Option<ImportSpec>,

    /// Without `import.id`, what to do when the account already holds an unclaimed object with
    /// the same natural key: `Refuse` (default: stop and say how to adopt it), `AdoptIfUnique`
    /// or `CreateDuplicate`. See docs/ownership.md.
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,

    /// The Secret with the API credentials, in the same namespace. Default:
    /// `lunanode-credentials`.
    pub credentials_secret_ref: Option<SecretRef>,
}

/// The status fields every kind has: the cloud ID, the standard conditions and the bookkeeping
/// of the reconcile loop and of the crash-safe create. Flattened into every kind's status: on
/// the wire the fields sit directly under `status`.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedStatusFields {
    /// The Luna Node ID of the cloud object (a network's `net_id`).
    pub id: Option<String>,

    /// `Ready`: the cloud object exists and matches the spec; when it is not, the reason says
    /// what is missing (e.g. `InUse` while a network's deletion waits for the objects that use
    /// it, `WaitingForReferences` or `RecordRejected` for a zone's records). `Synced`: the last
    /// reconcile succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status was computed for.
    pub observed_generation: Option<i64>,

    /// Set just before the create call and cleared once `id` is recorded. If it is present
    /// without an `id`, a create may have happened without the operator hearing back: the next
    /// reconcile looks the object up by its natural key (a VM's hostname, a volume's label, a
    /// network's or load balancer's name, a zone's origin; for a floating IP, an unattached
    /// address that was not there before) before it creates anything.
    pub pending_create: Option<PendingCreate>,

    /// The value of the `lunanode.com/reconcile-requested-at` annotation last acted on: a new
    /// value makes the operator retry what it had given up on (e.g. a create the API refused).
    pub last_reconcile_request: Option<String>,
}

/// Status of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The operator cannot tell (yet).
    Unknown,
}

impl ConditionStatus {
    /// The wire form: `"True"`, `"False"` or `"Unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ConditionStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ConditionStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

/// A standard Kubernetes condition (the shape of `metav1.Condition`), as read by
/// `kubectl wait --for=condition=Ready`, kstatus, Flux and Argo CD.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of condition: `Ready` (the cloud object exists and matches the spec) or `Synced` (the
    /// last reconcile succeeded).
    #[serde(rename = "type")]
    #[schemars(
        length(min = 1, max = 316),
        regex(
            pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        )
    )]
    pub type_: String,
    /// Status of the condition: `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// A CamelCase reason for the last transition, for machines.
    #[schemars(
        length(min = 1, max = 1024),
        regex(pattern = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    )]
    pub reason: String,
    /// A human-readable explanation. Deterministic (no request IDs or timestamps), so that
    /// rewriting an unchanged condition is a no-op.
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub message: String,
    /// When the status last changed (RFC 3339).
    pub last_transition_time: Time,
    /// The `metadata.generation` the condition was computed for.
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition whose `lastTransitionTime` is `now` (kept by [`set_condition`] when the
    /// status does not change).
    pub fn new(
        type_: impl Into<String>,
        status: impl Into<ConditionStatus>,
        reason: impl Into<String>,
        message: impl Into<String>,
        observed_generation: Option<i64>,
        now: Timestamp,
    ) -> Self {
        Self {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time(now),
            observed_generation,
        }
    }

    /// Whether the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// The condition of `type_`, if present.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|condition| condition.type_ == type_)
}

/// Whether the condition of `type_` is present and `True`.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(Condition::is_true)
}

/// Sets a condition by type, keeping the stored `lastTransitionTime` when the status did not
/// change. Returns whether anything changed, so an unchanged status is never written (and never
/// re-triggers a reconcile). New types are appended, keeping the order stable.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        None => {
            conditions.push(new);
            true
        }
        Some(existing) => {
            let mut new = new;
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            if *existing == new {
                false
            } else {
                *existing = new;
                true
            }
        }
    }
}

/// The status fields the generic controller skeleton reads and writes on every kind: the
/// embedded [`ManagedStatusFields`].
pub trait ManagedStatus:
    Clone + Debug + Default + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The fields every kind's status has.
    fn managed(&self) -> &ManagedStatusFields;
    /// The fields every kind's status has, to change them.
    fn managed_mut(&mut self) -> &mut ManagedStatusFields;

    /// The Luna Node ID of the cloud object (`status.id`).
    fn id(&self) -> Option<&str> {
        self.managed().id.as_deref()
    }
    /// Sets or clears `status.id`.
    fn set_id(&mut self, id: Option<String>) {
        self.managed_mut().id = id;
    }
    /// `status.conditions`.
    fn conditions(&self) -> &[Condition] {
        &self.managed().conditions
    }
    /// `status.conditions`, for [`set_condition`].
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.managed_mut().conditions
    }
    /// `status.observedGeneration`.
    fn observed_generation(&self) -> Option<i64> {
        self.managed().observed_generation
    }
    /// Sets `status.observedGeneration`.
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.managed_mut().observed_generation = generation;
    }
    /// `status.pendingCreate`: a create whose outcome is not known yet.
    fn pending_create(&self) -> Option<&PendingCreate> {
        self.managed().pending_create.as_ref()
    }
    /// Sets or clears `status.pendingCreate`.
    fn set_pending_create(&mut self, pending: Option<PendingCreate>) {
        self.managed_mut().pending_create = pending;
    }
    /// `status.lastReconcileRequest`: the reconcile-requested-at value last acted on.
    fn last_reconcile_request(&self) -> Option<&str> {
        self.managed().last_reconcile_request.as_deref()
    }
    /// Sets `status.lastReconcileRequest`.
    fn set_last_reconcile_request(&mut self, value: Option<String>) {
        self.managed_mut().last_reconcile_request = value;
    }
}

/// A create that was started and whose answer has not been recorded yet. Written to the status
/// before the create call, so that after a crash or a lost answer the next reconcile looks for
/// the object instead of creating a second one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingCreate {
    /// When the create was started.
    pub started_at: Time,
    /// What the object is found by (its name, label or hostname).
    #[serde(default, alias = "hostname")]
    pub name: String,
    /// IDs of cloud objects that matched before the create: not the one being created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preexisting: Vec<String>,
}

/// What the generic controller skeleton needs from every kind.
pub trait ManagedResource:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The kind (`LunaVM`, ...), for logs, metrics and messages: the type's name, which is the
    /// kind's name in the API.
    const KIND: &'static str;
    /// The kind's status type.
    type Status: ManagedStatus;

    /// The fields every kind's spec has.
    fn managed_spec(&self) -> &ManagedSpec;
    /// `status`, when the operator has written one.
    fn managed_status(&self) -> Option<&Self::Status>;

    /// `spec.deletionPolicy`.
    fn deletion_policy(&self) -> DeletionPolicy {
        self.managed_spec().deletion_policy
    }
    /// `spec.managementPolicy`.
    fn management_policy(&self) -> ManagementPolicy {
        self.managed_spec().management_policy
    }
    /// `spec.import.id`: the cloud object to adopt instead of creating one.
    fn import_id(&self) -> Option<&str> {
        self.managed_spec()
            .import
            .as_ref()
            .and_then(|import| import.id.as_deref())
    }
    /// `spec.credentialsSecretRef`, as written.
    fn credentials_secret_ref(&self) -> Option<&SecretRef> {
        self.managed_spec().credentials_secret_ref.as_ref()
    }
    /// `spec.adoptionPolicy`.
    fn adoption_policy(&self) -> AdoptionPolicy {
        self.managed_spec().adoption_policy
    }

    /// `spec.writeConnectionSecretToRef`, for kinds that publish connection details.
    fn connection_secret_ref(&self) -> Option<&ConnectionSecretRef> {
        None
    }

    /// The name of the credentials Secret (same namespace): the spec's, or
    /// [`DEFAULT_CREDENTIALS_SECRET`].
    fn credentials_secret_name(&self) -> &str {
        self.credentials_secret_ref()
            .map_or(DEFAULT_CREDENTIALS_SECRET, |secret| secret.name.as_str())
    }

    /// `status.id`.
    fn status_id(&self) -> Option<&str> {
        self.managed_status().and_then(ManagedStatus::id)
    }

    /// `status.conditions` (empty without a status).
    fn conditions(&self) -> &[Condition] {
        self.managed_status().map_or(&[], ManagedStatus::conditions)
    }

    /// `status.observedGeneration`.
    fn observed_generation(&self) -> Option<i64> {
        self.managed_status()
            .and_then(ManagedStatus::observed_generation)
    }

    /// The kind's finalizer, see [`finalizer_for`].
    fn finalizer() -> String {
        finalizer_for(&Self::plural(&()))
    }

    /// Whether the pause annotation is set, see [`is_paused`].
    fn is_paused(&self) -> bool {
        is_paused(self)
    }

    /// The value of the reconcile-requested-at annotation, if set.
    fn reconcile_requested_at(&self) -> Option<&str> {
        self.annotations()
            .get(RECONCILE_REQUESTED_AT_ANNOTATION)
            .map(String::as_str)
    }
}

crate::status_types! {
    /// What a region's list says of a cloud object with a name and a state (an image, a volume
    /// snapshot): the part of their `atProvider` they share.
    pub struct ListedObject {
        /// Its name (a snapshot's label).
        pub name: Option<String>,
        /// Its region.
        pub region: Option<String>,
        /// Its state as the API words it: `queued`, `saving`, `active`, `killed`, `error` for an
        /// image, `creating`, `available`, `error` for a snapshot.
        pub status: Option<String>,
    }
}

/// Implements [`ManagedStatus`] and [`ManagedResource`] for a kind whose spec embeds a
/// [`ManagedSpec`] and whose status embeds a [`ManagedStatusFields`], both as the field
/// `managed`.
#[macro_export]
macro_rules! managed_kind {
    ($kind:ty, $status:ty) => {
        impl $crate::api::common::ManagedStatus for $status {
            fn managed(&self) -> &$crate::api::common::ManagedStatusFields {
                &self.managed
            }
            fn managed_mut(&mut self) -> &mut $crate::api::common::ManagedStatusFields {
                &mut self.managed
            }
        }

        impl $crate::api::common::ManagedResource for $kind {
            const KIND: &'static str = stringify!($kind);
            type Status = $status;
            fn managed_spec(&self) -> &$crate::api::common::ManagedSpec {
                &self.spec.managed
            }
            fn managed_status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
        }
    };
}

/// Declares the types of a kind's status, with what every status type has: the derives
/// (`Clone, Debug, Default, PartialEq`, serde, `JsonSchema`; more with an extra `#[derive]`),
/// camelCase wire names, and optional fields left out of the JSON while empty. The struct written
/// `pub struct LunaXStatus for LunaX(XAtProvider) { .. }` is the kind's status: the fields every
/// kind has come first in it ([`ManagedStatusFields`], flattened as `managed`, then
/// `at_provider`, the object as the API last reported it), and [`managed_kind!`] implements the
/// skeleton's traits for the kind. The other structs are the parts it is made of (`XAtProvider`,
/// ...). A kind whose status has no fields of its own declares only its at-provider part, written
/// `pub struct XAtProvider in LunaXStatus for LunaX { .. }`.
#[macro_export]
macro_rules! status_types {
    () => {};
    (@struct $(#[$attr:meta])* pub struct $name:ident { $($field:tt)* }) => {
        #[::serde_with::skip_serializing_none]
        #[derive(
            Clone,
            Debug,
            Default,
            PartialEq,
            ::serde::Serialize,
            ::serde::Deserialize,
            ::schemars::JsonSchema,
        )]
        #[serde(rename_all = "camelCase")]
        $(#[$attr])*
        pub struct $name { $($field)* }
    };
    (
        $(#[$attr:meta])*
        pub struct $name:ident for $kind:ident($at_provider:ty) { $($field:tt)* }
        $($rest:tt)*
    ) => {
        $crate::status_types!(@struct $(#[$attr])* pub struct $name {
            /// The fields every kind has: ID, conditions and the reconcile bookkeeping.
            #[serde(flatten)]
            pub managed: $crate::api::common::ManagedStatusFields,
            /// The object as the Luna Node API last reported it.
            pub at_provider: Option<$at_provider>,
            $($field)*
        });
        $crate::managed_kind!($kind, $name);
        $crate::status_types!($($rest)*);
    };
    (
        $(#[$attr:meta])*
        pub struct $at_provider:ident in $name:ident for $kind:ident { $($field:tt)* }
        $($rest:tt)*
    ) => {
        $crate::status_types! {
            #[doc = concat!("Observed state of a ", stringify!($kind), ".")]
            pub struct $name for $kind($at_provider) {}
            $(#[$attr])*
            pub struct $at_provider { $($field)* }
        }
        $crate::status_types!($($rest)*);
    };
    ($(#[$attr:meta])* pub struct $name:ident { $($field:tt)* } $($rest:tt)*) => {
        $crate::status_types!(@struct $(#[$attr])* pub struct $name { $($field)* });
        $crate::status_types!($($rest)*);
    };
}

/// Declares the spec struct of a kind with its `CustomResource` derive, and what every kind has
/// in common there: group, version, scope, category, `PartialEq` on the generated kind, camelCase
/// wire names, [`not_nullable`], the fields every kind has ([`ManagedSpec`], flattened as the
/// first field, `managed`), and the printer columns `Ready` and `Synced` first and `Age`
/// last around the kind's own `columns`, each written `(name, type, JSON path)` with an optional
/// priority after (1: shown by `-o wide` only), or as one of the columns several kinds show: `id`
/// (the cloud ID), `status` (the API's word for the object's state) and `region` (wide only). The
/// one doc line first is the kind's; `kube(...)` takes its names (kind, plural, singular, short
/// name) and `status` its status type.
#[macro_export]
macro_rules! managed_crd {
    (@columns [$($done:tt)*] [] $($kind:tt)*) => {
        $crate::managed_crd!(@kind [$($done)*] $($kind)*);
    };
    (@columns [$($done:tt)*] [id $(, $rest:tt)*] $($kind:tt)*) => {
        $crate::managed_crd!(@columns [$($done)* ("ID", "string", ".status.id")] [$($rest),*] $($kind)*);
    };
    (@columns [$($done:tt)*] [status $(, $rest:tt)*] $($kind:tt)*) => {
        $crate::managed_crd!(
            @columns [$($done)* ("Status", "string", ".status.atProvider.status")] [$($rest),*] $($kind)*
        );
    };
    (@columns [$($done:tt)*] [region $(, $rest:tt)*] $($kind:tt)*) => {
        $crate::managed_crd!(@columns [$($done)* ("Region", "string", ".spec.region", 1)] [$($rest),*] $($kind)*);
    };
    (@columns [$($done:tt)*] [$column:tt $(, $rest:tt)*] $($kind:tt)*) => {
        $crate::managed_crd!(@columns [$($done)* $column] [$($rest),*] $($kind)*);
    };
    (
        #[doc = $doc:literal]
        kube($($kube:tt)*),
        status = $status:literal,
        columns($($column:tt),* $(,)?),
        $($kind:tt)*
    ) => {
        $crate::managed_crd!(@columns [] [$($column),*] #[doc = $doc] kube($($kube)*), status = $status, $($kind)*);
    };
    (
        @kind [$(($column:literal, $type:literal, $path:literal $(, $priority:literal)?))*]
        #[doc = $doc:literal]
        kube($($kube:tt)*),
        status = $status:literal,
        $(#[$attr:meta])*
        $vis:vis struct $name:ident { $($field:tt)* }
    ) => {
        #[::serde_with::skip_serializing_none]
        // The lint mistakes the repeated `type_ = "string"` of the printer columns for
        // duplicates.
        #[allow(clippy::duplicated_attributes)]
        #[derive(
            ::kube::CustomResource,
            ::kube::KubeSchema,
            Clone,
            Debug,
            PartialEq,
            ::serde::Serialize,
            ::serde::Deserialize,
        )]
        #[kube(
            group = "lunanode.com",
            version = "v1alpha1",
            category = "lunanode",
            namespaced,
            derive = "PartialEq",
            $($kube)*,
            status = $status,
            doc = $doc,
            printcolumn(
                name = "Ready",
                type_ = "string",
                json_path = r#".status.conditions[?(@.type=="Ready")].status"#
            ),
            printcolumn(
                name = "Synced",
                type_ = "string",
                json_path = r#".status.conditions[?(@.type=="Synced")].status"#
            ),
            $(printcolumn(name = $column, type_ = $type, json_path = $path $(, priority = $priority)?),)*
            printcolumn(
                name = "Age",
                type_ = "date",
                json_path = ".metadata.creationTimestamp"
            )
        )]
        $(#[$attr])*
        #[serde(rename_all = "camelCase")]
        #[schemars(transform = $crate::api::common::not_nullable)]
        $vis struct $name {
            /// The fields every kind has: policies, import and credentials.
            #[serde(flatten)]
            pub managed: $crate::api::common::ManagedSpec,
            $($field)*
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    fn ready(status: bool, reason: &str, message: &str, seconds: i64) -> Condition {
        Condition::new(READY, status, reason, message, Some(1), at(seconds))
    }

    #[test]
    fn set_condition_appends_a_new_type() {
        let mut conditions = Vec::new();
        assert!(set_condition(
            &mut conditions,
            ready(true, "Available", "", 10)
        ));
        assert!(set_condition(
            &mut conditions,
            Condition::new(SYNCED, true, "ReconcileSuccess", "", Some(1), at(10))
        ));
        let types: Vec<_> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, SYNCED]);
    }

    /// Sets `new` on the conditions `[old]`: whether that changed anything, and the result.
    fn set_on(old: Condition, new: Condition) -> (bool, Condition) {
        let mut conditions = vec![old];
        let changed = set_condition(&mut conditions, new);
        assert_eq!(conditions.len(), 1, "one condition of each type");
        (changed, conditions.remove(0))
    }

    #[test]
    fn set_condition_is_a_no_op_when_only_the_time_differs() {
        let up = ready(true, "Available", "up", 10);
        assert_eq!(
            set_on(up.clone(), ready(true, "Available", "up", 99)),
            (false, up)
        );
    }

    #[test]
    fn set_condition_keeps_the_transition_time_when_the_status_is_unchanged() {
        let (changed, condition) = set_on(
            ready(false, "Creating", "building", 10),
            ready(false, "Starting", "booting", 20),
        );
        assert!(changed);
        assert_eq!(condition, ready(false, "Starting", "booting", 10));
    }

    #[test]
    fn set_condition_moves_the_transition_time_when_the_status_changes() {
        let available = ready(true, "Available", "", 20);
        let (changed, condition) =
            set_on(ready(false, "Creating", "building", 10), available.clone());
        assert!(changed && condition.is_true());
        assert_eq!(condition, available);
    }

    #[test]
    fn set_condition_notices_a_new_observed_generation() {
        let mut conditions = vec![ready(true, "Available", "", 10)];
        let mut newer = ready(true, "Available", "", 20);
        newer.observed_generation = Some(2);
        assert!(set_condition(&mut conditions, newer));
        assert_eq!(conditions[0].observed_generation, Some(2));
        assert_eq!(conditions[0].last_transition_time, Time(at(10)));
    }

    #[test]
    fn condition_status_compares_with_its_wire_form() {
        assert!(ConditionStatus::False == "False");
        assert_eq!(ConditionStatus::from(true).to_string(), "True");
        assert_eq!(
            serde_json::to_value(ConditionStatus::Unknown).unwrap(),
            "Unknown"
        );
    }

    #[test]
    fn finds_conditions_by_type() {
        let conditions = vec![ready(true, "Available", "", 10)];
        assert!(is_condition_true(&conditions, READY));
        assert!(!is_condition_true(&conditions, SYNCED));
        assert!(find_condition(&conditions, SYNCED).is_none());
    }

    #[test]
    fn condition_serializes_like_metav1() {
        let condition = ready(false, "Creating", "waiting for the VM", 0);
        let value = serde_json::to_value(&condition).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "type": "Ready",
                "status": "False",
                "reason": "Creating",
                "message": "waiting for the VM",
                "lastTransitionTime": "1970-01-01T00:00:00Z",
                "observedGeneration": 1,
            })
        );
        let back: Condition = serde_json::from_value(value).unwrap();
        assert_eq!(back, condition);
    }

    #[test]
    fn finalizer_is_per_kind() {
        assert_eq!(finalizer_for("lunavms"), "lunavms.lunanode.com/cleanup");
    }

    #[test]
    fn secret_ref_defaults_to_the_standard_name() {
        let secret: SecretRef = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(secret.name, DEFAULT_CREDENTIALS_SECRET);
        assert_eq!(SecretRef::default(), secret);
    }

    #[test]
    fn policies_default_to_managed_delete() {
        assert_eq!(DeletionPolicy::default(), DeletionPolicy::Delete);
        assert_eq!(ManagementPolicy::default(), ManagementPolicy::Managed);
    }
}
