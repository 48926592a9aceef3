//! Floating IPs (`floating/*`): public addresses owned by the account, attached to a VM, to a
//! load balancer, or to nothing. Attaching them to VMs lives in `vm_net`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, done, in_region, regional, reply},
    state::{Account, IdKind, Shared},
};

/// What a floating IP is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub(crate) enum Attachment {
    /// Nothing (`attached_type` `unattached`).
    Unattached,
    /// A VM, by ID.
    Vm(String),
    /// A load balancer, by ID (lb/associate).
    Lb(String),
}

/// A floating IP.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FloatingIp {
    /// Numeric ID.
    pub id: String,
    /// The address.
    pub ip: String,
    /// Region slug.
    pub region: String,
    /// What it is attached to.
    pub attachment: Attachment,
    /// The private address it maps to, when attached to a VM.
    pub private_ip: Option<String>,
    /// Reverse DNS set with dns/set.
    pub rdns: Option<String>,
    /// Creation order.
    pub seq: u64,
}

impl FloatingIp {
    /// The default reverse name, `d.c.b.a.rdns.sim.invalid` (never a real domain).
    pub(crate) fn default_rdns(&self) -> String {
        let reversed: Vec<&str> = self.ip.rsplit('.').collect();
        format!("{}.rdns.sim.invalid", reversed.join("."))
    }

    /// Whether it is attached to this VM.
    pub(crate) fn is_on_vm(&self, vm_id: &str) -> bool {
        matches!(&self.attachment, Attachment::Vm(id) if id == vm_id)
    }
}

/// Takes a new address from the pool and records it on the account; returns its ID.
pub(crate) fn allocate(
    account: &mut Account,
    shared: &mut Shared,
    region: &str,
    attachment: Attachment,
) -> Result<String, ApiError> {
    let address = shared
        .pool
        .allocate()
        .ok_or_else(|| ApiError::new("no floating IP addresses are available"))?;
    let id = shared.issue(IdKind::Floating);
    let seq = shared.ids.next_seq();
    account.floating_ips.insert(
        id.clone(),
        FloatingIp {
            id: id.clone(),
            ip: address.to_string(),
            region: region.to_owned(),
            attachment,
            private_ip: None,
            rdns: None,
            seq,
        },
    );
    Ok(id)
}

/// Removes a floating IP from the account and returns its address to the pool.
pub(crate) fn release(account: &mut Account, shared: &mut Shared, id: &str) {
    if let Some(floating) = account.floating_ips.remove(id) {
        shared.pool.release(&floating.ip);
    }
}

/// The ID of the account's floating IP with this address, if it passes `keep`; else `invalid
/// ip`.
pub(crate) fn find_by_ip(
    account: &Account,
    ip: &str,
    keep: impl Fn(&FloatingIp) -> bool,
) -> Result<String, ApiError> {
    account
        .floating_ips
        .values()
        .find(|floating| floating.ip == ip.trim())
        .filter(|floating| keep(floating))
        .map(|floating| floating.id.clone())
        .ok_or_else(|| ApiError::invalid("ip"))
}

/// The address of the account's floating IP with this ID (`""` if there is none).
pub(crate) fn address_of(account: &Account, id: &str) -> String {
    account
        .floating_ips
        .get(id)
        .map(|floating| floating.ip.clone())
        .unwrap_or_default()
}

regional!(FloatingIp);

pub(crate) fn list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    // The name of what an address is attached to, `""` when it is gone.
    fn name_of<T>(objects: &BTreeMap<String, T>, id: &str, name: impl Fn(&T) -> &String) -> String {
        objects.get(id).map(name).cloned().unwrap_or_default()
    }
    let entries: Vec<Value> = in_region(&ctx.account.floating_ips, None)
        .into_iter()
        .map(|floating| {
            let (attached_id, attached_type, attached_name) = match &floating.attachment {
                Attachment::Unattached => (String::new(), "unattached", String::new()),
                Attachment::Vm(id) => (
                    id.clone(),
                    "vm",
                    name_of(&ctx.account.vms, id, |vm| &vm.hostname),
                ),
                Attachment::Lb(id) => {
                    let name = name_of(&ctx.account.load_balancers, id, |lb| &lb.name);
                    (id.clone(), "lb", name)
                }
            };
            json!({
                "id": floating.id,
                "ip": floating.ip,
                "region": floating.region,
                "attached_id": attached_id,
                "attached_type": attached_type,
                "attached_name": attached_name,
                "hostname": floating.rdns.clone().unwrap_or_else(|| floating.default_rdns()),
            })
        })
        .collect();
    reply([("ips", Value::Array(entries))])
}

pub(crate) fn add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let id = allocate(ctx.account, ctx.shared, region, Attachment::Unattached)?;
    let ip = address_of(ctx.account, &id);
    reply([("ip", json!(ip)), ("id", json!(id))])
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let ip = params.require("ip")?;
    let id = find_by_ip(ctx.account, ip, |floating| floating.region == region)?;
    if ctx
        .account
        .floating_ips
        .get(&id)
        .is_some_and(|floating| floating.attachment != Attachment::Unattached)
    {
        return Err(ApiError::new(
            "the floating IP is attached; detach it before deleting it",
        ));
    }
    release(ctx.account, ctx.shared, &id);
    done()
}
