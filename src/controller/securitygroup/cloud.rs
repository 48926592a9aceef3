//! The cloud reads of the LunaSecurityGroup controller: the shared `securitygroup list`, and
//! the rules of one group (`securitygroup rule-list`), in the wire form the plan compares.

use crate::{
    api::securitygroup::WireRule,
    controller::caches::list_cache,
    lunanode::{
        self, Client,
        types::{SecurityGroup, SecurityGroupRule},
    },
};

list_cache! {
    /// The account's `securitygroup list` cache (all regions), polled.
    pub fn groups(account) -> ObservedGroup = "securitygroup list",
        |client| client.securitygroup_list(None),
        SecurityGroup::group_id,
        |group| ObservedGroup {
            id: group.group_id().to_owned(),
            name: group.name,
            region: group.region,
        }
}

/// A group as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedGroup {
    /// Group ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
}

/// The rules of group `id`, each with its ID, in wire form (lower case, ports as text).
pub async fn rules(
    client: &Client,
    region: &str,
    id: &str,
) -> Result<Vec<(String, WireRule)>, lunanode::Error> {
    Ok(client
        .securitygroup_rule_list(region, id)
        .await?
        .into_iter()
        .map(|rule| (rule.rule_id().to_owned(), wire(rule)))
        .collect())
}

fn wire(rule: SecurityGroupRule) -> WireRule {
    let lower = |text: String| text.trim().to_ascii_lowercase();
    WireRule {
        direction: lower(rule.direction),
        ip_version: lower(rule.ip_version),
        protocol: lower(rule.protocol),
        port_min: rule.port_min.trim().to_owned(),
        port_max: rule.port_max.trim().to_owned(),
        remote_type: lower(rule.remote_type),
        remote_value: rule.remote_value.trim().to_owned(),
        label: rule.label.trim().to_owned(),
    }
}
