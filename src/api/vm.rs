//! `LunaVM`: a Luna Node virtual machine.
//!
//! The spec is the desired VM; the CEL rules on it reject, at `kubectl apply` time, the edits
//! Luna Node cannot carry out on a running VM (a new region, boot volume or network) and an image
//! change unless `allowReimage` says that erasing the disk is intended. The status holds the cloud
//! ID, what the API reports (`atProvider`), the standard conditions, and the bookkeeping of the
//! crash-safe create.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    ConnectionSecretRef, LocalObjectReference, Placement, Region, at_most_one, immutable_optional,
};

/// Pattern of a hostname: lowercase RFC 1123 labels joined by dots. Lowercase only, because the
/// crash-safe create finds a VM again by its hostname.
const HOSTNAME_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$";
/// Pattern of a Luna Node ID that is sent in a comma-separated list (so no commas).
const LIST_ID_PATTERN: &str = r"^[A-Za-z0-9_.-]+$";

crate::managed_crd! {
    /// A Luna Node virtual machine, created, updated and deleted to match its spec.
    kube(kind = "LunaVM", plural = "lunavms", singular = "lunavm", shortname = "lvm"),
    status = "LunaVMStatus",
    columns(id, ("IP", "string", ".status.atProvider.ip"), status,
        ("Cost", "number", ".status.atProvider.monthlyCost"),
        ("Plan", "string", ".spec.plan", 1), region),
    /// Desired state of a LunaVM: the VM the operator creates and keeps matched. Without
    /// `networkRef` and `netId` the VM joins the account's default network; without `floatingIP`
    /// and `floatingIPRef` Luna Node allocates a new public IP.
    #[x_kube(
        validation = Rule::new("[has(self.image), has(self.imageRef), has(self.bootVolumeId)].filter(x, x).size() == 1")
            .message("exactly one of image, imageRef and bootVolumeId must be set"),
        validation = at_most_one("networkRef", "netId"),
        validation = at_most_one("floatingIP", "floatingIPRef"),
        validation = immutable_optional("bootVolumeId", ""),
        validation = Rule::new(
            "!has(self.image) || !has(oldSelf.image) || self.image == oldSelf.image || self.allowReimage"
        )
        .message("image is immutable unless allowReimage is true (a new image reimages the VM and erases its disk)")
        .field_path(".image"),
        validation = immutable_optional("imageRef", ".name"),
        validation = immutable_optional("networkRef", ".name"),
        validation = immutable_optional("netId", ""),
        validation = at_most_one("sshKeyId", "sshKeyRef"),
        validation = immutable_optional("sshKeyId", ""),
        validation = immutable_optional("sshKeyRef", ".name"),
        validation = immutable_optional("startupScripts", ""),
        validation = immutable_optional("startupScriptRefs", ""),
        validation = immutable_optional("affinityGroup", ""),
    )]
    #[derive(Default)]
    pub struct LunaVMSpec {
        /// Hostname of the VM: lowercase RFC 1123 labels joined by dots, at most 253 characters.
        /// Changing it renames the VM. The operator also uses it to find a VM whose create response
        /// was lost, so keep it unique on the account.
        #[schemars(length(min = 1, max = 253), regex(pattern = HOSTNAME_PATTERN))]
        pub hostname: String,

        /// Plan: a plan code such as `m.2`, `s.4` or `m.1s`, or a numeric plan ID (from the
        /// `plan/list` API action). Changing it resizes the VM; Luna Node cannot shrink local storage.
        #[schemars(
            length(min = 1, max = 64),
            regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
        )]
        pub plan: String,

        /// Image to boot from: an image ID, or the exact name of an image of the account or a public
        /// template (e.g. `Ubuntu 22.04 64-bit (template)`). Exactly one of `image`, `imageRef` and
        /// `bootVolumeId` is set. Immutable unless `allowReimage` is true.
        #[schemars(length(min = 1, max = 255))]
        pub image: Option<String>,

        /// A LunaImage of the namespace to boot from, in the VM's region: the create waits until
        /// the image is active. Exactly one of `image`, `imageRef` and `bootVolumeId` is set.
        /// Create-only: immutable.
        pub image_ref: Option<LocalObjectReference>,

        /// ID of an existing volume to boot from instead of an image. Immutable.
        #[schemars(length(min = 1, max = 64))]
        pub boot_volume_id: Option<String>,

        /// Region to create the VM in: `toronto` (default), `montreal` or `roubaix`. Immutable.
        #[serde(default)]
        #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable"))]
        pub region: Region,

        /// ID of an SSH key of the account, installed when the VM is created (or reimaged).
        /// At most one of `sshKeyId` and `sshKeyRef`. Create-only: immutable.
        #[schemars(length(min = 1, max = 64), regex(pattern = LIST_ID_PATTERN))]
        pub ssh_key_id: Option<String>,

        /// A LunaSSHKey of the namespace, installed when the VM is created: the create waits
        /// until the key has its ID. Create-only: immutable.
        pub ssh_key_ref: Option<LocalObjectReference>,

        /// IDs of security groups the VM is in. On a running VM a change is applied with
        /// `vm securitygroup-add` / `securitygroup-remove`, one group per reconcile.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 16), inner(length(min = 1, max = 64), regex(pattern = LIST_ID_PATTERN)))]
        #[x_kube(merge_strategy = ListMerge::Set)]
        pub security_groups: Vec<String>,

        /// LunaSecurityGroups of the namespace the VM is in, beside `securityGroups`: the create
        /// waits until each has its ID, a change on a running VM is applied like one of
        /// `securityGroups`, and a group's deletion waits while a VM names it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 16))]
        pub security_group_refs: Vec<LocalObjectReference>,

        /// More private addresses of the VM's network besides the one it gets at create: each is
        /// added to the running VM (`vm ip-add`), and one taken out of the list is removed (`vm
        /// ip-delete`), one address per reconcile. Addresses the operator did not add are left
        /// alone.
        #[serde(
            rename = "additionalPrivateIPs",
            default,
            skip_serializing_if = "Vec::is_empty"
        )]
        #[schemars(length(max = 16), inner(ipv4, length(max = 15)))]
        #[x_kube(merge_strategy = ListMerge::Set)]
        pub additional_private_ips: Vec<String>,

        /// Luna Node's affinity group for the VM (`affinity_group` of `vm create`): VMs of one
        /// group are placed together or apart as the group says. Create-only: immutable.
        #[schemars(length(min = 1, max = 64), regex(pattern = LIST_ID_PATTERN))]
        pub affinity_group: Option<String>,

        /// LunaStartupScripts of the namespace, run on the first boot beside `startupScripts`:
        /// the create waits until each has its ID. Create-only: immutable.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 16))]
        pub startup_script_refs: Vec<LocalObjectReference>,

        /// IDs of startup scripts of the account, run on the first boot (and after a reimage).
        /// Create-only: immutable.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[schemars(length(max = 16), inner(length(min = 1, max = 64), regex(pattern = LIST_ID_PATTERN)))]
        pub startup_scripts: Vec<String>,

        /// The network (without `networkRef` and `netId` the VM joins the account's default
        /// network) and the public address (without `floatingIP` and `floatingIPRef` Luna Node
        /// allocates a new one).
        #[serde(flatten)]
        pub placement: Placement,

        /// Desired power state: `Running` (default), `Stopped` or `Shelved` (stopped and moved off
        /// its host, which stops most billing).
        #[serde(default)]
        pub power_state: PowerState,

        /// Allow a change of `image` to reimage the VM, which erases its disk. Off by default, so an
        /// image change is rejected.
        #[serde(default)]
        pub allow_reimage: bool,

        /// What to do with a VM that Luna Node reports in `ERROR`, or that is still building
        /// `buildTimeoutSeconds` after the operator first saw it build: `Report` (default) says
        /// so in the conditions (`VMError`, `BuildTimedOut`; `Stalled=True`) and leaves the VM;
        /// `Recreate` deletes it and, once it is gone, creates a new one (at most three times
        /// per generation of the spec; then it reports).
        #[serde(default, skip_serializing_if = "OnError::is_report")]
        pub on_error: OnError,

        /// How long a VM may stay in `BUILD` before it counts as failed, in seconds (default
        /// 1800).
        #[schemars(range(min = 30, max = 86400))]
        pub build_timeout_seconds: Option<i64>,

        /// A Secret (same namespace) to write the VM's connection details to: `vm_id`, `ip`,
        /// `private_ip`, `hostname` and, when Luna Node reports them, `username` and `password`.
        pub write_connection_secret_to_ref: Option<ConnectionSecretRef>,
    }
}

impl LunaVMSpec {
    /// A VM booting from `image`, with every other field at its default.
    pub fn new(hostname: &str, plan: &str, image: &str) -> Self {
        Self {
            hostname: hostname.to_owned(),
            plan: plan.to_owned(),
            image: Some(image.to_owned()),
            ..Self::default()
        }
    }
}

/// What the operator does with a VM that failed (`ERROR`, or a build past its time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OnError {
    /// Report it in the conditions and leave the VM for a human.
    #[default]
    Report,
    /// Delete the failed VM and create a new one once it is gone.
    Recreate,
}

impl OnError {
    /// Whether this is the default, left out when an object is written (an object from before
    /// the field reads and writes back unchanged).
    pub fn is_report(&self) -> bool {
        *self == Self::Report
    }
}

impl LunaVMSpec {
    /// The build time limit (`buildTimeoutSeconds`, default 1800 s).
    pub fn build_timeout(&self) -> i64 {
        self.build_timeout_seconds.unwrap_or(1800)
    }
}

/// Desired power state of a VM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PowerState {
    /// Started.
    #[default]
    Running,
    /// Stopped, still on its host.
    Stopped,
    /// Shelved: stopped and moved off its host.
    Shelved,
}

crate::status_types! {
    /// Observed state of a LunaVM.
    pub struct LunaVMStatus for LunaVM(AtProvider) {
        /// The `spec.plan` last applied (at create, resize or adoption), as written in the spec. A
        /// resize happens when the spec's plan differs from this one, not when Luna Node merely
        /// reports the same plan under its numeric ID.
        pub applied_plan: Option<String>,

        /// The numeric plan ID the VM had once `appliedPlan` took effect; a different ID reported
        /// later means the VM was resized outside the operator.
        pub applied_plan_id: Option<String>,

        /// The `spec.image` last applied (at create, reimage or adoption), as written in the
        /// spec. A reimage happens only when the spec's image differs from this one.
        pub applied_image: Option<String>,

        /// The `spec.floatingIP` last attached.
        #[serde(rename = "appliedFloatingIP")]
        pub applied_floating_ip: Option<String>,

        /// The public IP last written to the connection Secret; the Secret is rewritten when the
        /// VM's IP differs from it.
        #[serde(rename = "connectionSecretIP")]
        pub connection_secret_ip: Option<String>,

        /// The security groups (IDs) the VM was put in, at create or by the operator since: a
        /// group the spec adds is added, one this list has and the spec lacks is removed. Left
        /// out by VMs created before the operator followed groups: their spec's IDs are taken.
        pub applied_security_groups: Option<Vec<String>>,

        /// The private addresses the operator added with `vm ip-add` (and has not removed):
        /// only these are ever removed.
        #[serde(rename = "appliedAdditionalPrivateIPs")]
        pub applied_additional_private_ips: Option<Vec<String>>,

        /// Addresses of `additionalPrivateIPs` the operator did not add: on the VM already when
        /// it came to add them, or refused. They are not sent again, and never removed by the
        /// operator; taken out of the spec, they are only forgotten.
        #[serde(rename = "unownedAdditionalPrivateIPs")]
        pub unowned_additional_private_ips: Option<Vec<String>>,

        /// The LunaVolumes of the namespace that are attached to this VM, by name.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub attached_volumes: Vec<String>,

        /// A resize that was sent and is not confirmed yet: confirmed (and cleared) once the VM
        /// shows the plan; a VM that settles on its old plan was not resized
        /// (`ResizeNotApplied`), and the resize is not sent again until `spec.plan` changes.
        pub resize: Option<ResizeRequest>,

        /// When the operator first saw the VM in `BUILD`, in seconds since the Unix epoch;
        /// cleared once it leaves `BUILD`. Still building `spec.buildTimeoutSeconds` later, it
        /// counts as failed (`BuildTimedOut`).
        pub build_started_at: Option<i64>,

        /// Failed VMs replaced under `onError: Recreate` for one generation of the spec.
        pub recreations: Option<Recreations>,
    }

    /// A VM as the Luna Node API reports it (`vm info` and `vm list`).
    pub struct AtProvider {
        /// Status as the API words it, e.g. `BUILD`, `Online`, `Powering off`, `Offline`.
        pub status: Option<String>,
        /// Its addresses.
        #[serde(flatten)]
        pub networking: VmNetworking,
        /// Hostname as Luna Node has it.
        pub hostname: Option<String>,
        /// Region the VM runs in.
        pub region: Option<String>,
        /// Name of the image the VM was installed from.
        pub image: Option<String>,
        /// What its plan gives it: what a resize changes.
        #[serde(flatten)]
        pub resources: VmResources,
        /// Numeric ID of the current plan.
        pub plan: Option<String>,
        /// Name of the current plan, when known.
        pub plan_name: Option<String>,
        /// What the current plan costs, in USD a month (`plan list`): what the VM costs while
        /// it exists (bandwidth overage and snapshots aside).
        pub monthly_cost: Option<f64>,
    }

    /// How many failed VMs `onError: Recreate` replaced for a generation of the spec.
    pub struct Recreations {
        /// The spec's generation.
        pub generation: i64,
        /// Failed VMs deleted to be created again.
        pub count: i64,
    }

    /// A resize sent and not yet confirmed by the plan the VM shows.
    pub struct ResizeRequest {
        /// The numeric ID of the plan asked for.
        pub plan_id: String,
        /// The numeric ID of the plan the VM had.
        pub from_plan_id: String,
        /// When the resize was sent, in seconds since the Unix epoch.
        pub requested_at: i64,
    }

    /// The addresses of a VM.
    pub struct VmNetworking {
        /// Primary public IPv4 address (empty for a while after the create).
        pub ip: Option<String>,
        /// Private IP address.
        pub private_ip: Option<String>,
        /// Every address of the VM.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub addresses: Vec<VmAddress>,
    }

    /// One address of a VM.
    #[derive(Eq)]
    pub struct VmAddress {
        /// The address.
        pub addr: String,
        /// IP version: 4 or 6.
        pub version: i32,
        /// Whether the address is reachable from the internet.
        #[serde(default)]
        pub external: bool,
    }

    /// The resources a VM's plan gives it.
    pub struct VmResources {
        /// Memory in MB.
        pub ram: Option<i64>,
        /// Number of virtual CPUs.
        pub vcpu: Option<i64>,
        /// Local storage in GB.
        pub storage: Option<i64>,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use kube::Resource;
    use serde_json::json;

    use super::*;
    use crate::api::common::{
        DEFAULT_CREDENTIALS_SECRET, DeletionPolicy, ImportSpec, LocalObjectReference,
        ManagedResource, ManagedStatusFields, SecretRef, finalizer_for,
    };

    #[test]
    fn a_minimal_manifest_gets_the_defaults() {
        let spec: LunaVMSpec = serde_json::from_value(json!({
            "hostname": "web-1",
            "plan": "m.2",
            "image": "Ubuntu 22.04 64-bit (template)",
        }))
        .unwrap();
        assert_eq!(
            spec,
            LunaVMSpec::new("web-1", "m.2", "Ubuntu 22.04 64-bit (template)")
        );
        assert_eq!(spec.region, Region::DEFAULT);
        assert_eq!(spec.power_state, PowerState::Running);
        assert!(!spec.allow_reimage);
    }

    #[test]
    fn the_wire_names_are_the_documented_ones() {
        let mut spec = LunaVMSpec::new("web-1", "m.2", "42");
        spec.placement.floating_ip = Some("203.0.113.7".into());
        spec.placement.network_ref = Some(LocalObjectReference::new("private"));
        spec.security_groups = vec!["7".into()];
        let value = serde_json::to_value(&spec).unwrap();
        for key in [
            "hostname",
            "plan",
            "image",
            "region",
            "floatingIP",
            "networkRef",
            "securityGroups",
            "powerState",
            "allowReimage",
            "deletionPolicy",
            "managementPolicy",
        ] {
            assert!(value.get(key).is_some(), "{key} missing from {value}");
        }
        // Unset optionals and empty lists are omitted, never sent as null.
        assert!(value.get("bootVolumeId").is_none());
        assert!(value.get("startupScripts").is_none());
    }

    #[test]
    fn managed_resource_reads_spec_and_status() {
        let mut vm = LunaVM::new("web-1", LunaVMSpec::new("web-1", "m.2", "42"));
        assert_eq!(vm.credentials_secret_name(), DEFAULT_CREDENTIALS_SECRET);
        assert_eq!(vm.status_id(), None);
        assert!(vm.conditions().is_empty());
        assert!(!vm.is_paused());

        vm.spec.managed.credentials_secret_ref = Some(SecretRef {
            name: "team-a".into(),
        });
        vm.spec.managed.import = Some(ImportSpec {
            id: Some("81ebdd9e".into()),
        });
        vm.spec.managed.deletion_policy = DeletionPolicy::Orphan;
        vm.status = Some(LunaVMStatus {
            managed: ManagedStatusFields {
                id: Some("81ebdd9e".into()),
                observed_generation: Some(3),
                ..ManagedStatusFields::default()
            },
            ..LunaVMStatus::default()
        });
        vm.meta_mut().annotations = Some(
            [("lunanode.com/paused".to_owned(), "true".to_owned())]
                .into_iter()
                .collect(),
        );
        assert_eq!(vm.credentials_secret_name(), "team-a");
        assert_eq!(vm.import_id(), Some("81ebdd9e"));
        assert_eq!(vm.status_id(), Some("81ebdd9e"));
        assert_eq!(vm.observed_generation(), Some(3));
        assert_eq!(vm.deletion_policy(), DeletionPolicy::Orphan);
        assert!(vm.is_paused());
        assert_eq!(LunaVM::finalizer(), finalizer_for("lunavms"));
    }

    #[test]
    fn an_empty_status_serializes_to_an_empty_object() {
        let value = serde_json::to_value(LunaVMStatus::default()).unwrap();
        assert_eq!(value, json!({}));
    }
}
