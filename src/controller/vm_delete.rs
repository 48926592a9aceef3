//! LunaVM cleanup (the finalizer): delete the VM unless the policy keeps it, and let the
//! finalizer go only when a fresh list no longer shows it.

use kube::{ResourceExt, runtime::controller::Action};

use super::{
    error::Error,
    managed::{self, Cx},
    report::{event, key},
    vm::{cloud, credentials_name},
};
use crate::api::{
    common::{self, DeletionPolicy, ManagementPolicy},
    vm::LunaVM,
};

pub(super) async fn cleanup(vm: &LunaVM, cx: &Cx<'_, LunaVM>) -> Result<Action, Error> {
    let ctx = cx.ctx;
    let object = key(vm);
    let uid = vm.uid().unwrap_or_default();
    if vm.spec.deletion_policy == DeletionPolicy::Orphan
        || vm.spec.management_policy == ManagementPolicy::ObserveOnly
    {
        return Ok(Action::await_change());
    }
    if common::is_paused(vm) {
        // Paused means no writes at all: the finalizer stays until the pause ends.
        return Err(Error::Paused { object });
    }
    let namespace = vm.namespace().unwrap_or_default();
    let status = vm.status.clone().unwrap_or_default();
    if status.id.is_none() && status.pending_create.is_none() {
        return Ok(Action::await_change());
    }
    managed::wait_for_holders(vm, &status, cx, super::vm::holders(vm, ctx).await?).await?;
    let account = ctx
        .accounts
        .get_for_cleanup(&namespace, &credentials_name(vm))
        .await
        .map_err(|source| Error::Credentials {
            object: object.clone(),
            source,
        })?;
    let vms = &account.caches.vms;
    let snapshot = vms
        .get(ctx.accounts.timing().min_interval)
        .await
        .map_err(|source| cloud("list vms", &object, source))?;
    let id = match status.id.clone() {
        Some(id) => Some(id),
        // A create that may have happened: find it by name so it does not leak.
        None => status.pending_create.as_ref().and_then(|pending| {
            snapshot
                .entries
                .values()
                .find(|candidate| {
                    candidate.hostname.eq_ignore_ascii_case(&pending.hostname)
                        && !pending.preexisting.contains(&candidate.id)
                })
                .map(|candidate| candidate.id.clone())
        }),
    };
    let Some(id) = id else {
        vms.untrack(&uid);
        return Ok(Action::await_change());
    };
    if !snapshot.entries.contains_key(&id) {
        vms.untrack(&uid);
        return Ok(Action::await_change());
    }
    // Deleting a VM releases its floating IPs from the account: detach the one the manifest
    // brought (`floatingIP`, or a LunaFloatingIP's by `floatingIPRef`) so that it stays.
    if let Some(ip) = &status.applied_floating_ip {
        match account
            .client
            .vm_floatingip_delete(&id, Some(ip), true)
            .await
        {
            Ok(()) => {}
            // Refused: not attached (any more); the delete goes ahead.
            Err(error) if !error.is_retryable() && !error.may_have_taken_effect() => {
                tracing::debug!(object = %object, %error, "floating ip not detached before delete");
            }
            Err(error) => return Err(cloud("detach floating ip", &object, error)),
        }
    }
    match account.client.vm_delete(&id).await {
        Ok(()) => {
            event(
                &ctx.recorder,
                vm,
                false,
                "Deleted",
                "Delete",
                format!("deleted vm {id}"),
            )
            .await;
        }
        Err(error) if error.is_not_found() => {}
        Err(error) => return Err(cloud("delete vm", &object, error)),
    }
    vms.track(&uid, true);
    // The finalizer goes only when a later list confirms the VM is gone.
    Err(Error::DeletionInProgress { object, id })
}
