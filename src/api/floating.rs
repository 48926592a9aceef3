//! `LunaFloatingIP`: a public IPv4 address kept on the account, optionally attached to a VM
//! and given a reverse DNS name.
//!
//! Without `attachTo` the operator leaves the attachment alone (and reports it): that is how a
//! LunaVM takes its address through `floatingIPRef` without the two objects fighting over it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{AttachedVm, Region, immutable};

crate::managed_crd! {
    /// A Luna Node floating IP, kept on the account and attached to a VM as its spec says.
    kube(kind = "LunaFloatingIP", plural = "lunafloatingips", singular = "lunafloatingip", shortname = "lfip"),
    status = "LunaFloatingIPStatus",
    columns(("Address", "string", ".status.address"),
        ("Attached", "string", ".status.atProvider.attachedId"), ("ID", "string", ".status.id", 1)),
    /// Desired state of a LunaFloatingIP.
    #[x_kube(
        validation = immutable("region"),
    )]
    #[derive(Default)]
    pub struct LunaFloatingIPSpec {
        /// Region: `toronto` (default), `montreal` or `roubaix`. Immutable.
        #[serde(default)]
        pub region: Region,

        /// The VM to attach the address to. Without it the attachment is left as it is (a LunaVM
        /// may take the address through `floatingIPRef`); removing it detaches.
        pub attach_to: Option<FloatingIPAttachment>,

        /// Reverse DNS (PTR) name of the address, e.g. `www.example.com`. Removing it leaves the
        /// last name in place.
        #[schemars(
            length(min = 1, max = 253),
            regex(
                pattern = r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\.?$"
            )
        )]
        pub reverse_dns: Option<String>,
    }
}

/// Where a floating IP is attached: a LunaVM of the namespace or a VM ID.
#[serde_with::skip_serializing_none]
#[derive(JsonSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FloatingIPAttachment {
    /// The VM: `vmRef` or `vmId`.
    #[serde(flatten)]
    pub vm: AttachedVm,
    /// The VM's private IP to map the address to (default: its first).
    #[schemars(ipv4, length(max = 15))]
    pub private_ip: Option<String>,
}

impl LunaFloatingIPSpec {
    /// An unattached address in the default region.
    pub fn new() -> Self {
        Self::default()
    }
}

crate::status_types! {
    /// Observed state of a LunaFloatingIP.
    pub struct LunaFloatingIPStatus for LunaFloatingIP(FloatingIPAtProvider) {
        /// The address.
        pub address: Option<String>,

        /// The reverse DNS name last set by the operator.
        pub applied_reverse_dns: Option<String>,
    }

    /// A floating IP as the API reports it.
    pub struct FloatingIPAtProvider {
        /// Its region.
        pub region: Option<String>,
        /// The VM it is attached to.
        pub attached_id: Option<String>,
        /// The name of what it is attached to.
        pub attached_name: Option<String>,
        /// Its reverse DNS name.
        pub reverse_dns: Option<String>,
    }
}
