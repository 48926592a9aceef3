//! Floating IPs: `floating/list`, `add`, `delete`, and reverse DNS through `dns/set`.

use super::{created_id, decode_list};
use crate::lunanode::{Client, Error};

wire_struct! {
    /// One floating IP of `floating/list`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct FloatingIp {
        /// Floating IP ID.
        id: String,
        /// The address.
        ip: String,
        /// Region slug.
        region: String,
        /// `vm` or `unattached`.
        attached_type: String,
        /// The VM it is attached to, if any.
        attached_id: Option<String>,
        /// The name of what it is attached to, if any.
        attached_name: Option<String>,
        /// Its reverse DNS name.
        hostname: String,
    }
}

impl FloatingIp {
    /// Whether it is attached to something.
    pub fn is_attached(&self) -> bool {
        self.attached_id.is_some() && self.attached_type != "unattached"
    }
}

/// The answer of `floating/add`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FloatingIpAdded {
    /// The new address.
    pub ip: String,
    /// Its ID, when the server sends one.
    pub id: Option<String>,
}

impl Client {
    /// `floating/add`: allocates a floating IP in `region`. The answer holds `ip` (LunaNode's own
    /// code reads it) and, per the simulator, `id` (or `floating_id`); a missing `ip` is a
    /// decode error that may hide an allocation, so list before allocating again.
    pub async fn floating_add(&self, region: &str) -> Result<FloatingIpAdded, Error> {
        let response = self
            .request("floating", "add", &[("region", region)])
            .await?;
        let ip = created_id(&response, &["ip", "floating_ip"])
            .ok_or_else(|| Error::decode("floating/add succeeded without ip"))?;
        let id = created_id(&response, &["id", "floating_id", "floating_ip_id"]);
        Ok(FloatingIpAdded { ip, id })
    }
}

read_actions! {
    /// `floating/list` (every region).
    floating_list = "floating"/"list"() -> Vec<FloatingIp> = decode_list["ips"];
}

plain_actions! {
    /// `dns/set`: the reverse DNS name of `ip` (an address of the account); `vm_id` for the
    /// older form that wanted it.
    dns_set = "dns"/"set"(ip, hostname, vm_id: Option<&str>);

    /// `floating/delete`: releases `ip` from the account.
    floating_delete = "floating"/"delete"(region, ip);
}
