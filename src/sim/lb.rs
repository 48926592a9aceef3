//! Load balancers (`lb/*`): members, an associated floating IP, and `creating` → `active`.

use std::{collections::BTreeMap, net::Ipv4Addr};

use serde::Serialize;
use serde_json::{Value, json};

use super::{
    call::{
        ApiError, Ctx, Params, Reply, deleted, done, in_region, regional, reply, stored, valid_text,
    },
    clock::{Millis, after},
    floating::{self, Attachment},
    state::Account,
};

/// A load balancer member.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Member {
    /// Numeric ID.
    pub id: String,
    /// Backend address.
    pub ip: String,
    /// Backend port.
    pub port: u16,
}

/// A load balancer.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoadBalancer {
    /// Numeric ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Region slug.
    pub region: String,
    /// Network it balances in.
    pub net_id: String,
    /// `ROUND_ROBIN`, `LEAST_CONNECTIONS` or `SOURCE_IP`.
    pub method: String,
    /// `HTTP`, `HTTPS` or `TCP`.
    pub protocol: String,
    /// Listening port.
    pub port: u16,
    /// `-1` for unlimited.
    pub connection_limit: i64,
    /// When it becomes `active`.
    pub active_at: Millis,
    /// Members by ID.
    pub members: BTreeMap<String, Member>,
    /// Creation order.
    pub seq: u64,
}

regional!(LoadBalancer);

fn find<'a>(account: &'a mut Account, params: &Params) -> Result<&'a mut LoadBalancer, ApiError> {
    let region = params.require_region()?;
    params.find_in(
        &mut account.load_balancers,
        "lb_id",
        "load balancer",
        Some(region),
    )
}

stored!(LoadBalancer, LoadBalancer, "lb_id", load_balancers);
stored!(Member, Member, "member_id", find, members);

pub(crate) fn list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let net_id = params.get("net_id");
    let entries = in_region(&ctx.account.load_balancers, Some(region))
        .into_iter()
        .filter(|lb| net_id.is_none_or(|n| n == lb.net_id))
        .map(|lb| json!({"id": lb.id, "name": lb.name, "region": lb.region, "net_id": lb.net_id}));
    // The real key is the singular `lb`.
    reply([("lb", entries.collect())])
}

fn port(params: &Params) -> Result<u16, ApiError> {
    match params.number::<u16>("port")? {
        0 => Err(ApiError::invalid("port")),
        port => Ok(port),
    }
}

pub(crate) fn create(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let net_id = params.require("net_id")?.trim();
    let name = params.require("name")?;
    let method = params.require("method")?.to_ascii_uppercase();
    let protocol = params.require("protocol")?.to_ascii_uppercase();
    let connection_limit: i64 = params.number("connection_limit")?;
    let port = port(params)?;
    if !valid_text(name, 255) {
        return Err(ApiError::invalid("name"));
    }
    if ctx
        .account
        .networks
        .get(net_id)
        .is_none_or(|n| n.region != region)
    {
        return Err(ApiError::invalid("network"));
    }
    if !matches!(
        method.as_str(),
        "ROUND_ROBIN" | "LEAST_CONNECTIONS" | "SOURCE_IP"
    ) {
        return Err(ApiError::invalid("method"));
    }
    if !matches!(protocol.as_str(), "HTTP" | "HTTPS" | "TCP") {
        return Err(ApiError::invalid("protocol"));
    }
    if connection_limit < -1 {
        return Err(ApiError::invalid("connection_limit"));
    }
    let seq = ctx.seq();
    ctx.shared.create(ctx.account, params, |id| LoadBalancer {
        id,
        name: name.trim().to_owned(),
        region: region.to_owned(),
        net_id: net_id.to_owned(),
        method,
        protocol,
        port,
        connection_limit,
        active_at: after(ctx.now, ctx.timing.lb_create),
        members: BTreeMap::new(),
        seq,
    })
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let id = find(ctx.account, params)?.id.clone();
    ctx.account.load_balancers.remove(&id);
    // Its floating IP stays on the account, unattached.
    for floating in ctx.account.floating_ips.values_mut() {
        if floating.attachment == Attachment::Lb(id.clone()) {
            floating.attachment = Attachment::Unattached;
        }
    }
    done()
}

pub(crate) fn info(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let now = ctx.now;
    let lb = find(ctx.account, params)?.clone();
    let ip = ctx
        .account
        .floating_ips
        .values()
        .find(|f| f.attachment == Attachment::Lb(lb.id.clone()))
        .map(|f| f.ip.clone())
        .unwrap_or_default();
    let members: Vec<Value> = lb
        .members
        .values()
        .map(|m| json!({"member_id": m.id, "ip": m.ip, "port": m.port}))
        .collect();
    reply([(
        "info",
        json!({
            "id": lb.id, "name": lb.name, "region": lb.region, "net_id": lb.net_id,
            "method": lb.method, "protocol": lb.protocol, "port": lb.port,
            "connection_limit": lb.connection_limit,
            "status": if now >= lb.active_at { "active" } else { "creating" },
            "ip": ip, "members": members,
        }),
    )])
}

pub(crate) fn member_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let ip = params.require("ip")?.trim().to_owned();
    let port = port(params)?;
    if ip.parse::<Ipv4Addr>().is_err() {
        return Err(ApiError::invalid("ip"));
    }
    ctx.shared
        .create(ctx.account, params, |id| Member { id, ip, port })
}

pub(crate) fn member_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<Member>(ctx.account, params, "member")
}

pub(crate) fn associate(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let ip = params.require("ip")?;
    let (lb_id, region) = {
        let lb = find(ctx.account, params)?;
        (lb.id.clone(), lb.region.clone())
    };
    let floating_id = floating::find_by_ip(ctx.account, ip, |f| {
        f.region == region
            && (f.attachment == Attachment::Unattached
                || f.attachment == Attachment::Lb(lb_id.clone()))
    })?;
    for floating in ctx.account.floating_ips.values_mut() {
        if floating.attachment == Attachment::Lb(lb_id.clone()) {
            floating.attachment = Attachment::Unattached;
        }
    }
    if let Some(floating) = ctx.account.floating_ips.get_mut(&floating_id) {
        floating.attachment = Attachment::Lb(lb_id);
    }
    done()
}
