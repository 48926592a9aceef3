//! Virtual networks (`network/*`): a private /24 per network, where VMs created with `net_id`
//! take their private addresses.

use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::json;

use super::call::{
    ApiError, Ctx, Params, Reply, done, regional, regional_list, stored, valid_text,
};

/// A virtual network.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Network {
    /// Numeric ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Region slug.
    pub region: String,
    /// First three octets, e.g. `192.168.30`.
    pub prefix: String,
    /// DNS servers, comma-separated.
    pub dns: String,
    /// Creation order.
    pub seq: u64,
}

regional!(Network);
stored!(Network, Network, "net_id", networks);

pub(crate) fn list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    regional_list(params, "networks", &ctx.account.networks, |n| {
        json!({
            "net_id": n.id, "name": n.name, "region": n.region,
            "subnet": format!("{}.0/24", n.prefix), "dns": n.dns,
        })
    })
}

/// `192.168.30` or `192.168.30.0/24` → `192.168.30` (private ranges only).
fn parse_subnet(subnet: &str) -> Option<String> {
    let subnet = subnet.trim();
    let prefix = subnet
        .strip_suffix(".0/24")
        .unwrap_or(subnet)
        .trim_end_matches('.');
    let address: Ipv4Addr = format!("{prefix}.0").parse().ok()?;
    address.is_private().then(|| prefix.to_owned())
}

pub(crate) fn create(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let name = params.require("name")?;
    let prefix =
        parse_subnet(params.require("subnet")?).ok_or_else(|| ApiError::invalid("subnet"))?;
    let dns = params.require("dns")?;
    if !valid_text(name, 255) {
        return Err(ApiError::invalid("name"));
    }
    if dns
        .split(',')
        .any(|server| server.trim().parse::<Ipv4Addr>().is_err())
    {
        return Err(ApiError::invalid("dns"));
    }
    if ctx
        .account
        .networks
        .values()
        .any(|n| n.region == region && n.prefix == prefix)
    {
        return Err(ApiError::new(
            "the subnet is already used by another network",
        ));
    }
    let seq = ctx.seq();
    ctx.shared.create(ctx.account, params, |id| Network {
        id,
        name: name.trim().to_owned(),
        region: region.to_owned(),
        prefix,
        dns: dns.trim().to_owned(),
        seq,
    })
}

pub(crate) fn delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = params.require_region()?;
    let networks = &mut ctx.account.networks;
    let id = params
        .find_in(networks, "net_id", "network", Some(region))?
        .id
        .clone();
    let used = ctx
        .account
        .vms
        .values()
        .any(|vm| vm.net_id.as_deref() == Some(id.as_str()))
        || ctx
            .account
            .load_balancers
            .values()
            .any(|lb| lb.net_id == id);
    if used {
        return Err(ApiError::new("the network is in use"));
    }
    ctx.account.networks.remove(&id);
    done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_private_slash_24s() {
        assert_eq!(parse_subnet("192.168.30").as_deref(), Some("192.168.30"));
        assert_eq!(parse_subnet("10.0.5.0/24").as_deref(), Some("10.0.5"));
        assert_eq!(parse_subnet("8.8.8"), None);
        assert_eq!(parse_subnet("banana"), None);
    }
}
