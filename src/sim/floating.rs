//! Floating IPs (`floating/*`): public addresses owned by the account, attached to a VM, to a
//! load balancer, or to nothing. Attaching them to VMs lives in `vm_net`.

use serde::Serialize;
use serde_json::{Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, done, reply},
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
    let id = shared.ids.next(IdKind::Floating);
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

/// The ID of the account's floating IP with this address.
pub(crate) fn find_by_ip(account: &Account, ip: &str) -> Option<String> {
    account
        .floating_ips
        .values()
        .find(|floating| floating.ip == ip.trim())
        .map(|floating| floating.id.clone())
}

/// Handles `floating/<action>`.
pub(crate) fn handle(ctx: &mut Ctx<'_>, action: &str, params: &Params) -> Reply {
    match action {
        "list" => list(ctx),
        "add" => add(ctx, params),
        "delete" => delete(ctx, params),
        _ => Err(ApiError::invalid("action")),
    }
}

fn list(ctx: &Ctx<'_>) -> Reply {
    let mut ips: Vec<&FloatingIp> = ctx.account.floating_ips.values().collect();
    ips.sort_by_key(|floating| floating.seq);
    let entries: Vec<Value> = ips
        .into_iter()
        .map(|floating| {
            let (attached_id, attached_type, attached_name) = match &floating.attachment {
                Attachment::Unattached => (String::new(), "unattached", String::new()),
                Attachment::Vm(id) => {
                    let name = ctx
                        .account
                        .vms
                        .get(id)
                        .map(|vm| vm.hostname.clone())
                        .unwrap_or_default();
                    (id.clone(), "vm", name)
                }
                Attachment::Lb(id) => {
                    let name = ctx
                        .account
                        .load_balancers
                        .get(id)
                        .map(|lb| lb.name.clone())
                        .unwrap_or_default();
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

fn add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let id = allocate(ctx.account, ctx.shared, region, Attachment::Unattached)?;
    let ip = ctx
        .account
        .floating_ips
        .get(&id)
        .map(|floating| floating.ip.clone())
        .unwrap_or_default();
    reply([("ip", json!(ip)), ("id", json!(id))])
}

fn delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let ip = params.require("ip")?;
    let id = find_by_ip(ctx.account, ip)
        .filter(|id| {
            ctx.account
                .floating_ips
                .get(id)
                .is_some_and(|floating| floating.region == region)
        })
        .ok_or_else(|| ApiError::invalid("ip"))?;
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
