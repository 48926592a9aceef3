//! Security groups and their rules (`securitygroup/*`); VMs join them with vm/create
//! `securitygroups` or `vm/securitygroup-add`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, deleted, done, regional, regional_list, reply, stored},
    catalog,
    state::{Account, IdKind, Shared},
};

/// A security group.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SecurityGroup {
    /// Numeric ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Region slug.
    pub region: String,
    /// Rules by ID.
    pub rules: BTreeMap<String, Rule>,
    /// Creation order.
    pub seq: u64,
}

/// A firewall rule.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Rule {
    /// Numeric ID.
    pub id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `ipv4` or `ipv6`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `any`, `tcp`, `udp` or `icmp`.
    pub protocol: String,
    /// First port (empty for any).
    pub port_min: String,
    /// Last port (empty for any).
    pub port_max: String,
    /// `cidr` or `group`.
    pub remote_type: String,
    /// A CIDR or a group ID.
    pub remote_value: String,
    /// Free text.
    pub label: String,
}

/// The name of the group each region of an account starts with.
pub(crate) const DEFAULT_GROUP: &str = "default";

/// The group each region of a new account starts with: named `default`, letting all traffic in
/// and out over IPv4 and IPv6 (the service's default, where a VM created without
/// `securitygroups` lands). It cannot be deleted. IDs and rule IDs are issued from `shared`.
pub(crate) fn default_groups(shared: &mut Shared) -> BTreeMap<String, SecurityGroup> {
    let mut groups = BTreeMap::new();
    for (region, _) in catalog::REGIONS {
        let id = shared.issue(IdKind::SecurityGroup);
        let mut rules = BTreeMap::new();
        for direction in ["ingress", "egress"] {
            for (kind, cidr) in [("ipv4", "0.0.0.0/0"), ("ipv6", "::/0")] {
                let rule_id = shared.issue(IdKind::Rule);
                let rule = Rule {
                    id: rule_id.clone(),
                    direction: direction.to_owned(),
                    kind: kind.to_owned(),
                    protocol: "any".to_owned(),
                    port_min: String::new(),
                    port_max: String::new(),
                    remote_type: "cidr".to_owned(),
                    remote_value: cidr.to_owned(),
                    label: String::new(),
                };
                rules.insert(rule_id, rule);
            }
        }
        let group = SecurityGroup {
            id: id.clone(),
            name: DEFAULT_GROUP.to_owned(),
            region: (*region).to_owned(),
            rules,
            seq: shared.ids.next_seq(),
        };
        groups.insert(id, group);
    }
    groups
}

/// The ID of `region`'s default group on the account, if it is still there.
pub(crate) fn default_group(account: &Account, region: &str) -> Option<String> {
    account
        .security_groups
        .values()
        .filter(|group| group.region == region && group.name == DEFAULT_GROUP)
        .min_by_key(|group| group.seq)
        .map(|group| group.id.clone())
}

/// `securitygroup/rename`.
pub(crate) fn rename(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let name = valid_name(params)?;
    find(ctx.account, params)?.name = name;
    done()
}

/// `securitygroup/rule-delete`.
pub(crate) fn rule_delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<Rule>(ctx.account, params, "rule")
}

regional!(SecurityGroup);

fn find<'a>(account: &'a mut Account, params: &Params) -> Result<&'a mut SecurityGroup, ApiError> {
    let region = params.require_region()?;
    let groups = &mut account.security_groups;
    params.find_in(groups, "group_id", "security group", Some(region))
}

stored!(SecurityGroup, SecurityGroup, "group_id", security_groups);
stored!(Rule, Rule, "rule_id", find, rules);

fn valid_name(params: &Params) -> Result<String, ApiError> {
    let name = params.text("name")?;
    Ok(name.trim().to_owned())
}

pub(crate) fn list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let groups = &ctx.account.security_groups;
    regional_list(
        params,
        "securitygroups",
        groups,
        |g| json!({"securitygroup_id": g.id, "id": g.id, "name": g.name, "region": g.region}),
    )
}

pub(crate) fn create(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let name = valid_name(params)?;
    let seq = ctx.seq();
    ctx.shared.create(ctx.account, params, |id| SecurityGroup {
        id,
        name,
        region: region.to_owned(),
        rules: BTreeMap::new(),
        seq,
    })
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let group = find(ctx.account, params)?;
    let (id, region) = (group.id.clone(), group.region.clone());
    if default_group(ctx.account, &region).as_deref() == Some(id.as_str()) {
        return Err(ApiError::new(
            "the default security group cannot be deleted",
        ));
    }
    if ctx
        .account
        .vms
        .values()
        .any(|vm| vm.security_groups.contains(&id))
    {
        return Err(ApiError::new("the security group is in use by a VM"));
    }
    ctx.account.security_groups.remove(&id);
    done()
}

pub(crate) fn rule_list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let group = find(ctx.account, params)?;
    let rules: Vec<Value> = group
        .rules
        .values()
        .map(|r| {
            json!({
                "id": r.id, "rule_id": r.id, "direction": r.direction, "type": r.kind,
                "protocol": r.protocol, "port_min": r.port_min, "port_max": r.port_max,
                "remote_type": r.remote_type, "remote_value": r.remote_value, "label": r.label,
            })
        })
        .collect();
    reply([("rules", Value::Array(rules))])
}

fn one_of(params: &Params, name: &str, allowed: &[&str]) -> Result<String, ApiError> {
    let value = params.require(name)?.trim().to_ascii_lowercase();
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(ApiError::invalid(name))
    }
}

pub(crate) fn rule_insert(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let direction = one_of(params, "direction", &["ingress", "egress"])?;
    let kind = one_of(params, "type", &["ipv4", "ipv6"])?;
    let protocol = one_of(params, "protocol", &["any", "tcp", "udp", "icmp"])?;
    let remote_type = one_of(params, "remote_type", &["cidr", "group"])?;
    let remote_value = params.require("remote_value")?.trim().to_owned();
    let port_min = params.optional_number::<u16>("port_min")?;
    let port_max = params.optional_number::<u16>("port_max")?;
    if port_min.zip(port_max).is_some_and(|(min, max)| min > max) {
        return Err(ApiError::invalid("port_max"));
    }
    let remote_ok = match remote_type.as_str() {
        "cidr" => {
            let (address, bits) = remote_value.split_once('/').unwrap_or((&remote_value, "0"));
            let max_bits = if kind == "ipv4" { 32 } else { 128 };
            let address_ok = if kind == "ipv4" {
                address.parse::<std::net::Ipv4Addr>().is_ok()
            } else {
                address.parse::<std::net::Ipv6Addr>().is_ok()
            };
            address_ok && bits.parse::<u8>().is_ok_and(|b| b <= max_bits)
        }
        _ => ctx.account.security_groups.contains_key(&remote_value),
    };
    if !remote_ok {
        return Err(ApiError::invalid("remote_value"));
    }
    let label = params.get("label").unwrap_or("").trim().to_owned();
    let rule = |id| Rule {
        id,
        direction,
        kind,
        protocol,
        port_min: port_min.map(|p| p.to_string()).unwrap_or_default(),
        port_max: port_max.map(|p| p.to_string()).unwrap_or_default(),
        remote_type,
        remote_value,
        label,
    };
    ctx.shared.create(ctx.account, params, rule)
}
