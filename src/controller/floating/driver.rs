//! The LunaFloatingIP controller: allocate (or adopt) an address, attach it to the VM the spec
//! names, set its reverse DNS name, and release it on delete (detached first).
//!
//! Observed through one `floating list` per account, shared by every LunaFloatingIP; a write
//! (attach, detach, reverse DNS) makes the next reconcile read a list started after it. The
//! lost-answer recovery of an allocation: before `floating add` the status records the region's
//! unattached addresses; afterwards, a new unattached address of the region that no other
//! LunaFloatingIP holds is the one this object allocated.

use std::time::Duration;

use super::{act, cloud as floating_cloud, decide};
use crate::api::{
    common::{READY, is_condition_true},
    floating::{FloatingIPAtProvider, LunaFloatingIP},
    vm::LunaVM,
};
use crate::controller::prelude::*;
use crate::lunanode::types::FloatingIp;

/// The LunaVM an address is attached to by reference.
pub(crate) fn attached_vm(ip: &LunaFloatingIP) -> Vec<String> {
    managed::named(
        ip.spec
            .attach_to
            .as_ref()
            .and_then(|attach| attach.vm.vm_ref.as_ref()),
    )
}

/// The LunaVMs that take their address from `floatingIPRef`.
fn vm_floating_refs(vm: &LunaVM) -> Vec<String> {
    managed::named(vm.spec.placement.floating_ip_ref.as_ref())
}

impl LunaFloatingIP {
    /// The ID of the LunaVM `name` to attach to, or why not yet: a condition reason, its
    /// message, and when to look again (`None`: when the LunaVM changes).
    fn attach_target(
        &self,
        name: &str,
        cx: &Cx<'_, Self>,
    ) -> Result<String, (Reason, String, Option<Duration>)> {
        let namespace = self.namespace().unwrap_or_default();
        let wait = Some(Duration::from_secs(60));
        match managed::resolve::<LunaVM>(cx.ctx, &namespace, name) {
            Reference::Ready { id, object } if is_condition_true(object.conditions(), READY) => {
                Ok(id)
            }
            Reference::Ready { .. } => Err((
                Reason::WaitingForVM,
                format!("waiting for LunaVM {name} to be ready"),
                wait,
            )),
            Reference::Waiting(message) => Err((Reason::WaitingForVM, message, wait)),
            Reference::Missing(message) => Err((Reason::VMNotFound, message, None)),
        }
    }
}

impl External for LunaFloatingIP {
    type Observed = FloatingIp;
    type Plan = ();

    fn cache(&self, account: &Account) -> Arc<ListCache<FloatingIp>> {
        floating_cloud::addresses(account)
    }

    fn create_name(&self) -> String {
        self.spec.region.to_string()
    }

    fn is_create_of(&self, region: &str, observed: &FloatingIp) -> bool {
        observed.region == region && !observed.is_attached()
    }

    /// Addresses have no name: any unattached address of the region could be a lost create's,
    /// but none is "the same object" as a new one.
    fn has_natural_key(&self) -> bool {
        false
    }

    managed::no_plan!();

    async fn create(&self, _plan: &(), client: &Client) -> Result<String, lunanode::Error> {
        floating_cloud::allocate(client, &self.spec.region).await
    }

    fn report(&self, status: &mut Self::Status, observed: &FloatingIp) {
        status.address = non_empty(&observed.ip);
        status.at_provider = Some(FloatingIPAtProvider {
            region: non_empty(&observed.region),
            attached_id: observed
                .is_attached()
                .then(|| observed.attached_id.clone())
                .flatten(),
            attached_name: observed
                .is_attached()
                .then(|| observed.attached_name.clone())
                .flatten(),
            reverse_dns: non_empty(&observed.hostname),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        // The VM to attach to: only when the spec asks for one; a reference must be ready.
        let wanted = match &self.spec.attach_to {
            None => None,
            Some(attach) => match (&attach.vm.vm_ref, &attach.vm.vm_id) {
                (Some(reference), _) => match self.attach_target(&reference.name, cx) {
                    Ok(id) => Some(id),
                    Err((reason, message, retry)) => {
                        mark(status, self).not_ready(reason, &message);
                        return Ok(retry.map_or_else(Action::await_change, Action::requeue));
                    }
                },
                (None, Some(id)) => Some(id.clone()),
                (None, None) => Some(String::new()),
            },
        };
        let step = decide::next_step(
            wanted.as_deref(),
            self.spec.reverse_dns.as_deref(),
            observed,
        );
        act::act(self, status, observed, step, &self.cache(cx.account), cx).await
    }

    async fn holders(&self, ctx: &Context) -> Result<Vec<String>, Error> {
        let namespace = self.namespace().unwrap_or_default();
        managed::holders::<LunaVM>(ctx, &namespace, &self.name_any(), vm_floating_refs).await
    }

    async fn delete(&self, observed: &FloatingIp, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        if observed.is_attached() {
            if let Some(vm) = &observed.attached_id {
                match cx
                    .client()
                    .vm_floatingip_delete(vm, Some(&observed.ip), true)
                    .await
                {
                    Ok(()) => {}
                    Err(error) if error.is_not_found() => {}
                    Err(error) => return Err(cloud("detach floating ip", &cx.object, error)),
                }
                // Released on the next pass, once the list shows it detached.
                return Ok(());
            }
        }
        let result = cx
            .client()
            .floating_delete(&observed.region, &observed.ip)
            .await;
        cx.deleted(
            self,
            "release floating ip",
            result,
            format!("released {}", observed.ip),
        )
        .await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // The VM to attach to became ready (or changed), or a LunaVM that used the address by
        // reference let go of it.
        let attaching = managed::referrers::<LunaFloatingIP, LunaVM>(ctx, attached_vm);
        let using = managed::referenced::<LunaFloatingIP, LunaVM>(vm_floating_refs);
        managed::watches(controller, ctx, move |vm: LunaVM| {
            let mut objects = using(vm.clone());
            objects.extend(attaching(vm));
            objects
        })
    }
}
