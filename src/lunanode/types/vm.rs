//! Virtual machines: `vm/create`, `vm/list`, `vm/info` and the per-VM actions.

use secrecy::SecretString;
use serde::Deserialize;

use super::decode_list;
use crate::lunanode::{Client, Error};

/// The parameters of `vm/create`. `hostname`, `plan_id` and one of `image_id`/`volume_id` are
/// needed; everything else is optional and left out when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmCreate {
    /// The VM's hostname (also its name in the panel).
    pub hostname: String,
    /// A numeric plan ID or a plan code such as `m.2`.
    pub plan_id: String,
    /// The image to install.
    pub image_id: Option<String>,
    /// An unattached volume to boot from instead of an image.
    pub volume_id: Option<String>,
    /// Boot the volume with virtio instead of IDE.
    pub volume_virtio: bool,
    /// Region slug (the server defaults to `toronto`).
    pub region: Option<String>,
    /// An unattached floating IP of the account to give the VM.
    pub ip: Option<String>,
    /// A virtual network ID.
    pub net_id: Option<String>,
    /// Security group IDs (sent comma-separated).
    pub securitygroups: Vec<String>,
    /// Startup script IDs (sent comma-separated).
    pub scripts: Vec<String>,
    /// SSH key IDs (sent comma-separated).
    pub key_id: Vec<String>,
    /// Ask the server to set a random password (ignored when a key is given).
    pub set_password: bool,
    /// Affinity group.
    pub affinity_group: Option<String>,
}

wire_struct! {
    /// One entry of `vm/list` (also the `extra` object of `vm/info`).
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct VmListEntry {
        /// The VM ID (a UUID today, numeric before 2016; opaque either way).
        vm_id: String,
        /// Display name.
        name: String,
        /// Hostname.
        hostname: String,
        /// Plan ID.
        plan_id: String,
        /// Primary public IP (empty while building).
        primaryip: String,
        /// Private IP.
        privateip: String,
        /// RAM in MB.
        ram: Option<u64>,
        /// Virtual CPUs.
        vcpu: Option<u32>,
        /// Storage in GB.
        storage: Option<u64>,
        /// Bandwidth in GB per month.
        bandwidth: Option<u64>,
        /// Region slug.
        region: String,
        /// OpenStack status, e.g. `active` (seen in newer answers only).
        os_status: String,
        /// Friendly status, e.g. `Online`, when the server includes it in the list.
        status_nohtml: String,
    }
}

/// The answer of `vm/info`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VmInfo {
    /// Live details.
    pub info: VmDetails,
    /// The same fields as a `vm/list` entry.
    pub extra: VmListEntry,
}

wire_struct! {
    /// The `info` object of `vm/info`.
    #[derive(Debug, Clone, Default)]
    pub struct VmDetails {
        /// Hostname.
        hostname: String,
        /// Primary public IPv4; empty for a while after create.
        ip: String,
        /// Private IP.
        privateip: String,
        /// Every address of the VM.
        addresses: Vec<VmAddress>,
        /// Status as HTML, entities decoded: `<font color="green"><b>Online</b></font>`.
        status: String => "crate::lunanode::decode::html_string",
        /// Status as text: `BUILD`, `Online`, `Powering off`, `Offline`, ...
        status_nohtml: String => "crate::lunanode::decode::html_string",
        /// OpenStack status: `active` when up.
        status_raw: String,
        /// Status colour: `green` when online.
        status_color: String,
        /// OpenStack task state, when one runs.
        task_state: String,
        /// Image name.
        image: String => "crate::lunanode::decode::html_string",
        /// Operating system name (same as `image` in practice).
        os: String => "crate::lunanode::decode::html_string",
        /// Security group names (the server sends them under two keys).
        security_groups: Vec<String>,
        /// The same list under the other key.
        securitygroups: Vec<String>,
        /// Additional public IPs.
        additionalip: Vec<String>,
        /// Additional private IPs.
        additionalprivateip: Vec<String>,
        /// IPv6 addresses.
        ipv6: Vec<String>,
        /// `username: ubuntu; password: XXXX` or `password: XXXX`: a secret.
        login_details: Option<SecretString>,
        /// Bandwidth used this month, in GB.
        #[serde(rename = "bandwidthUsedGB")]
        bandwidth_used_gb: Option<f64>,
        /// Present when a boot-order swap is possible (VMs installed from an ISO).
        diskswap: Option<String>,
        /// Hypervisor host.
        host_id: String,
        /// Attached volumes.
        volumes: Vec<VmVolume>,
    }
}

wire_struct! {
    /// One address in `vm/info`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct VmAddress {
        /// The address.
        addr: String,
        /// `4` or `6`.
        version: String,
        /// Whether it is a public address.
        external: bool,
        /// Reverse DNS name (trailing dot), when the server sends it.
        reverse: Option<String>,
    }
}

wire_struct! {
    /// A volume attached to a VM, as `vm/info` lists it.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct VmVolume {
        /// Volume ID.
        id: String,
        /// Volume name.
        name: String,
    }
}

wire_struct! {
    /// One address of a VM, as `vm/iplist` lists it. The answer's shape is not documented:
    /// only `ip` is relied on; the flags are read loosely (`"1"`, `1` or `true`).
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct VmIp {
        /// The address.
        ip: String,
        /// Set for a private address of the VM's network.
        private: String,
        /// Set for a floating IP.
        floating: String,
    }
}

impl VmIp {
    /// Whether this is a floating (public) address.
    pub fn is_floating(&self) -> bool {
        matches!(self.floating.trim(), "1" | "true" | "yes")
    }
}

impl Client {
    /// `vm/create`: returns the new VM's ID. Not retried after the request may have reached the
    /// server; on [`Error::may_have_taken_effect`] look the VM up by hostname before retrying.
    pub async fn vm_create(&self, request: &VmCreate) -> Result<String, Error> {
        let image = request.image_id.as_deref().unwrap_or_default();
        let volume = request.volume_id.as_deref().unwrap_or_default();
        if image.is_empty() && volume.is_empty() {
            return Err(Error::invalid_request("image_id or volume_id not set"));
        }
        let securitygroups = request.securitygroups.join(",");
        let scripts = request.scripts.join(",");
        let keys = request.key_id.join(",");
        let yes = |set: bool| if set { "yes" } else { "" };
        let parameters = [
            ("hostname", request.hostname.as_str()),
            ("plan_id", request.plan_id.as_str()),
            ("image_id", image),
            ("volume_id", volume),
            (
                "volume_virtio",
                yes(request.volume_virtio && !volume.is_empty()),
            ),
            ("region", request.region.as_deref().unwrap_or_default()),
            ("ip", request.ip.as_deref().unwrap_or_default()),
            ("net_id", request.net_id.as_deref().unwrap_or_default()),
            ("securitygroups", securitygroups.as_str()),
            ("scripts", scripts.as_str()),
            ("key_id", keys.as_str()),
            ("set_password", yes(request.set_password)),
            (
                "affinity_group",
                request.affinity_group.as_deref().unwrap_or_default(),
            ),
        ];
        self.create("vm", "create", &parameters, &["vm_id"]).await
    }

    /// `vm/info`.
    pub async fn vm_info(&self, vm_id: &str) -> Result<VmInfo, Error> {
        self.request_as("vm", "info", &[("vm_id", vm_id)]).await
    }

    /// `vm/vnc`: returns the console URL (it holds a one-time token: treat it as a secret).
    pub async fn vm_vnc(&self, vm_id: &str) -> Result<SecretString, Error> {
        let url: String = self
            .create("vm", "vnc", &[("vm_id", vm_id)], &["vnc_url"])
            .await?;
        Ok(SecretString::from(url))
    }
}

read_actions! {
    /// `vm/list`: every VM of the account.
    vm_list = "vm"/"list"() -> Vec<VmListEntry> = decode_list["vms"];

    /// `vm/floatingip-add`: attaches `ip` (an unattached floating IP of the account), or a new
    /// one when `None`. The answer's shape is unknown; the attached IP is returned when the
    /// server names it (`ip` or `floating_ip`), otherwise read it from `vm/info`.
    vm_floatingip_add = "vm"/"floatingip-add"(vm_id, ip: Option<&str>, private_ip: Option<&str>)
        -> Option<String> = create_maybe_id["ip", "floating_ip"];

    /// `vm/iplist`: the VM's addresses, private and floating.
    vm_iplist = "vm"/"iplist"(vm_id) -> Vec<VmIp> = decode_list["ips"];

    /// `vm/ip-add`: gives the VM another private address of its network (`ip`, or any free
    /// one); returns the address when the server names it.
    vm_ip_add = "vm"/"ip-add"(vm_id, ip: Option<&str>) -> Option<String> = create_maybe_id["ip"];

    /// `vm/snapshot`: returns the new image's ID (it goes `queued`, `saving`, `active`).
    vm_snapshot = "vm"/"snapshot"(vm_id, name) -> String = create_with_id["image_id"];
}

plain_actions! {
    /// `vm/securitygroup-add`: puts the VM in a security group.
    vm_securitygroup_add = "vm"/"securitygroup-add"(vm_id, group_id);

    /// `vm/securitygroup-remove`: takes the VM out of a security group.
    vm_securitygroup_remove = "vm"/"securitygroup-remove"(vm_id, group_id);

    /// `vm/floatingip-delete`: detaches the VM's floating IP (`ip`, or its only one); with `keep`
    /// the address stays on the account for reuse.
    vm_floatingip_delete = "vm"/"floatingip-delete"(vm_id, ip: Option<&str>, keep: bool);

    /// `vm/ip-delete`: takes a private address added by `vm/ip-add` off the VM.
    vm_ip_delete = "vm"/"ip-delete"(vm_id, ip);

    /// `vm/start`.
    vm_start = "vm"/"start"(vm_id);

    /// `vm/stop` (the VM goes `Powering off`, then `Offline`).
    vm_stop = "vm"/"stop"(vm_id);

    /// `vm/reboot`.
    vm_reboot = "vm"/"reboot"(vm_id);

    /// `vm/delete`. `invalid vm` ([`Error::is_not_found`]) means it is already gone.
    vm_delete = "vm"/"delete"(vm_id);

    /// `vm/reimage`: reinstalls the VM from `image_id` (its disk is wiped).
    vm_reimage = "vm"/"reimage"(vm_id, image_id);

    /// `vm/resize`. The server may report success and fail later (by e-mail); check the plan
    /// in `vm/list` afterwards.
    vm_resize = "vm"/"resize"(vm_id, plan_id);

    /// `vm/shelve`.
    vm_shelve = "vm"/"shelve"(vm_id);

    /// `vm/unshelve`.
    vm_unshelve = "vm"/"unshelve"(vm_id);

    /// `vm/rename`.
    vm_rename = "vm"/"rename"(vm_id, hostname);
}
