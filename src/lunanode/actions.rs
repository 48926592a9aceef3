//! The catalog of every Luna Node API action: category, action, required and optional
//! parameters.
//!
//! One table serves three users: the CLI (`api --list` and parameter checks), the client's
//! generic `request`, and the simulator (which answers `<parameter> not set` from the same
//! required lists). Sources: the provider's action list, completed by the newer forms the wire
//! reference documents (`dns2`, `sshkey`, `script` create/get/update/delete, `volume extend`,
//! `vm rename`, `lb` info/member actions, security-group actions, ...).

/// One API action and the parameters it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
    /// The category label, e.g. `vm`.
    pub category: &'static str,
    /// The action label, e.g. `create` (hyphens, except the load balancer's `member_add`).
    pub action: &'static str,
    /// Parameters the server requires.
    pub required: &'static [&'static str],
    /// Parameters the server accepts but does not require.
    pub optional: &'static [&'static str],
}

impl ActionSpec {
    /// `category/action`, the form `api --list` prints.
    pub fn path(&self) -> String {
        format!("{}/{}", self.category, self.action)
    }

    /// Whether `name` is a parameter this action knows.
    pub fn accepts(&self, name: &str) -> bool {
        self.required.contains(&name) || self.optional.contains(&name)
    }

    /// Whether sending this action twice has the same effect as sending it once, so that a
    /// request that may or may not have reached the server can simply be sent again.
    ///
    /// Reads, deletes by ID and "set to this value" actions are; everything that makes a new
    /// object (`create`, `add`, `*-add`, `member_add`, `snapshot`, `replicate`, `fetch`,
    /// `*-create`, `rule-insert`) is not, because a repeat would make a duplicate. Nor are the
    /// toggles `diskswap` and `rescue`, or `reboot` (a second reboot is a second outage).
    pub fn is_idempotent(&self) -> bool {
        let action = self.action;
        let creates = matches!(
            action,
            "create" | "add" | "member_add" | "snapshot" | "replicate" | "fetch" | "rule-insert"
        ) || action.ends_with("-add")
            || action.ends_with("-create")
            || action.ends_with("-replicate");
        let toggles = matches!(action, "diskswap" | "rescue" | "reboot");
        !(creates || toggles)
    }

    /// Whether the action only reads: lists, per-object reads, the account's credit and usage.
    /// Everything else changes the account (or, like `vm/vnc`, opens a session), and a
    /// [planning](super::Client::planning) client records it instead of sending it.
    pub fn is_read(&self) -> bool {
        matches!(
            self.action,
            "list" | "info" | "details" | "get" | "credit" | "usage" | "iplist" | "check-types"
        ) || self.action.ends_with("-list")
    }

    /// The same action, accepting these optional parameters as well (for the table).
    const fn with_optional(self, optional: &'static [&'static str]) -> Self {
        Self { optional, ..self }
    }
}

/// An action of the table that takes no optional parameter (see [`ActionSpec::with_optional`]).
const fn a(
    category: &'static str,
    action: &'static str,
    required: &'static [&'static str],
) -> ActionSpec {
    ActionSpec {
        category,
        action,
        required,
        optional: &[],
    }
}

const VM: &[&str] = &["vm_id"];

/// What both forms of `record-add` require.
const RECORD_ADD: &[&str] = &["zone_id", "name", "data", "ttl", "type"];

/// Every action the client can call and the simulator answers, grouped by category.
pub const ACTIONS: &[ActionSpec] = &[
    // Virtual machines.
    a("vm", "start", VM),
    a("vm", "stop", VM),
    a("vm", "reboot", VM),
    a("vm", "diskswap", VM),
    a("vm", "info", VM),
    a("vm", "delete", VM),
    a("vm", "reimage", &["vm_id", "image_id"]),
    a("vm", "resize", &["vm_id", "plan_id"]),
    a("vm", "rescue", VM),
    a("vm", "vnc", VM),
    a("vm", "floatingip-add", VM).with_optional(&["ip", "private_ip"]),
    a("vm", "floatingip-delete", VM).with_optional(&["ip", "keep"]),
    a("vm", "iplist", VM),
    a("vm", "ip-add", VM).with_optional(&["ip"]),
    a("vm", "ip-delete", &["vm_id", "ip"]),
    a("vm", "create", &["hostname", "plan_id"]).with_optional(&[
        "image_id",
        "volume_id",
        "volume_virtio",
        "prefer",
        "affinity_group",
        "region",
        "ip",
        "net_id",
        "securitygroups",
        "scripts",
        "key_id",
        "set_password",
    ]),
    a("vm", "snapshot", &["vm_id", "name"]),
    a("vm", "list", &[]),
    a("vm", "shelve", VM),
    a("vm", "unshelve", VM),
    a("vm", "rename", &["vm_id", "hostname"]),
    a("vm", "securitygroup-add", &["vm_id", "group_id"]),
    a("vm", "securitygroup-remove", &["vm_id", "group_id"]),
    a("vm", "usage", &["vm_id", "key"]),
    a("vm", "set-fairshare", VM).with_optional(&["charge_for_cpu", "fairshare_nolend"]),
    // Reverse DNS, dynamic DNS and the older form of hosted zones.
    a("dns", "list", &[]),
    a("dns", "set", &["ip", "hostname"]).with_optional(&["vm_id"]),
    a("dns", "zone-list", &[]),
    a("dns", "zone-add", &["origin"]).with_optional(&["ttl"]),
    a("dns", "zone-remove", &["zone_id"]),
    a("dns", "record-list", &["zone_id"]),
    a("dns", "record-add", RECORD_ADD),
    a("dns", "record-remove", &["record_id"]).with_optional(&["zone_id"]),
    a("dns", "dyn-list", &[]),
    a("dns", "dyn-add", &["name", "ip"]),
    a("dns", "dyn-update", &["dyn_id", "name", "ip"]),
    a("dns", "dyn-remove", &["dyn_id"]),
    // The newer form of hosted zones.
    a("dns2", "zone-list", &[]),
    a("dns2", "zone-add", &["name"]).with_optional(&["ttl"]),
    a("dns2", "zone-remove", &["zone_id"]),
    a("dns2", "record-list", &["zone_id"]),
    a("dns2", "record-add", RECORD_ADD).with_optional(&[
        "policy",
        "weight",
        "region",
        "regiongroup",
        "country",
        "continent",
        "global",
        "latitude",
        "longitude",
        "aux",
        "monitor_id",
        "orig_record_id",
    ]),
    a("dns2", "record-remove", &["zone_id", "record_id"]),
    // Images.
    a("image", "list", &[]).with_optional(&["region"]),
    a("image", "delete", &["image_id"]),
    a("image", "details", &["image_id"]),
    a("image", "replicate", &["image_id", "region"]),
    a("image", "fetch", &["region", "name", "location", "format"]).with_optional(&["virtio"]),
    a("image", "retrieve", &["image_id"]),
    a("image", "rename", &["image_id", "name"]),
    // Volumes. The older API wanted `region` on every call; it is accepted everywhere.
    a("volume", "list", &[]).with_optional(&["region"]),
    a("volume", "create", &["region", "label", "size"]).with_optional(&["image", "snapshot_id"]),
    a("volume", "delete", &["volume_id"]).with_optional(&["region"]),
    a("volume", "attach", &["volume_id", "vm_id", "target"]).with_optional(&["region"]),
    a("volume", "detach", &["volume_id"]).with_optional(&["region"]),
    a("volume", "info", &["volume_id"]).with_optional(&["region"]),
    a("volume", "extend", &["volume_id", "size"]).with_optional(&["region"]),
    a("volume", "rename", &["volume_id", "name"]).with_optional(&["region"]),
    a("volume", "snapshot-create", &["volume_id", "label"]).with_optional(&["region"]),
    a("volume", "snapshot-list", &[]).with_optional(&["region"]),
    a(
        "volume",
        "snapshot-replicate",
        &["region", "snapshot_id", "image_name", "dst_region"],
    ),
    a("volume", "snapshot-delete", &["snapshot_id"]).with_optional(&["region"]),
    // Floating IPs.
    a("floating", "list", &[]),
    a("floating", "add", &["region"]),
    a("floating", "delete", &["region", "ip"]),
    // Virtual networks.
    a("network", "list", &[]).with_optional(&["region"]),
    a("network", "create", &["region", "name", "subnet", "dns"]),
    a("network", "delete", &["region", "net_id"]),
    // Load balancers.
    a("lb", "list", &["region"]).with_optional(&["net_id"]),
    a(
        "lb",
        "create",
        &[
            "region",
            "net_id",
            "name",
            "method",
            "protocol",
            "connection_limit",
            "port",
        ],
    ),
    a("lb", "delete", &["region", "lb_id"]),
    a("lb", "info", &["region", "lb_id"]),
    a("lb", "member_add", &["region", "lb_id", "ip", "port"]),
    a("lb", "member_remove", &["region", "lb_id", "member_id"]),
    a("lb", "associate", &["region", "lb_id", "ip"]),
    // Plans and regions.
    a("plan", "list", &[]),
    a("region", "list", &[]),
    // Server monitoring.
    a("monitor", "check-list", &[]),
    a("monitor", "check-types", &[]),
    a("monitor", "check-add", &["name", "type"]).with_optional(&[
        "check_interval",
        "delay",
        "fail_count",
        "success_count",
        "target",
        "port",
        "path",
        "hostname",
        "record_type",
        "expected",
    ]),
    a("monitor", "check-remove", &["check_id"]),
    a("monitor", "contact-list", &[]),
    a("monitor", "contact-add", &["type", "rel"]),
    a("monitor", "contact-remove", &["contact_id"]),
    a("monitor", "alert-list", &["check_id"]),
    a("monitor", "alert-add", &["check_id", "contact_id"]),
    a("monitor", "alert-remove", &["alert_id"]),
    // Security groups.
    a("securitygroup", "list", &[]).with_optional(&["region"]),
    a("securitygroup", "create", &["region", "name"]),
    a("securitygroup", "delete", &["region", "group_id"]),
    a("securitygroup", "rename", &["region", "group_id", "name"]),
    a("securitygroup", "rule-list", &["region", "group_id"]),
    a(
        "securitygroup",
        "rule-insert",
        &[
            "region",
            "group_id",
            "direction",
            "type",
            "protocol",
            "remote_type",
            "remote_value",
        ],
    )
    .with_optional(&["port_min", "port_max", "label"]),
    a(
        "securitygroup",
        "rule-delete",
        &["region", "group_id", "rule_id"],
    ),
    // Startup scripts.
    a("script", "list", &[]),
    a("script", "get", &["script_id"]),
    a("script", "create", &["name", "content"]),
    a("script", "update", &["script_id", "name", "content"]),
    a("script", "delete", &["script_id"]),
    // SSH keys.
    a("sshkey", "list", &[]),
    a("sshkey", "add", &["label", "sshkey"]),
    a("sshkey", "remove", &["key_id"]),
    // Billing.
    a("billing", "credit", &[]),
    // E-mail hosting.
    a("email", "usage", &[]),
    a("email", "domain-list", &[]),
    a("email", "domain-add", &["name"]),
    a("email", "domain-remove", &["domain_id"]),
    a(
        "email",
        "domain-dkim-set",
        &["domain_id", "selector", "private_key"],
    ),
    a("email", "domain-dkim-unset", &["domain_id"]),
    a("email", "user-list", &["domain_id"]),
    a("email", "user-add", &["domain_id", "username", "password"]),
    a(
        "email",
        "user-set-password",
        &["domain_id", "user_id", "password"],
    ),
    a("email", "user-remove", &["domain_id", "user_id"]),
    a("email", "alias-list", &["domain_id"]),
    a("email", "alias-add", &["domain_id", "name", "target"]),
    a("email", "alias-remove", &["domain_id", "alias_id"]),
];

/// Parameters whose values are secrets: never logged, never echoed back in errors (the
/// transport redacts their values from every error, as it does the API key). `rel` is a
/// monitoring contact's address, which may come from a Secret (a phone number, a webhook URL
/// with a token).
pub const SECRET_PARAMETERS: &[&str] = &["password", "private_key", "set_password", "rel"];

/// Looks an action up by category and action label.
pub fn find(category: &str, action: &str) -> Option<&'static ActionSpec> {
    ACTIONS
        .iter()
        .find(|spec| spec.category == category && spec.action == action)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_action_is_listed_once() {
        let mut seen = HashSet::new();
        for spec in ACTIONS {
            assert!(seen.insert(spec.path()), "{} is listed twice", spec.path());
        }
    }

    #[test]
    fn parameters_are_not_both_required_and_optional() {
        for spec in ACTIONS {
            for name in spec.required {
                assert!(!spec.optional.contains(name), "{}: {name}", spec.path());
            }
        }
    }

    #[test]
    fn creates_are_not_idempotent_and_reads_are() {
        for (category, action, idempotent) in [
            ("vm", "create", false),
            ("volume", "create", false),
            ("floating", "add", false),
            ("network", "create", false),
            ("lb", "create", false),
            ("lb", "member_add", false),
            ("dns", "zone-add", false),
            ("dns", "record-add", false),
            ("dns2", "record-add", false),
            ("vm", "floatingip-add", false),
            ("vm", "snapshot", false),
            ("vm", "diskswap", false),
            ("sshkey", "add", false),
            ("script", "create", false),
            ("volume", "snapshot-create", false),
            ("vm", "list", true),
            ("vm", "info", true),
            ("vm", "delete", true),
            ("vm", "stop", true),
            ("volume", "detach", true),
            ("dns", "record-remove", true),
            ("lb", "member_remove", true),
            ("floating", "delete", true),
            ("dns", "set", true),
        ] {
            let spec = find(category, action);
            assert_eq!(
                spec.map(ActionSpec::is_idempotent),
                Some(idempotent),
                "{category}/{action}"
            );
        }
    }

    #[test]
    fn load_balancer_members_use_underscores() {
        assert!(find("lb", "member_add").is_some());
        assert!(find("lb", "member-add").is_none());
    }

    #[test]
    fn reads_are_told_from_writes() {
        let reads: Vec<String> = ACTIONS
            .iter()
            .filter(|spec| spec.is_read())
            .map(ActionSpec::path)
            .collect();
        for read in [
            "vm/list",
            "vm/info",
            "vm/iplist",
            "image/details",
            "script/get",
            "billing/credit",
            "dns/record-list",
            "monitor/check-types",
        ] {
            assert!(reads.iter().any(|path| path == read), "{read} reads");
        }
        // Every read is a list or a lookup; nothing that makes, changes, removes or opens.
        for path in &reads {
            for verb in [
                "create", "add", "delete", "remove", "set", "update", "attach", "detach", "extend",
                "resize", "rename", "vnc", "start", "stop", "retrieve", "fetch",
            ] {
                assert!(
                    !path
                        .rsplit('/')
                        .next()
                        .unwrap_or_default()
                        .starts_with(verb),
                    "{path} is not a read"
                );
            }
        }
        assert!(
            reads
                .iter()
                .all(|path| find_path(path).is_some_and(ActionSpec::is_idempotent))
        );
    }

    fn find_path(path: &str) -> Option<&'static ActionSpec> {
        let (category, action) = path.split_once('/')?;
        find(category, action)
    }
}
