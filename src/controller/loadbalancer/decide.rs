//! The pure decisions of the LunaLoadBalancer controller: the pool the spec asks for, the
//! member writes that reach it, when the pool must be read, what a `floatingIPRef` gives.

use std::{collections::HashMap, fmt};

use crate::{
    api::{
        floating::LunaFloatingIP,
        loadbalancer::{
            LbListener, LbMemberStatus, LoadBalancerAtProvider, LunaLoadBalancerSpec,
            LunaLoadBalancerStatus,
        },
    },
    controller::caches::non_empty,
    lunanode::types::LbInfo,
};

/// A pool member: address and port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// The address.
    pub ip: String,
    /// The port.
    pub port: u16,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ip, self.port)
    }
}

/// The pool the spec asks for now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredPool {
    /// The members that can be placed, sorted, without duplicates.
    pub backends: Vec<Backend>,
    /// Why the others cannot yet (a LunaVM missing, being deleted or without a private IP).
    pub waiting: Vec<String>,
}

/// The desired pool: `vm_ip` gives a LunaVM's private IP, or why there is none.
pub fn desired_pool(
    spec: &LunaLoadBalancerSpec,
    vm_ip: impl Fn(&str) -> Result<String, String>,
) -> DesiredPool {
    let mut pool = DesiredPool::default();
    for member in &spec.members {
        let port = member.port.unwrap_or(spec.port);
        let ip = match (&member.ip, &member.vm_ref) {
            (Some(ip), _) => ip.trim().to_owned(),
            (None, Some(vm)) => match vm_ip(&vm.name) {
                Ok(ip) => ip,
                Err(why) => {
                    pool.waiting.push(why);
                    continue;
                }
            },
            (None, None) => continue,
        };
        pool.backends.push(Backend { ip, port });
    }
    pool.backends.sort();
    pool.backends.dedup();
    pool
}

/// The members of a pool as backends, sorted (a member without a port has the balancer's).
fn backends_of(members: &[LbMemberStatus], default_port: u16) -> Vec<Backend> {
    let mut backends: Vec<Backend> = members
        .iter()
        .map(|member| Backend {
            ip: member.ip.clone(),
            port: member.port.unwrap_or(default_port),
        })
        .collect();
    backends.sort();
    backends
}

/// The writes that turn the pool `actual` into `desired`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberPlan {
    /// Members to add.
    pub add: Vec<Backend>,
    /// Members to remove (duplicates and members not in the spec).
    pub remove: Vec<LbMemberStatus>,
}

impl MemberPlan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// The difference between the pools, member by member: each desired backend keeps one actual
/// member with the same address and port; every other actual member goes.
pub fn member_plan(
    desired: &[Backend],
    actual: &[LbMemberStatus],
    default_port: u16,
) -> MemberPlan {
    let mut wanted: HashMap<&Backend, usize> = HashMap::new();
    for backend in desired {
        *wanted.entry(backend).or_default() += 1;
    }
    let mut remove = Vec::new();
    for member in actual {
        let backend = Backend {
            ip: member.ip.clone(),
            port: member.port.unwrap_or(default_port),
        };
        match wanted.get_mut(&backend) {
            Some(count) if *count > 0 => *count -= 1,
            _ => remove.push(member.clone()),
        }
    }
    let mut add = Vec::new();
    for backend in desired {
        if let Some(count) = wanted.get_mut(backend) {
            if *count > 0 {
                *count -= 1;
                add.push(backend.clone());
            }
        }
    }
    MemberPlan { add, remove }
}

/// Whether the floating IP `wanted` is associated: as `lb info` reports it, or, when the answer
/// does not say, as the operator last associated it.
pub fn floating_associated(wanted: &str, reported: Option<&str>, applied: Option<&str>) -> bool {
    match reported.filter(|ip| !ip.is_empty()) {
        Some(ip) => ip == wanted,
        None => applied == Some(wanted),
    }
}

/// Where a load balancer is in its life, from the `lb info` status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbState {
    /// Usable (also when the answer has no status).
    Active,
    /// Still being built: members cannot be changed yet.
    Provisioning,
    /// Broken on Luna Node's side.
    Failed,
}

/// Reads the `lb info` status (`creating`, `active`, or OpenStack's `PENDING_CREATE`, `ERROR`).
pub fn lb_state(status: &str) -> LbState {
    let status = status.trim().to_ascii_lowercase();
    if status.contains("error") || status.contains("fail") {
        LbState::Failed
    } else if status.contains("creat") || status.starts_with("pending") || status == "build" {
        LbState::Provisioning
    } else {
        LbState::Active
    }
}

/// Whether this reconcile must read the pool with `lb info`: nothing recorded yet, the load
/// balancer was still being built, the recorded pool or floating IP is not the wanted one, or
/// the last read is too old (`stale`, which also covers a forced read).
pub fn must_read(
    recorded: Option<&LoadBalancerAtProvider>,
    desired: &[Backend],
    floating: Option<&str>,
    applied_floating: Option<&str>,
    default_port: u16,
    stale: bool,
) -> bool {
    let Some(recorded) = recorded else {
        return true;
    };
    let Some(members) = &recorded.members else {
        return true;
    };
    stale
        || lb_state(recorded.status.as_deref().unwrap_or_default()) != LbState::Active
        || backends_of(members, default_port) != desired
        || floating.is_some_and(|wanted| {
            !floating_associated(wanted, recorded.floating_ip.as_deref(), applied_floating)
        })
}

/// The create-only fields on which an (adopted) load balancer differs from the spec.
pub fn create_only_mismatch(
    spec: &LunaLoadBalancerSpec,
    recorded: &LoadBalancerAtProvider,
) -> Vec<String> {
    let mut differences = Vec::new();
    let mut text = |field: &str, reported: Option<&String>, wanted: &str| {
        if let Some(reported) = reported.filter(|value| !value.is_empty()) {
            if !reported.eq_ignore_ascii_case(wanted) {
                differences.push(format!("{field} is {reported} (spec: {wanted})"));
            }
        }
    };
    let listener = &recorded.listener;
    text("method", listener.method.as_ref(), spec.method.as_str());
    text(
        "protocol",
        listener.protocol.as_ref(),
        spec.protocol.as_str(),
    );
    if let (Some(wanted), Some(reported)) = (&spec.placement.net_id, &recorded.net_id) {
        if !reported.is_empty() && reported != wanted {
            differences.push(format!("netId is {reported} (spec: {wanted})"));
        }
    }
    if let Some(port) = listener.port.filter(|port| *port != spec.port) {
        differences.push(format!("port is {port} (spec: {})", spec.port));
    }
    if let Some(limit) = listener
        .connection_limit
        .filter(|limit| *limit != spec.connection_limit)
    {
        differences.push(format!(
            "connectionLimit is {limit} (spec: {})",
            spec.connection_limit
        ));
    }
    differences
}

/// The floating IP the spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WantedFloating {
    /// None.
    Nothing,
    /// This address.
    Address(String),
    /// A LunaFloatingIP that cannot give its address yet, and why.
    Waiting(String),
}

impl WantedFloating {
    /// The address, when there is one.
    pub fn address(&self) -> Option<&str> {
        match self {
            Self::Address(address) => Some(address),
            _ => None,
        }
    }
}

/// What a `floatingIPRef` gives: the LunaFloatingIP `found` (by that name) and its address.
pub fn floating_from_ref(
    found: Option<&LunaFloatingIP>,
    namespace: &str,
    name: &str,
    region: &str,
) -> WantedFloating {
    let Some(floating) = found else {
        return WantedFloating::Waiting(format!(
            "LunaFloatingIP {namespace}/{name} does not exist"
        ));
    };
    if floating.metadata.deletion_timestamp.is_some() {
        return WantedFloating::Waiting(format!(
            "LunaFloatingIP {namespace}/{name} is being deleted"
        ));
    }
    if floating.spec.region != region {
        return WantedFloating::Waiting(format!(
            "LunaFloatingIP {namespace}/{name} is in region {}, the load balancer in {region}",
            floating.spec.region
        ));
    }
    match floating
        .status
        .as_ref()
        .and_then(|status| status.address.clone())
    {
        Some(address) => WantedFloating::Address(address),
        None => WantedFloating::Waiting(format!(
            "LunaFloatingIP {namespace}/{name} has no address yet"
        )),
    }
}

/// Records an `lb info` answer in the status (members sorted, so that an unchanged pool is an
/// unchanged status).
pub(super) fn record_info(status: &mut LunaLoadBalancerStatus, info: &LbInfo) {
    let at = status.at_provider.get_or_insert_with(Default::default);
    let lb = &info.lb;
    at.status = non_empty(&lb.status);
    at.listener = LbListener {
        method: non_empty(&lb.method),
        protocol: non_empty(&lb.protocol),
        port: lb.port,
        connection_limit: lb.connection_limit,
    };
    at.floating_ip = non_empty(&lb.ip);
    if !lb.net_id.is_empty() {
        at.net_id = Some(lb.net_id.clone());
    }
    let mut members: Vec<LbMemberStatus> = info
        .members
        .iter()
        .map(|member| LbMemberStatus {
            member_id: member.member_id.clone(),
            ip: member.ip.clone(),
            port: member.port,
        })
        .collect();
    members.sort_by(|a, b| (&a.ip, a.port, &a.member_id).cmp(&(&b.ip, b.port, &b.member_id)));
    at.member_count = u32::try_from(members.len()).ok();
    at.members = Some(members);
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::api::{
        floating::{LunaFloatingIPSpec, LunaFloatingIPStatus},
        loadbalancer::{LbMemberSpec, LbMethod},
    };

    fn backend(ip: &str, port: u16) -> Backend {
        Backend {
            ip: ip.into(),
            port,
        }
    }

    fn member(id: &str, ip: &str, port: u16) -> LbMemberStatus {
        LbMemberStatus {
            member_id: id.into(),
            ip: ip.into(),
            port: Some(port),
        }
    }

    /// A load balancer on port 80 of network `net` with `members`.
    pub(in crate::controller::loadbalancer) fn spec_with(
        members: Vec<LbMemberSpec>,
    ) -> LunaLoadBalancerSpec {
        let mut spec = LunaLoadBalancerSpec::new("net", 80);
        spec.members = members;
        spec
    }

    #[test]
    fn the_desired_pool_resolves_vms_and_defaults_the_port() {
        let spec = spec_with(vec![
            LbMemberSpec::vm("web-2", 8080),
            LbMemberSpec {
                port: None,
                ..LbMemberSpec::ip("10.0.0.9", 1)
            },
            LbMemberSpec::vm("gone", 8080),
            LbMemberSpec::ip("10.0.0.9", 80),
        ]);
        let pool = desired_pool(&spec, |name| match name {
            "web-2" => Ok("10.0.0.3".into()),
            other => Err(format!("LunaVM ns/{other} does not exist")),
        });
        assert_eq!(
            pool.backends,
            [backend("10.0.0.3", 8080), backend("10.0.0.9", 80)],
            "sorted, the port defaulted, the duplicate dropped"
        );
        assert_eq!(pool.waiting, ["LunaVM ns/gone does not exist"]);
    }

    #[test]
    fn the_plan_is_the_difference_only() {
        let desired = [backend("10.0.0.2", 80), backend("10.0.0.4", 80)];
        let actual = [
            member("1", "10.0.0.2", 80),
            member("2", "10.0.0.3", 80),
            member("3", "10.0.0.2", 80),
            member("4", "10.0.0.4", 81),
        ];
        let plan = member_plan(&desired, &actual, 80);
        assert_eq!(plan.add, [backend("10.0.0.4", 80)]);
        let removed: Vec<&str> = plan.remove.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(removed, ["2", "3", "4"], "foreign, duplicate, wrong port");
        let converged = member_plan(
            &desired,
            &[member("1", "10.0.0.2", 80), member("5", "10.0.0.4", 80)],
            80,
        );
        assert!(converged.is_empty());
        let portless = LbMemberStatus {
            port: None,
            ..member("6", "10.0.0.2", 0)
        };
        assert!(member_plan(&desired[..1], &[portless], 80).is_empty());
    }

    #[test]
    fn the_pool_is_read_only_when_needed() {
        let desired = [backend("10.0.0.2", 80)];
        let recorded = LoadBalancerAtProvider {
            status: Some("active".into()),
            floating_ip: Some("203.0.113.7".into()),
            members: Some(vec![member("1", "10.0.0.2", 80)]),
            ..LoadBalancerAtProvider::default()
        };
        let read =
            |recorded: Option<&LoadBalancerAtProvider>,
             desired: &[Backend],
             floating: Option<&str>,
             stale: bool| { must_read(recorded, desired, floating, None, 80, stale) };
        assert!(!read(Some(&recorded), &desired, Some("203.0.113.7"), false));
        assert!(!read(Some(&recorded), &desired, None, false));
        assert!(read(None, &desired, None, false), "nothing recorded");
        assert!(read(Some(&recorded), &desired, None, true), "stale");
        assert!(
            read(Some(&recorded), &[], None, false),
            "a member to remove"
        );
        assert!(
            read(
                Some(&recorded),
                &[backend("10.0.0.2", 80), backend("10.0.0.3", 80)],
                None,
                false
            ),
            "a member to add"
        );
        assert!(read(Some(&recorded), &desired, Some("203.0.113.8"), false));
        let building = LoadBalancerAtProvider {
            status: Some("creating".into()),
            ..recorded.clone()
        };
        assert!(read(Some(&building), &desired, None, false));
        let unread = LoadBalancerAtProvider {
            members: None,
            ..recorded
        };
        assert!(read(Some(&unread), &desired, None, false));
    }

    #[test]
    fn the_floating_ip_is_associated_as_reported_or_as_applied() {
        assert!(floating_associated("1.2.3.4", Some("1.2.3.4"), None));
        assert!(!floating_associated(
            "1.2.3.4",
            Some("5.6.7.8"),
            Some("1.2.3.4")
        ));
        assert!(floating_associated("1.2.3.4", Some(""), Some("1.2.3.4")));
        assert!(!floating_associated("1.2.3.4", None, None));
    }

    #[test]
    fn lb_states() {
        assert_eq!(lb_state("active"), LbState::Active);
        assert_eq!(lb_state(""), LbState::Active);
        assert_eq!(lb_state("creating"), LbState::Provisioning);
        assert_eq!(lb_state("PENDING_CREATE"), LbState::Provisioning);
        assert_eq!(lb_state("ERROR"), LbState::Failed);
    }

    #[test]
    fn create_only_differences_are_named() {
        let mut spec = spec_with(Vec::new());
        spec.method = LbMethod::SourceIp;
        spec.placement.net_id = Some("7".into());
        let same = LoadBalancerAtProvider {
            listener: LbListener {
                method: Some("source_ip".into()),
                protocol: Some("TCP".into()),
                port: Some(80),
                connection_limit: Some(-1),
            },
            net_id: Some("7".into()),
            ..LoadBalancerAtProvider::default()
        };
        assert!(create_only_mismatch(&spec, &same).is_empty());
        assert!(create_only_mismatch(&spec, &LoadBalancerAtProvider::default()).is_empty());
        let other = LoadBalancerAtProvider {
            listener: LbListener {
                method: Some("ROUND_ROBIN".into()),
                port: Some(443),
                ..same.listener.clone()
            },
            net_id: Some("8".into()),
            ..same
        };
        assert_eq!(
            create_only_mismatch(&spec, &other),
            [
                "method is ROUND_ROBIN (spec: SOURCE_IP)",
                "netId is 8 (spec: 7)",
                "port is 443 (spec: 80)"
            ]
        );
    }

    #[test]
    fn a_floating_ip_reference_gives_its_address_once_it_has_one() {
        let mut floating = LunaFloatingIP::new("ip", LunaFloatingIPSpec::new());
        assert_eq!(
            floating_from_ref(None, "ns", "ip", "toronto"),
            WantedFloating::Waiting("LunaFloatingIP ns/ip does not exist".into())
        );
        assert!(matches!(
            floating_from_ref(Some(&floating), "ns", "ip", "toronto"),
            WantedFloating::Waiting(why) if why.contains("no address yet")
        ));
        floating.status = Some(LunaFloatingIPStatus {
            address: Some("203.0.113.7".into()),
            ..LunaFloatingIPStatus::default()
        });
        assert_eq!(
            floating_from_ref(Some(&floating), "ns", "ip", "toronto"),
            WantedFloating::Address("203.0.113.7".into())
        );
        assert!(matches!(
            floating_from_ref(Some(&floating), "ns", "ip", "montreal"),
            WantedFloating::Waiting(why) if why.contains("region")
        ));
    }
}
