//! Reverse DNS (`dns/list`) and dynamic DNS (`dns/dyn-*`). Hosted zones are in `zones.rs`;
//! setting a reverse name (`dns/set`) is with the floating IPs.

use super::{decode_keyed_list, decode_list};

/// What `dns/list` shows for an address without a reverse name.
pub const RDNS_NOT_SET: &str = "[not set]";

wire_struct! {
    /// One address of `dns/list` and its reverse DNS name.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct RdnsEntry {
        /// The VM's name.
        vm_name: String,
        /// The VM's ID.
        vm_id: String,
        /// The address.
        ip: String,
        /// Its reverse name, or `[not set]`.
        hostname: String,
    }
}

impl RdnsEntry {
    /// The reverse name, if one is set.
    pub fn reverse_name(&self) -> Option<&str> {
        (!self.hostname.is_empty() && self.hostname != RDNS_NOT_SET)
            .then_some(self.hostname.as_str())
    }
}

wire_struct! {
    /// One dynamic DNS name of `dns/dyn-list` (`name` under the account's dynamic domain).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct DynEntry {
        /// Entry ID (from the entry, else the key it was listed under).
        id: String,
        /// The label.
        name: String,
        /// The address it points at.
        ip: String,
    }
}

keyed_by_id!(DynEntry);

read_actions! {
    /// `dns/list`: the reverse names of the account's addresses.
    dns_list = "dns"/"list"() -> Vec<RdnsEntry> = decode_list["dns"];

    /// `dns/dyn-list` (an object keyed by ID on the wire).
    dns_dyn_list = "dns"/"dyn-list"() -> Vec<DynEntry> = decode_keyed_list["dyns"];

    /// `dns/dyn-add`: the name `name` under the account's dynamic domain, pointing at `ip`;
    /// returns the entry's ID.
    dns_dyn_add = "dns"/"dyn-add"(name, ip) -> String = create_with_id["dyn_id", "id"];
}

plain_actions! {
    /// `dns/dyn-update`: writes name and address of the entry.
    dns_dyn_update = "dns"/"dyn-update"(dyn_id, name, ip);

    /// `dns/dyn-remove`.
    dns_dyn_remove = "dns"/"dyn-remove"(dyn_id);
}
