//! The spec's records with their references resolved: a `vmRef` to the LunaVM's public IP
//! (from the LunaVM controller's cache), a `floatingIPRef` to the LunaFloatingIP's address.

use std::collections::HashMap;

use kube::{Api, Resource, ResourceExt};

use super::decide::{Waiting, Wanted, same};
use crate::controller::vm::{VmIp, vm_ip};
use crate::{
    api::{dnszone::LunaDnsZone, floating::LunaFloatingIP},
    controller::{Context, error::Error},
};

/// The spec's records with their references resolved: the records to keep, and those that wait
/// for an address. Identical entries count once.
pub async fn desired(
    zone: &LunaDnsZone,
    ctx: &Context,
) -> Result<(Vec<Wanted>, Vec<Waiting>), Error> {
    let namespace = zone.namespace().unwrap_or_default();
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut waiting: Vec<Waiting> = Vec::new();
    let mut floating: HashMap<String, Result<String, String>> = HashMap::new();
    for record in &zone.spec.records {
        let ttl = record.ttl.unwrap_or(zone.spec.ttl);
        let record_type = record.record_type.as_str().to_owned();
        let vm_ref = record.vm_ref.as_ref().map(|r| r.name.clone());
        let floating_ip_ref = record.floating_ip_ref.as_ref().map(|r| r.name.clone());
        let address = if let Some(data) = &record.data {
            Ok(data.trim().to_owned())
        } else if let Some(vm) = &vm_ref {
            vm_ip(ctx, &namespace, vm, VmIp::Public)
        } else if let Some(name) = &floating_ip_ref {
            if !floating.contains_key(name) {
                let address = floating_address(ctx, &namespace, name).await?;
                floating.insert(name.clone(), address);
            }
            floating
                .get(name)
                .cloned()
                .unwrap_or_else(|| Err(String::new()))
        } else {
            // The CEL rules make this impossible; skip rather than guess.
            continue;
        };
        match address {
            Ok(data) => {
                let entry = Wanted {
                    name: record.name.trim().to_owned(),
                    record_type,
                    data,
                    ttl,
                    vm_ref,
                    floating_ip_ref,
                };
                if !wanted.iter().any(|w| same(w, &entry) && w.ttl == entry.ttl) {
                    wanted.push(entry);
                }
            }
            Err(why) => {
                let entry = Waiting {
                    name: record.name.trim().to_owned(),
                    record_type,
                    vm_ref,
                    floating_ip_ref,
                    why,
                };
                if !waiting.contains(&entry) {
                    waiting.push(entry);
                }
            }
        }
    }
    Ok((wanted, waiting))
}

/// The address of a LunaFloatingIP: from its controller's cache when that controller runs in
/// this process, else read from the API server (one GET per reference and reconcile).
pub(crate) async fn floating_address(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Result<String, String>, Error> {
    let object = if ctx.registry.waker::<LunaFloatingIP>().is_some() {
        ctx.registry
            .objects::<LunaFloatingIP>(namespace)
            .into_iter()
            .find(|object| object.name_any() == name)
            .map(|object| (*object).clone())
    } else {
        Api::<LunaFloatingIP>::namespaced(ctx.kube.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(Error::kube(
                "read a LunaFloatingIP",
                format!("{namespace}/{name}"),
            ))?
    };
    let Some(object) = object else {
        return Ok(Err(format!(
            "LunaFloatingIP {namespace}/{name} does not exist"
        )));
    };
    if object.meta().deletion_timestamp.is_some() {
        return Ok(Err(format!(
            "LunaFloatingIP {namespace}/{name} is being deleted"
        )));
    }
    Ok(object
        .status
        .as_ref()
        .and_then(|status| status.address.clone())
        .filter(|address| !address.is_empty())
        .ok_or_else(|| format!("LunaFloatingIP {namespace}/{name} has no address yet")))
}

/// The LunaVMs a zone's records follow.
pub fn vm_refs(zone: &LunaDnsZone) -> Vec<String> {
    zone.spec
        .records
        .iter()
        .filter_map(|record| record.vm_ref.as_ref().map(|r| r.name.clone()))
        .collect()
}

/// The LunaFloatingIPs a zone's records follow.
pub fn floating_refs(zone: &LunaDnsZone) -> Vec<String> {
    zone.spec
        .records
        .iter()
        .filter_map(|record| record.floating_ip_ref.as_ref().map(|r| r.name.clone()))
        .collect()
}
