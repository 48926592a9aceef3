//! Security groups (firewalls) and their rules: `securitygroup/list`, `create`, `rename`,
//! `delete`, `rule-list`, `rule-insert`, `rule-delete`.

use super::decode_list;
use crate::lunanode::{Client, Error};

/// What `securitygroup/rule-insert` makes: a rule of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleInsert<'a> {
    /// `ingress` or `egress`.
    pub direction: &'a str,
    /// `ipv4` or `ipv6` (sent as `type`).
    pub ip_version: &'a str,
    /// `any`, `tcp`, `udp` or `icmp`.
    pub protocol: &'a str,
    /// `cidr` or `group`.
    pub remote_type: &'a str,
    /// A CIDR, or a group ID.
    pub remote_value: &'a str,
    /// First port; `None` for every port.
    pub port_min: Option<&'a str>,
    /// Last port; `None` for every port.
    pub port_max: Option<&'a str>,
    /// Free text.
    pub label: Option<&'a str>,
}

impl Client {
    /// `securitygroup/rule-insert`: returns the new rule's ID. Ports and label are left out
    /// when `None` (never sent empty).
    pub async fn securitygroup_rule_insert(
        &self,
        region: &str,
        group_id: &str,
        rule: &RuleInsert<'_>,
    ) -> Result<String, Error> {
        let mut parameters = vec![
            ("region", region),
            ("group_id", group_id),
            ("direction", rule.direction),
            ("type", rule.ip_version),
            ("protocol", rule.protocol),
            ("remote_type", rule.remote_type),
            ("remote_value", rule.remote_value),
        ];
        for (name, value) in [
            ("port_min", rule.port_min),
            ("port_max", rule.port_max),
            ("label", rule.label),
        ] {
            if let Some(value) = value {
                parameters.push((name, value));
            }
        }
        self.create(
            "securitygroup",
            "rule-insert",
            &parameters,
            &["rule_id", "id"],
        )
        .await
    }
}

wire_struct! {
    /// One group of `securitygroup/list`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct SecurityGroup {
        /// Group ID.
        securitygroup_id: String,
        /// The same ID, under the key newer answers also carry.
        id: String,
        /// Name.
        name: String,
        /// Region slug.
        region: String,
    }
}

wire_struct! {
    /// One rule of `securitygroup/rule-list`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct SecurityGroupRule {
        /// Rule ID.
        id: String,
        /// The same ID, under the key some answers carry instead.
        rule_id: String,
        /// `ingress` or `egress`.
        direction: String,
        /// `ipv4` or `ipv6`.
        #[serde(rename = "type")]
        ip_version: String,
        /// `any`, `tcp`, `udp` or `icmp`.
        protocol: String,
        /// First port; empty for every port.
        port_min: String,
        /// Last port; empty for every port.
        port_max: String,
        /// `cidr` or `group`.
        remote_type: String,
        /// A CIDR, or a group ID.
        remote_value: String,
        /// Free text.
        label: String,
    }
}

impl SecurityGroup {
    /// The group's ID, under whichever key the answer carried it.
    pub fn group_id(&self) -> &str {
        either_id(&self.securitygroup_id, &self.id)
    }
}

impl SecurityGroupRule {
    /// The rule's ID, under whichever key the answer carried it.
    pub fn rule_id(&self) -> &str {
        either_id(&self.id, &self.rule_id)
    }
}

/// An ID an answer may carry under either of two keys: `first` unless it is empty, else `second`.
fn either_id<'a>(first: &'a str, second: &'a str) -> &'a str {
    if first.is_empty() { second } else { first }
}

read_actions! {
    /// `securitygroup/list`, in one region or all (`None`).
    securitygroup_list = "securitygroup"/"list"(region: Option<&str>) -> Vec<SecurityGroup>
        = decode_list["securitygroups"];

    /// `securitygroup/create`: returns the new group's ID.
    securitygroup_create = "securitygroup"/"create"(region, name) -> String
        = create_with_id["group_id", "securitygroup_id", "id"];

    /// `securitygroup/rule-list`: the rules of one group.
    securitygroup_rule_list = "securitygroup"/"rule-list"(region, group_id)
        -> Vec<SecurityGroupRule> = decode_list["rules"];
}

plain_actions! {
    /// `securitygroup/rename`.
    securitygroup_rename = "securitygroup"/"rename"(region, group_id, name);

    /// `securitygroup/delete`.
    securitygroup_delete = "securitygroup"/"delete"(region, group_id);

    /// `securitygroup/rule-delete`.
    securitygroup_rule_delete = "securitygroup"/"rule-delete"(region, group_id, rule_id);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn groups_and_rules_decode_whichever_id_key_they_carry() {
        let answer = json!({"securitygroups": [
            {"securitygroup_id": "5", "id": "5", "name": "web", "region": "toronto"},
            {"securitygroup_id": "6", "name": "db", "region": "montreal"},
        ]});
        let groups: Vec<SecurityGroup> = decode_list(&answer, &["securitygroups"]).unwrap();
        let ids: Vec<&str> = groups.iter().map(SecurityGroup::group_id).collect();
        assert_eq!(ids, ["5", "6"]);
        let answer = json!({"rules": [
            {"id": "9", "rule_id": "9", "direction": "ingress", "type": "ipv4", "protocol": "tcp",
             "port_min": "22", "port_max": "22", "remote_type": "cidr",
             "remote_value": "0.0.0.0/0", "label": ""},
            {"rule_id": "10", "direction": "egress"},
        ]});
        let rules: Vec<SecurityGroupRule> = decode_list(&answer, &["rules"]).unwrap();
        assert_eq!(rules[0].rule_id(), "9");
        assert_eq!(rules[0].ip_version, "ipv4");
        assert_eq!(rules[1].rule_id(), "10");
    }
}
