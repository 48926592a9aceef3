//! The LunaLoadBalancer controller: create (crash-safely, found again by name), adopt and
//! delete load balancers; keep their pool equal to `spec.members`; associate the floating IP.
//! The decisions (the pool to reach, the writes, when to read) are pure functions in [`super::decide`].
//!
//! What it costs in API calls:
//! - Observation goes through one shared `lb list` cache per account and region, like every
//!   kind: one list call per poll for all the load balancers of the region (every slow poll,
//!   60 s by default, while all are Ready).
//! - The pool is only in `lb info`, which is read per load balancer, and only when needed: while
//!   the load balancer is being built (every fast poll), when the desired pool (the spec, or the
//!   private IP of a member LunaVM) or floating IP differs from what the last read recorded in
//!   `status.atProvider`, once after each batch of the operator's own writes (to confirm them),
//!   when `lunanode.com/reconcile-requested-at` changes, and once per load balancer after the
//!   operator starts. Members added or removed outside the operator are found by a verification
//!   read every ten slow polls (10 min by default). In steady state that is one `lb info` per
//!   load balancer per ten minutes, plus the shared list (polled fast while a load balancer is
//!   not Ready, e.g. while a member VM is missing).
//! - Writes are the difference only: one `member_add` per missing member, one `member_remove`
//!   per member that should not be there, one `associate` when the floating IP is not the
//!   spec's. They follow a fresh `lb info` in the same reconcile, never the recorded pool.
//!
//! Decisions:
//! - The operator owns the pool: a member not in the spec (added by hand, or left from before
//!   an import) is removed.
//! - A `vmRef` member is the LunaVM's private IP (`status.atProvider.privateIp`), the address a
//!   load balancer reaches inside the private network. A LunaVM change wakes the load balancers
//!   that name it, so members follow their VMs: a recreated VM's new IP replaces the old one.
//!   Within one batch additions go first, so that a moved member keeps serving meanwhile.
//! - A LunaVM's deletion does not wait for the load balancer: once the VM is being deleted (or
//!   gone) its member is removed and the load balancer reports `MembersPending` until the spec
//!   drops it.
//! - A LunaNetwork named by `networkRef` cannot be deleted while a load balancer uses it (see
//!   [`lb_networks`], used by the LunaNetwork controller).
//! - `floatingIPRef` reads the LunaFloatingIP's `status.address`: from the LunaFloatingIP
//!   controller's cache when that controller runs, else with a GET of that one object.
//! - Luna Node has no call to detach a floating IP from a load balancer: removing it from the
//!   spec leaves it associated; a different address replaces it.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use kube::Api;

use super::cloud::{ObservedLb, list};
use super::decide::{
    DesiredPool, LbState, WantedFloating, create_only_mismatch, desired_pool, floating_associated,
    floating_from_ref, lb_state, member_plan, must_read, record_info,
};
use crate::api::{
    floating::LunaFloatingIP,
    loadbalancer::{LunaLoadBalancer, LunaLoadBalancerStatus},
    network::LunaNetwork,
    vm::LunaVM,
};
use crate::controller::prelude::*;
use crate::controller::vm::{VmIp, vm_ip};
use crate::lunanode::types::LbCreate;

/// The LunaNetworks a load balancer names (its deletion waits for the load balancer).
pub fn lb_networks(lb: &LunaLoadBalancer) -> Vec<String> {
    managed::named(lb.spec.placement.network_ref.as_ref())
}

/// The LunaVMs a load balancer has as members.
pub fn member_vms(lb: &LunaLoadBalancer) -> Vec<String> {
    lb.spec
        .members
        .iter()
        .filter_map(|member| member.vm_ref.as_ref().map(|vm| vm.name.clone()))
        .collect()
}

fn floating_refs(lb: &LunaLoadBalancer) -> Vec<String> {
    managed::named(lb.spec.placement.floating_ip_ref.as_ref())
}

/// When each load balancer of an account had its pool last read, by object uid: per-account
/// state ([`Account::state`]). Kept in memory only: after a restart every pool is read once.
#[derive(Debug, Default)]
struct PoolReads(Mutex<HashMap<String, Instant>>);

fn pool_reads<T>(account: &Account, f: impl FnOnce(&mut HashMap<String, Instant>) -> T) -> T {
    let reads = account.state::<PoolReads>();
    let mut reads = reads
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut reads)
}

/// How often a converged pool is read again, to find members changed outside the operator.
fn verify_interval(ctx: &Context) -> Duration {
    ctx.accounts.timing().slow_interval.saturating_mul(10)
}

impl LunaLoadBalancer {
    fn lb_name(&self) -> String {
        self.spec.name.clone().unwrap_or_else(|| self.name_any())
    }

    async fn wanted_floating(&self, cx: &Cx<'_, Self>) -> Result<WantedFloating, Error> {
        if let Some(address) = &self.spec.placement.floating_ip {
            return Ok(WantedFloating::Address(address.clone()));
        }
        let Some(reference) = &self.spec.placement.floating_ip_ref else {
            return Ok(WantedFloating::Nothing);
        };
        let namespace = self.namespace().unwrap_or_default();
        let name = reference.name.as_str();
        let found = if cx.ctx.registry.waker::<LunaFloatingIP>().is_some() {
            cx.ctx
                .registry
                .objects::<LunaFloatingIP>(&namespace)
                .into_iter()
                .find(|floating| floating.name_any() == name)
                .map(|floating| (*floating).clone())
        } else {
            Api::<LunaFloatingIP>::namespaced(cx.ctx.kube.clone(), &namespace)
                .get_opt(name)
                .await
                .map_err(Error::kube("read the LunaFloatingIP", cx.object.clone()))?
        };
        Ok(floating_from_ref(
            found.as_ref(),
            &namespace,
            name,
            &self.spec.region,
        ))
    }

    /// Ready once converged: the pool is the spec's, the floating IP is associated.
    fn report_converged(
        &self,
        status: &mut LunaLoadBalancerStatus,
        lb_id: &str,
        pool: &DesiredPool,
        floating: &WantedFloating,
    ) {
        let recorded = status.at_provider.clone().unwrap_or_default();
        let mismatch = create_only_mismatch(&self.spec, &recorded);
        if !pool.waiting.is_empty() {
            let message = format!(
                "{} member(s) wait: {}",
                pool.waiting.len(),
                pool.waiting.join("; ")
            );
            mark(status, self).not_ready(Reason::MembersPending, &message);
        } else if let WantedFloating::Waiting(why) = floating {
            mark(status, self).not_ready(Reason::FloatingIPPending, why);
        } else if !mismatch.is_empty() {
            let message = format!(
                "load balancer {lb_id} differs from the spec where Luna Node cannot change it: {}",
                mismatch.join(", ")
            );
            mark(status, self).not_ready(Reason::SpecMismatch, &message);
        } else {
            let message = format!(
                "load balancer {lb_id} is active with {} member(s)",
                pool.backends.len()
            );
            mark(status, self).ready(Reason::Available, &message);
        }
    }
}

impl External for LunaLoadBalancer {
    type Observed = ObservedLb;
    /// The network ID.
    type Plan = String;

    fn cache(&self, account: &Account) -> Arc<ListCache<ObservedLb>> {
        account.caches.keyed("lb list", &self.spec.region, list)
    }

    fn create_name(&self) -> String {
        self.lb_name()
    }

    fn is_create_of(&self, name: &str, observed: &ObservedLb) -> bool {
        observed.name == name && (observed.region.is_empty() || observed.region == self.spec.region)
    }

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<String, Blocked>, Error> {
        if let Some(net_id) = &self.spec.placement.net_id {
            return Ok(Ok(net_id.clone()));
        }
        let Some(reference) = &self.spec.placement.network_ref else {
            return Ok(Err(Blocked::new(
                Reason::NetworkRequired,
                "set spec.networkRef or spec.netId: a load balancer is created in a network",
            )));
        };
        let namespace = self.namespace().unwrap_or_default();
        Ok(
            match managed::resolve::<LunaNetwork>(cx.ctx, &namespace, &reference.name) {
                Reference::Ready { object, .. } if object.spec.region != self.spec.region => {
                    Err(Blocked::new(
                        Reason::NetworkInOtherRegion,
                        format!(
                            "LunaNetwork {namespace}/{} is in region {}, the load balancer in {}",
                            reference.name, object.spec.region, self.spec.region
                        ),
                    ))
                }
                Reference::Ready { id, .. } => Ok(id),
                Reference::Waiting(why) => Err(Blocked::waiting(Reason::NetworkNotReady, why)),
                Reference::Missing(why) => Err(Blocked::waiting(Reason::NetworkNotFound, why)),
            },
        )
    }

    async fn create(&self, net_id: &String, client: &Client) -> Result<String, lunanode::Error> {
        let spec = &self.spec;
        let name = self.lb_name();
        let request = LbCreate {
            region: spec.region.to_string(),
            net_id: net_id.clone(),
            name: name.clone(),
            method: spec.method.as_str().to_owned(),
            protocol: spec.protocol.as_str().to_owned(),
            connection_limit: spec.connection_limit,
            port: spec.port,
        };
        let created = client.lb_create(&request).await?;
        let list = || client.lb_list(&spec.region, None);
        managed::create::answered_or_listed(created, "lb/create", list, |lb| {
            (lb.name == name).then(|| lb.id.clone())
        })
        .await
    }

    fn created(&self, status: &mut Self::Status, _plan: Option<&String>, account: &Account) {
        // A new cloud object: nothing read of it yet.
        status.at_provider = None;
        status.applied_floating_ip = None;
        let uid = self.uid().unwrap_or_default();
        pool_reads(account, |reads| reads.remove(&uid));
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedLb) {
        let at = status.at_provider.get_or_insert_with(Default::default);
        at.name = non_empty(&observed.name);
        at.region = non_empty(&observed.region);
        if !observed.net_id.is_empty() {
            at.net_id = Some(observed.net_id.clone());
        }
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let uid = self.uid().unwrap_or_default();
        let namespace = self.namespace().unwrap_or_default();
        let lb_id = observed.id.as_str();
        let timing = cx.ctx.accounts.timing();
        let verify = verify_interval(cx.ctx);

        let pool = desired_pool(&self.spec, |name| {
            vm_ip(cx.ctx, &namespace, name, VmIp::Private)
        });
        let floating = self.wanted_floating(cx).await?;
        let requested = self.reconcile_requested_at().is_some_and(|requested| {
            status.managed.last_reconcile_request.as_deref() != Some(requested)
        });
        let stale = requested
            || pool_reads(cx.account, |reads| {
                reads.get(&uid).is_none_or(|read| read.elapsed() >= verify)
            });

        if must_read(
            status.at_provider.as_ref(),
            &pool.backends,
            floating.address(),
            status.applied_floating_ip.as_deref(),
            self.spec.port,
            stale,
        ) {
            let info = match cx.client().lb_info(&self.spec.region, lb_id).await {
                Ok(info) => info,
                Err(error) if error.is_not_found() => {
                    // Deleted since the list: the next reconcile observes a newer list.
                    self.cache(cx.account).wrote(&uid);
                    return Ok(Action::requeue(Duration::from_secs(1)));
                }
                Err(error) => return Err(cloud("read the load balancer", &cx.object, error)),
            };
            pool_reads(cx.account, |reads| {
                reads.insert(uid.clone(), Instant::now())
            });
            record_info(status, &info);
        }

        let recorded = status.at_provider.clone().unwrap_or_default();
        let state = recorded.status.as_deref().unwrap_or_default();
        match lb_state(state) {
            LbState::Active => {}
            LbState::Provisioning => {
                let message = format!("load balancer {lb_id} is {state}");
                mark(status, self).not_ready(Reason::Provisioning, &message);
                return Ok(Action::requeue(timing.fast_interval));
            }
            LbState::Failed => {
                let message = format!("load balancer {lb_id} is {state} on Luna Node");
                mark(status, self).not_ready(Reason::LoadBalancerFailed, &message);
                return Ok(Action::requeue(verify));
            }
        }

        let members = recorded.members.clone().unwrap_or_default();
        let plan = member_plan(&pool.backends, &members, self.spec.port);
        let associate = floating.address().filter(|wanted| {
            !floating_associated(
                wanted,
                recorded.floating_ip.as_deref(),
                status.applied_floating_ip.as_deref(),
            )
        });
        if !plan.is_empty() || associate.is_some() {
            // Whatever happens, the next reconcile reads the pool again.
            pool_reads(cx.account, |reads| reads.remove(&uid));
            return self.write(status, lb_id, &plan, associate, cx).await;
        }

        self.report_converged(status, lb_id, &pool, &floating);
        if pool.waiting.is_empty() && !matches!(floating, WantedFloating::Waiting(_)) {
            Ok(Action::requeue(verify))
        } else {
            // The referenced objects' changes wake this object; look again soon anyway, in case
            // the wake-up came before the referenced controller's cache had the change.
            Ok(Action::requeue(timing.fast_interval))
        }
    }

    async fn delete(&self, observed: &ObservedLb, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx.client().lb_delete(&self.spec.region, &observed.id);
        cx.remove(self, "delete the load balancer", &observed.id, call)
            .await
    }

    fn forget(&self, account: &Account) {
        let uid = self.uid().unwrap_or_default();
        pool_reads(account, |reads| reads.remove(&uid));
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // Members follow their LunaVMs; a network or floating IP that gets its ID or address
        // unblocks the load balancers waiting for it.
        controller
            .follows::<LunaVM>(ctx, member_vms)
            .follows::<LunaNetwork>(ctx, lb_networks)
            .follows::<LunaFloatingIP>(ctx, floating_refs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::decide::tests::spec_with;
    use super::*;
    use crate::api::loadbalancer::LbMemberSpec;

    #[test]
    fn references_are_listed_for_the_watches() {
        let mut lb = LunaLoadBalancer::new(
            "front",
            spec_with(vec![
                LbMemberSpec::vm("web-1", 80),
                LbMemberSpec::ip("10.0.0.9", 80),
            ]),
        );
        assert_eq!(member_vms(&lb), ["web-1"]);
        assert_eq!(lb_networks(&lb), ["net"]);
        assert!(floating_refs(&lb).is_empty());
        lb.spec.placement.floating_ip_ref =
            Some(crate::api::common::LocalObjectReference::new("ip"));
        assert_eq!(floating_refs(&lb), ["ip"]);
        assert_eq!(lb.lb_name(), "front");
    }
}
