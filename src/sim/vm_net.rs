//! A VM's addresses and security groups: floating IPs attached to it (`vm/floatingip-*`),
//! private addresses (`vm/ip-*`, `vm/iplist`), `vm/securitygroup-*`, and the floating IP a new
//! VM receives when its first build ends.

use std::{collections::HashSet, net::Ipv4Addr};

use serde_json::{Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, done, reply},
    floating::{self, Attachment, FloatingIp},
    state::{Account, Shared},
    vm::{self, Vm},
};

/// Gives a freshly built VM the floating IP vm/create promised (unless it got one meanwhile).
pub(crate) fn assign_pending_ip(account: &mut Account, shared: &mut Shared, vm_id: &str) {
    let Some(vm) = account.vms.get(vm_id) else {
        return;
    };
    if !vm.ip_pending || vm.primary_ip.is_some() {
        return;
    }
    let (region, private_ip) = (vm.region.clone(), vm.private_ip.clone());
    let allocated = floating::allocate(account, shared, &region, Attachment::Vm(vm_id.to_owned()));
    let address = allocated.ok().and_then(|id| {
        let floating = account.floating_ips.get_mut(&id)?;
        floating.private_ip = Some(private_ip);
        Some(floating.ip.clone())
    });
    if address.is_none() {
        tracing::warn!(
            vm_id,
            "public IP pool exhausted; the VM stays without an IP"
        );
    }
    if let Some(vm) = account.vms.get_mut(vm_id) {
        vm.ip_pending = false;
        vm.primary_ip = address;
    }
}

/// The floating IPs on a VM, in attach order.
fn floating_of<'a>(account: &'a Account, vm_id: &str) -> Vec<&'a FloatingIp> {
    let mut ips: Vec<&FloatingIp> = account
        .floating_ips
        .values()
        .filter(|f| f.is_on_vm(vm_id))
        .collect();
    ips.sort_by_key(|f| f.seq);
    ips
}

/// A VM's addresses as vm/info shows them.
pub(crate) struct Addresses {
    /// `addresses`: private first, then public.
    pub addresses: Vec<Value>,
    /// `additionalip`: public addresses other than the primary.
    pub additional_public: Vec<String>,
}

/// Builds vm/info's address fields (public ones are hidden during the first build).
pub(crate) fn addresses(account: &Account, vm: &Vm) -> Addresses {
    let mut addresses: Vec<Value> = std::iter::once(&vm.private_ip)
        .chain(&vm.additional_private_ips)
        .map(|addr| json!({"addr": addr, "version": "4", "external": ""}))
        .collect();
    let mut additional_public = Vec::new();
    if !vm.visible_ip().is_empty() {
        for floating in floating_of(account, &vm.id) {
            let mut entry = json!({"addr": floating.ip, "version": "4", "external": "1"});
            if let (Some(rdns), Some(object)) = (&floating.rdns, entry.as_object_mut()) {
                object.insert("reverse".into(), json!(format!("{rdns}.")));
            }
            addresses.push(entry);
            if Some(&floating.ip) != vm.primary_ip.as_ref() {
                additional_public.push(floating.ip.clone());
            }
        }
    }
    Addresses {
        addresses,
        additional_public,
    }
}

/// A private address for a VM: from its virtual network's /24, or from the account's default
/// 10.10.0.0/16. `requested` must be free and inside that range.
pub(crate) fn allocate_private(
    account: &mut Account,
    net_id: Option<&str>,
    requested: Option<&str>,
) -> Result<String, ApiError> {
    let used: HashSet<&str> = account
        .vms
        .values()
        .filter(|vm| vm.net_id.as_deref() == net_id)
        .flat_map(|vm| std::iter::once(&vm.private_ip).chain(&vm.additional_private_ips))
        .map(String::as_str)
        .collect();
    let prefix = match net_id {
        Some(id) => account
            .networks
            .get(id)
            .map(|network| network.prefix.clone())
            .ok_or_else(|| ApiError::invalid("network"))?,
        None => String::from("10.10"),
    };
    if let Some(requested) = requested {
        let requested = requested.trim();
        let inside = requested.parse::<Ipv4Addr>().is_ok()
            && requested.starts_with(&format!("{prefix}."))
            && requested
                .rsplit('.')
                .next()
                .and_then(|last| last.parse::<u8>().ok())
                .is_some_and(|last| (2..=254).contains(&last));
        if !inside || used.contains(requested) {
            return Err(ApiError::invalid("ip"));
        }
        return Ok(requested.to_owned());
    }
    if net_id.is_some() {
        return (2..=254u32)
            .map(|last| format!("{prefix}.{last}"))
            .find(|candidate| !used.contains(candidate.as_str()))
            .ok_or_else(|| ApiError::new("no free address left in the virtual network"));
    }
    // 10.10.0.2 – 10.10.255.254: 256 × 253 addresses, tried in turn from the last one given.
    for _ in 0..256 * 253 {
        let n = account.next_private;
        account.next_private = n.wrapping_add(1) % (256 * 253);
        let candidate = format!("10.10.{}.{}", n / 253, 2 + n % 253);
        if !used.contains(candidate.as_str()) {
            return Ok(candidate);
        }
    }
    Err(ApiError::new("no free private address left"))
}

pub(crate) fn floating_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let vm = vm::find(ctx.account, params)?;
    let (vm_id, region) = (vm.id.clone(), vm.region.clone());
    let private_ip = match params.get("private_ip") {
        Some(private) => {
            let private = private.trim();
            if private != vm.private_ip && !vm.additional_private_ips.iter().any(|a| a == private) {
                return Err(ApiError::invalid("private_ip"));
            }
            private.to_owned()
        }
        None => vm.private_ip.clone(),
    };
    let floating_id = match params.get("ip") {
        Some(ip) => floating::find_by_ip(ctx.account, ip, |f| {
            f.region == region && f.attachment == Attachment::Unattached
        })?,
        None => floating::allocate(ctx.account, ctx.shared, &region, Attachment::Unattached)?,
    };
    let Some(floating) = ctx.account.floating_ips.get_mut(&floating_id) else {
        return Err(ApiError::invalid("ip"));
    };
    floating.attachment = Attachment::Vm(vm_id.clone());
    floating.private_ip = Some(private_ip);
    let address = floating.ip.clone();
    if let Some(vm) = ctx.account.vms.get_mut(&vm_id) {
        if vm.primary_ip.is_none() {
            vm.primary_ip = Some(address.clone());
        }
        vm.ip_pending = false;
    }
    reply([("ip", json!(address))])
}

pub(crate) fn floating_delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let vm = vm::find(ctx.account, params)?;
    let vm_id = vm.id.clone();
    let target = match params.get("ip") {
        Some(ip) => Some(floating::find_by_ip(ctx.account, ip, |f| {
            f.is_on_vm(&vm_id)
        })?),
        None => {
            let primary = vm.primary_ip.clone();
            let on_vm = floating_of(ctx.account, &vm_id);
            on_vm
                .iter()
                .find(|f| Some(&f.ip) == primary.as_ref())
                .or(on_vm.first())
                .map(|f| f.id.clone())
        }
    };
    let Some(floating_id) = target else {
        // A VM still in its first build has no IP yet: cancel the one it was going to get.
        if let Some(vm) = ctx.account.vms.get_mut(&vm_id).filter(|vm| vm.ip_pending) {
            vm.ip_pending = false;
            return done();
        }
        return Err(ApiError::new("the VM has no floating IP"));
    };
    let address = floating::address_of(ctx.account, &floating_id);
    if params.is_yes("keep") {
        if let Some(floating) = ctx.account.floating_ips.get_mut(&floating_id) {
            floating.attachment = Attachment::Unattached;
            floating.private_ip = None;
        }
    } else {
        floating::release(ctx.account, ctx.shared, &floating_id);
    }
    let next_primary = floating_of(ctx.account, &vm_id)
        .first()
        .map(|f| f.ip.clone());
    if let Some(vm) = ctx
        .account
        .vms
        .get_mut(&vm_id)
        .filter(|vm| vm.primary_ip.as_deref() == Some(address.as_str()))
    {
        vm.primary_ip = next_primary;
    }
    done()
}

pub(crate) fn iplist(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let vm = vm::find(ctx.account, params)?;
    let mut ips: Vec<Value> = std::iter::once(&vm.private_ip)
        .chain(&vm.additional_private_ips)
        .map(|ip| {
            json!({
                "ip": ip, "private": "1", "floating": "", "version": "4",
                "primary": ip == &vm.private_ip,
            })
        })
        .collect();
    if !vm.visible_ip().is_empty() {
        for floating in floating_of(ctx.account, &vm.id) {
            ips.push(json!({
                "ip": floating.ip, "private": "", "floating": "1", "version": "4",
                "primary": Some(&floating.ip) == vm.primary_ip.as_ref(),
                "private_ip": floating.private_ip.clone().unwrap_or_default(),
            }));
        }
    }
    reply([("ips", Value::Array(ips))])
}

pub(crate) fn ip_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let net_id = vm::find(ctx.account, params)?.net_id.clone();
    let address = allocate_private(ctx.account, net_id.as_deref(), params.get("ip"))?;
    vm::find_mut(ctx.account, params)?
        .additional_private_ips
        .push(address.clone());
    reply([("ip", json!(address))])
}

pub(crate) fn ip_delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let ip = params.require("ip")?.trim().to_owned();
    let vm = vm::find_mut(ctx.account, params)?;
    let before = vm.additional_private_ips.len();
    vm.additional_private_ips.retain(|address| *address != ip);
    if vm.additional_private_ips.len() == before {
        return Err(ApiError::invalid("ip"));
    }
    done()
}

fn group_in_region(ctx: &Ctx<'_>, params: &Params, region: &str) -> Result<String, ApiError> {
    let group_id = params.require("group_id")?.trim();
    ctx.account
        .security_groups
        .get(group_id)
        .filter(|group| group.region == region)
        .map(|group| group.id.clone())
        .ok_or_else(|| ApiError::invalid("security group"))
}

pub(crate) fn group_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = vm::find(ctx.account, params)?.region.clone();
    let group_id = group_in_region(ctx, params, &region)?;
    let vm = vm::find_mut(ctx.account, params)?;
    if !vm.security_groups.contains(&group_id) {
        vm.security_groups.push(group_id);
    }
    done()
}

pub(crate) fn group_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = vm::find(ctx.account, params)?.region.clone();
    let group_id = group_in_region(ctx, params, &region)?;
    let vm = vm::find_mut(ctx.account, params)?;
    if !vm.security_groups.contains(&group_id) {
        return Err(ApiError::invalid("security group"));
    }
    vm.security_groups.retain(|id| *id != group_id);
    done()
}
