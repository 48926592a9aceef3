//! DNS: reverse DNS of floating IPs (`dns/list`, `dns/set`), dynamic DNS (`dns/dyn-*`), and
//! hosted zones in both forms, the older `dns/zone-*`/`record-*` and the newer `dns2/*`. Both
//! forms work on the same zones, as they are two APIs over one service.

use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, Ipv6Addr},
};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, deleted, done, keyed, reply, stored, updated},
    floating::{self, Attachment},
    state::Account,
};

/// Record types the service accepts.
pub(crate) const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CNAME", "HINFO", "MX", "NAPTR", "NS", "PTR", "RP", "SRV", "TXT",
];

/// A hosted zone.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Zone {
    /// Numeric ID.
    pub id: String,
    /// Origin with the trailing dot, e.g. `example.com.`.
    pub name: String,
    /// Default TTL.
    pub ttl: u32,
    /// Records by ID.
    pub records: BTreeMap<String, Record>,
}

/// A DNS record.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Record {
    /// Numeric ID.
    pub id: String,
    /// Name, as given (`www`, `@`, or a full name).
    pub name: String,
    /// Record type, upper case.
    #[serde(rename = "type")]
    pub kind: String,
    /// Data, e.g. an address.
    pub data: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Extra `dns2` fields given at creation.
    pub extra: BTreeMap<String, String>,
}

/// A dynamic DNS entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DynRecord {
    /// Numeric ID.
    pub id: String,
    /// Label.
    pub name: String,
    /// Address.
    pub ip: String,
}

/// `dns/zone-list`.
pub(crate) fn zone_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    keyed(
        "zones",
        &ctx.account.zones,
        |z| json!({"id": z.id, "origin": z.name, "name": z.name, "ttl": z.ttl}),
    )
}

/// `dns/record-remove`.
pub(crate) fn record_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let record_id = params.require("record_id")?.trim();
    let zone_filter = params.get("zone_id").map(str::trim);
    let zone = ctx
        .account
        .zones
        .values_mut()
        .filter(|z| zone_filter.is_none_or(|id| id == z.id))
        .find(|z| z.records.contains_key(record_id))
        .ok_or_else(|| ApiError::invalid("record"))?;
    zone.records.remove(record_id);
    done()
}

/// `dns/dyn-list`.
pub(crate) fn dyn_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    keyed(
        "dyns",
        &ctx.account.dyns,
        |d| json!({"id": d.id, "name": d.name, "ip": d.ip}),
    )
}

/// `dns/dyn-remove`.
pub(crate) fn dyn_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<DynRecord>(ctx.account, params, "dyn")
}

/// `dns2/zone-list`.
pub(crate) fn dns2_zone_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    let zones = ctx
        .account
        .zones
        .values()
        .map(|z| json!({"id": z.id, "name": z.name, "ttl": z.ttl}));
    reply([("zones", zones.collect())])
}

/// `dns2/record-remove`.
pub(crate) fn dns2_record_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<Record>(ctx.account, params, "record")
}

pub(crate) fn rdns_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    let mut ips: Vec<_> = ctx.account.floating_ips.values().collect();
    ips.sort_by_key(|f| f.seq);
    let entries: Vec<Value> = ips
        .into_iter()
        .map(|f| {
            let (vm_id, vm_name) = match &f.attachment {
                Attachment::Vm(id) => (
                    id.clone(),
                    ctx.account
                        .vms
                        .get(id)
                        .map(|vm| vm.hostname.clone())
                        .unwrap_or_default(),
                ),
                _ => (String::new(), String::new()),
            };
            let hostname = f.rdns.clone().unwrap_or_else(|| "[not set]".to_owned());
            json!({"vm_id": vm_id, "vm_name": vm_name, "ip": f.ip, "hostname": hostname})
        })
        .collect();
    reply([("dns", Value::Array(entries))])
}

pub(crate) fn rdns_set(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let ip = params.require("ip")?;
    let hostname = params.require("hostname")?.trim().trim_end_matches('.');
    let id = floating::find_by_ip(ctx.account, ip, |_| true)?;
    if let Some(vm_id) = params.get("vm_id") {
        let attached = ctx
            .account
            .floating_ips
            .get(&id)
            .is_some_and(|f| f.is_on_vm(vm_id.trim()));
        if !attached {
            return Err(ApiError::invalid("vm"));
        }
    }
    // `.` clears the reverse name.
    let rdns = if hostname.is_empty() {
        None
    } else if valid_domain(hostname) {
        Some(hostname.to_ascii_lowercase())
    } else {
        return Err(ApiError::invalid("hostname"));
    };
    if let Some(floating) = ctx.account.floating_ips.get_mut(&id) {
        floating.rdns = rdns;
    }
    done()
}

/// Letters, digits, `-`, `_`, `.`; at least one dot; no empty labels.
fn valid_domain(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn ttl(params: &Params, name: &str, default: Option<u32>) -> Result<u32, ApiError> {
    match (params.get(name), default) {
        (None, Some(default)) => Ok(default),
        _ => params.number::<u32>(name),
    }
}

/// `dns/zone-add`: the domain is `origin`.
pub(crate) fn zone_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    zone_add_named(ctx, params, "origin")
}

/// `dns2/zone-add`: the domain is `name`.
pub(crate) fn dns2_zone_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    zone_add_named(ctx, params, "name")
}

fn zone_add_named(ctx: &mut Ctx<'_>, params: &Params, name_parameter: &str) -> Reply {
    let name = params.require(name_parameter)?.trim().to_ascii_lowercase();
    if !valid_domain(&name) {
        return Err(ApiError::invalid(name_parameter));
    }
    let name = format!("{}.", name.trim_end_matches('.'));
    let ttl = ttl(params, "ttl", Some(3600))?;
    if ctx.account.zones.values().any(|z| z.name == name) {
        return Err(ApiError::new("the zone already exists"));
    }
    ctx.shared.create(ctx.account, params, |id| Zone {
        id,
        name,
        ttl,
        records: BTreeMap::new(),
    })
}

fn find_zone<'a>(account: &'a mut Account, params: &Params) -> Result<&'a mut Zone, ApiError> {
    params.find_mut(&mut account.zones, "zone_id", "zone")
}

stored!(Zone, Zone, "zone_id", zones);
stored!(Record, Record, "record_id", find_zone, records);
stored!(DynRecord, Dyn, "dyn_id", dyns);

pub(crate) fn zone_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<Zone>(ctx.account, params, "zone")
}

pub(crate) fn record_list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let zone = find_zone(ctx.account, params)?;
    let records = zone.records.values().map(|r| {
        let mut entry = Map::new();
        for (key, value) in &r.extra {
            entry.insert(key.clone(), json!(value));
        }
        entry.insert("id".into(), json!(r.id));
        entry.insert("name".into(), json!(r.name));
        entry.insert("type".into(), json!(r.kind));
        entry.insert("data".into(), json!(r.data));
        entry.insert("ttl".into(), json!(r.ttl));
        Value::Object(entry)
    });
    reply([("records", records.collect())])
}

pub(crate) fn record_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    // An unknown zone is the answer before anything about the record.
    find_zone(ctx.account, params)?;
    let name = params.require("name")?.trim().to_owned();
    let data = params.require("data")?.trim().to_owned();
    let ttl = ttl(params, "ttl", None)?;
    let kind = params.require("type")?.trim().to_ascii_uppercase();
    if !RECORD_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::invalid("record type"));
    }
    let name_ok = name == "@"
        || name.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_*".contains(c))
        });
    if !name_ok {
        return Err(ApiError::invalid("name"));
    }
    let data_ok = match kind.as_str() {
        "A" => data.parse::<Ipv4Addr>().is_ok(),
        "AAAA" => data.parse::<Ipv6Addr>().is_ok(),
        _ => !data.chars().any(char::is_control),
    };
    if !data_ok {
        return Err(ApiError::invalid("data"));
    }
    // The optional `dns2/record-add` parameters of the catalog are kept on the record.
    let extras = crate::lunanode::actions::find("dns2", "record-add")
        .map(|spec| spec.optional)
        .unwrap_or_default();
    let extra: BTreeMap<String, String> = extras
        .iter()
        .filter_map(|key| params.get(key).map(|v| ((*key).to_owned(), v.to_owned())))
        .collect();
    ctx.shared.create(ctx.account, params, |id| Record {
        id,
        name,
        kind,
        data,
        ttl,
        extra,
    })
}

/// The entry that `name` and `ip` describe, made once its ID is known: what `dns/dyn-add`
/// stores and `dns/dyn-update` writes over the stored one.
fn dyn_from(params: &Params) -> Result<impl FnOnce(String) -> DynRecord, ApiError> {
    let name = params.require("name")?.trim().to_ascii_lowercase();
    let ip = params.require("ip")?.trim().to_owned();
    if name.is_empty()
        || name.len() > 63
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiError::invalid("name"));
    }
    if ip.parse::<Ipv4Addr>().is_err() && ip.parse::<Ipv6Addr>().is_err() {
        return Err(ApiError::invalid("ip"));
    }
    Ok(|id| DynRecord { id, name, ip })
}

pub(crate) fn dyn_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let entry = dyn_from(params)?;
    ctx.shared.create(ctx.account, params, entry)
}

pub(crate) fn dyn_update(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let entry = dyn_from(params)?;
    updated(&mut ctx.account.dyns, params, "dyn_id", "dyn", entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_need_a_dot_and_clean_labels() {
        for (domain, valid) in [
            ("example.com.", true),
            ("a-b.example.com", true),
            ("localhost", false),
            ("exa mple.com", false),
            ("a..b", false),
        ] {
            assert_eq!(valid_domain(domain), valid, "{domain}");
        }
    }
}
