//! The LunaFloatingIP controller: allocate (or adopt) an address, attach it to the VM the spec
//! names, set its reverse DNS name, and release it on delete (detached first).
//!
//! Observed through one `floating list` per account, shared by every LunaFloatingIP; a write
//! (attach, detach, reverse DNS) makes the next reconcile read a list started after it. The
//! lost-answer recovery of an allocation: before `floating add` the status records the region's
//! unattached addresses; afterwards, a new unattached address of the region that no other
//! LunaFloatingIP holds is the one this object allocated.

use std::{sync::Arc, time::Duration};

use futures::FutureExt;
use kube::{
    ResourceExt,
    runtime::{Controller, controller::Action, watcher},
};

use super::{
    Context,
    accounts::Account,
    error::Error,
    list_cache::ListCache,
    managed::{self, Blocked, Cx, External, Reconciler, Reference, cloud, set},
};
use crate::{
    api::{
        common::{ManagedResource, READY, SYNCED, is_condition_true},
        floating::{FloatingIPAtProvider, LunaFloatingIP},
        vm::LunaVM,
    },
    lunanode::{self, types::FloatingIp},
};

fn list(
    client: lunanode::Client,
    _key: String,
) -> futures::future::BoxFuture<'static, Result<Vec<(String, FloatingIp)>, lunanode::Error>> {
    async move {
        Ok(client
            .floating_list()
            .await?
            .into_iter()
            .map(|ip| (ip.id.clone(), ip))
            .collect())
    }
    .boxed()
}

/// The LunaVM an address is attached to by reference.
pub(super) fn attached_vm(ip: &LunaFloatingIP) -> Vec<String> {
    ip.spec
        .attach_to
        .as_ref()
        .and_then(|attach| attach.vm.vm_ref.as_ref())
        .map(|reference| vec![reference.name.clone()])
        .unwrap_or_default()
}

/// The LunaVMs that take their address from `floatingIPRef`.
fn vm_floating_refs(vm: &LunaVM) -> Vec<String> {
    vm.spec
        .placement
        .floating_ip_ref
        .iter()
        .map(|reference| reference.name.clone())
        .collect()
}

/// A reverse DNS name in the form to compare: lowercase, without the final dot.
fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl Reconciler for LunaFloatingIP {
    const KIND: &'static str = "LunaFloatingIP";

    managed::external_steps!();

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // The VM to attach to became ready (or changed), or a LunaVM that used the address by
        // reference let go of it.
        let attaching = managed::referrers::<LunaFloatingIP, LunaVM>(ctx, attached_vm);
        let using = managed::referenced::<LunaFloatingIP, LunaVM>(vm_floating_refs);
        controller.watches(
            managed::scoped::<LunaVM>(ctx),
            watcher::Config::default().any_semantic(),
            move |vm: LunaVM| {
                let mut objects = using(vm.clone());
                objects.extend(attaching(vm));
                objects
            },
        )
    }
}

impl External for LunaFloatingIP {
    type Observed = FloatingIp;
    type Plan = ();

    fn cache(&self, account: &Account) -> Arc<ListCache<FloatingIp>> {
        account.caches.keyed("floating list", "", list)
    }

    fn create_name(&self) -> String {
        self.spec.region.clone()
    }

    fn is_create_of(&self, region: &str, observed: &FloatingIp) -> bool {
        observed.region == region && !observed.is_attached()
    }

    /// Addresses have no name: any unattached address of the region could be a lost create's,
    /// but none is "the same object" as a new one.
    fn has_natural_key(&self) -> bool {
        false
    }

    async fn plan(
        &self,
        _account: &Arc<Account>,
        _cx: &Cx<'_, Self>,
    ) -> Result<Result<(), Blocked>, Error> {
        Ok(Ok(()))
    }

    async fn create(&self, _plan: &(), account: &Arc<Account>) -> Result<String, lunanode::Error> {
        let added = account.client.floating_add(&self.spec.region).await?;
        if let Some(id) = added.id {
            return Ok(id);
        }
        // The answer named only the address: its ID is in the list.
        account
            .client
            .floating_list()
            .await?
            .into_iter()
            .find(|ip| ip.ip == added.ip)
            .map(|ip| ip.id)
            .ok_or_else(|| lunanode::Error::Decode {
                message: "floating/add answered with an address the list does not show".into(),
                snippet: String::new(),
            })
    }

    fn report(&self, status: &mut Self::Status, observed: &FloatingIp) {
        let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
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

    async fn sync(
        &self,
        status: &mut Self::Status,
        observed: &FloatingIp,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<Action, Error> {
        let uid = self.uid().unwrap_or_default();
        let cache = self.cache(account);
        let attached = observed
            .is_attached()
            .then(|| observed.attached_id.clone())
            .flatten();

        // Attachment: only when the spec asks for one (or removes one it had asked for).
        if let Some(attach) = &self.spec.attach_to {
            let wanted = match (&attach.vm.vm_ref, &attach.vm.vm_id) {
                (Some(reference), _) => {
                    let namespace = self.namespace().unwrap_or_default();
                    match managed::resolve::<LunaVM>(cx.ctx, &namespace, &reference.name) {
                        Reference::Ready { id, object } => {
                            if !is_condition_true(object.conditions(), READY) {
                                let message =
                                    format!("waiting for LunaVM {} to be ready", reference.name);
                                set(status, self, READY, false, "WaitingForVM", &message);
                                return Ok(Action::requeue(Duration::from_secs(60)));
                            }
                            id
                        }
                        Reference::Waiting(message) => {
                            set(status, self, READY, false, "WaitingForVM", &message);
                            return Ok(Action::requeue(Duration::from_secs(60)));
                        }
                        Reference::Missing(message) => {
                            set(status, self, READY, false, "VMNotFound", &message);
                            return Ok(Action::await_change());
                        }
                    }
                }
                (None, Some(id)) => id.clone(),
                (None, None) => String::new(),
            };
            match attached.as_deref() {
                Some(current) if current == wanted => {}
                Some(current) => {
                    // On the wrong VM: detach (the address stays on the account), then attach.
                    account
                        .client
                        .vm_floatingip_delete(current, Some(&observed.ip), true)
                        .await
                        .map_err(|source| cloud("detach floating ip", &cx.object, source))?;
                    cache.wrote(&uid);
                    cx.event(
                        self,
                        false,
                        "Detached",
                        "Detach",
                        format!("detached {} from vm {current}", observed.ip),
                    )
                    .await;
                    set(
                        status,
                        self,
                        READY,
                        false,
                        "Attaching",
                        "moving to another vm",
                    );
                    return Ok(Action::requeue(Duration::from_secs(1)));
                }
                None => {
                    let attached = account
                        .client
                        .vm_floatingip_add(
                            &wanted,
                            Some(&observed.ip),
                            attach.private_ip.as_deref(),
                        )
                        .await;
                    match attached {
                        Ok(_) => {
                            cache.wrote(&uid);
                            cx.event(
                                self,
                                false,
                                "Attached",
                                "Attach",
                                format!("attached {} to vm {wanted}", observed.ip),
                            )
                            .await;
                            set(
                                status,
                                self,
                                READY,
                                false,
                                "Attaching",
                                "attached; confirming",
                            );
                            return Ok(Action::requeue(Duration::from_secs(1)));
                        }
                        Err(error) if !error.is_retryable() && !error.may_have_taken_effect() => {
                            let message = format!("unable to attach to vm {wanted}: {error}");
                            set(status, self, READY, false, "AttachFailed", &message);
                            set(status, self, SYNCED, false, "AttachFailed", &message);
                            return Ok(Action::requeue(Duration::from_secs(300)));
                        }
                        Err(error) => {
                            cache.wrote(&uid);
                            return Err(cloud("attach floating ip", &cx.object, error));
                        }
                    }
                }
            }
        }

        // Reverse DNS.
        if let Some(name) = &self.spec.reverse_dns {
            if normalize(&observed.hostname) != normalize(name) {
                account
                    .client
                    .dns_set(&observed.ip, name, attached.as_deref())
                    .await
                    .map_err(|source| cloud("set reverse dns", &cx.object, source))?;
                cache.wrote(&uid);
                status.applied_reverse_dns = Some(name.clone());
                cx.event(
                    self,
                    false,
                    "ReverseDNSSet",
                    "Update",
                    format!("reverse dns of {} set to {name}", observed.ip),
                )
                .await;
                set(
                    status,
                    self,
                    READY,
                    false,
                    "Updating",
                    "reverse dns set; confirming",
                );
                return Ok(Action::requeue(Duration::from_secs(1)));
            }
        }

        let message = match &attached {
            Some(vm) => format!("{} is attached to vm {vm}", observed.ip),
            None => format!("{} is allocated", observed.ip),
        };
        set(status, self, READY, true, "Available", &message);
        Ok(Action::await_change())
    }

    async fn holders(&self, ctx: &Context) -> Result<Vec<String>, Error> {
        let namespace = self.namespace().unwrap_or_default();
        managed::holders::<LunaVM>(ctx, &namespace, &self.name_any(), vm_floating_refs).await
    }

    async fn delete(
        &self,
        observed: &FloatingIp,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<(), Error> {
        if observed.is_attached() {
            if let Some(vm) = &observed.attached_id {
                match account
                    .client
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
        match account
            .client
            .floating_delete(&observed.region, &observed.ip)
            .await
        {
            Ok(()) => {
                cx.event(
                    self,
                    false,
                    "Deleted",
                    "Delete",
                    format!("released {}", observed.ip),
                )
                .await;
                Ok(())
            }
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(cloud("release floating ip", &cx.object, error)),
        }
    }
}
