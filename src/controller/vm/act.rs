//! LunaVM: carrying out one step on an existing VM (one cloud write, with an Event), and the
//! connection Secret.

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::{
    cloud as vm_cloud,
    decide::{ObservedVm, Step},
};
use crate::controller::reason::Reason;
use crate::controller::{
    Context,
    accounts::Account,
    error::Error,
    managed::{cloud, mark},
    report::{event, key, warn},
    secret,
};
use crate::{
    api::{
        common::SYNCED,
        vm::{LunaVM, LunaVMStatus, ResizeRequest},
    },
    lunanode,
};

pub(super) async fn act(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    account: &Account,
    ctx: &Context,
    observed: &ObservedVm,
    step: &Step,
) -> Result<(), Error> {
    let object = key(vm);
    let client = &account.client;
    let id = observed.id.as_str();
    let mut resize_to = None;
    // Each step: its call's result, then the action, Event reason and note of a success.
    let (result, action, reason, note): (_, &'static str, &str, String) = match step {
        Step::Converged | Step::Wait => return Ok(()),
        Step::ForgetPrivateIp { ip } => {
            record_address(&mut status.unowned_additional_private_ips, ip, false);
            return Ok(());
        }
        Step::ReimageNotAllowed => {
            mark(status, vm).not_synced(Reason::ReimageNotAllowed, "spec.image differs from the installed image; set spec.allowReimage: true to reinstall the VM (its disk is erased)");
            return Ok(());
        }
        Step::Resize { plan } => {
            let target = vm_cloud::resolve_plan(account, plan)
                .await
                .map_err(|source| cloud("list plans", &object, source))?;
            if target.as_deref() == Some(observed.plan_id.as_str()) {
                // Already on that plan (named another way, or set back after a resize that
                // did not take effect): nothing to send.
                status.applied_plan = Some(plan.clone());
                status.applied_plan_id = target;
                status.resize = None;
                return Ok(());
            }
            resize_to = target;
            let result = client.vm_resize(id, plan).await;
            if let Err(error) = &result
                && !error.is_retryable()
            {
                let message = error.to_string();
                mark(status, vm).not_synced(Reason::ResizeFailed, &message);
                status.applied_plan = Some(plan.clone());
                status.resize = None;
                warn(&ctx.recorder, vm, Reason::ResizeFailed, "Resize", message).await;
                return Ok(());
            }
            let note = format!("resized vm {id} to plan {plan}");
            (result, "resize vm", "Resized", note)
        }
        Step::Reimage { image } => {
            let usable =
                crate::controller::image::cloud::usable_image(account, image, &vm.spec.region)
                    .await
                    .map_err(|source| cloud("list images", &object, source))?;
            let image_id = match usable {
                Ok(image_id) => image_id,
                Err(blocked) => {
                    mark(status, vm).not_synced(blocked.reason, &blocked.message);
                    return Ok(());
                }
            };
            let note = format!("reinstalled vm {id} from image {image}");
            let result = client.vm_reimage(id, &image_id).await;
            (result, "reimage vm", "Reimaged", note)
        }
        Step::Rename { hostname } => {
            let note = format!("renamed vm {id} to {hostname}");
            (
                client.vm_rename(id, hostname).await,
                "rename vm",
                "Renamed",
                note,
            )
        }
        Step::Start => power(client, id, "start").await,
        Step::Stop => power(client, id, "stop").await,
        Step::Shelve => power(client, id, "shelve").await,
        Step::Unshelve => power(client, id, "unshelve").await,
        Step::AttachFloatingIp { ip } => {
            let result = client.vm_floatingip_add(id, Some(ip), None).await.map(drop);
            let note = format!("attached {ip} to vm {id}");
            (result, "attach floating ip", "FloatingIPAttached", note)
        }
        Step::DetachFloatingIp { ip } => {
            let result = client.vm_floatingip_delete(id, Some(ip), true).await;
            let note = format!("detached {ip} from vm {id}; it stays on the account");
            (result, "detach floating ip", "FloatingIPDetached", note)
        }
        Step::AddSecurityGroup { id: group } | Step::RemoveSecurityGroup { id: group } => {
            let adding = matches!(step, Step::AddSecurityGroup { .. });
            let result = if adding {
                client.vm_securitygroup_add(id, group).await
            } else {
                client.vm_securitygroup_remove(id, group).await
            };
            if let Err(error) = &result
                && error.is_refused()
            {
                // Not sent again until the spec's groups change: recorded as applied.
                let message = format!("security group {group} of vm {id}: {error}");
                mark(status, vm).not_synced(Reason::UpdateFailed, &message);
                apply_group(status, group, adding);
                warn(&ctx.recorder, vm, Reason::UpdateFailed, "Update", message).await;
                return Ok(());
            }
            let (reason, note) = if adding {
                (
                    "SecurityGroupAdded",
                    format!("put vm {id} in security group {group}"),
                )
            } else {
                (
                    "SecurityGroupRemoved",
                    format!("took vm {id} out of security group {group}"),
                )
            };
            (result, "change security groups", reason, note)
        }
        Step::AddPrivateIp { ip } | Step::RemovePrivateIp { ip } => {
            let adding = matches!(step, Step::AddPrivateIp { .. });
            let mut result = if adding {
                client.vm_ip_add(id, Some(ip)).await.map(drop)
            } else {
                client.vm_ip_delete(id, ip).await
            };
            if let Err(error) = &result {
                // The VM's addresses tell what happened: a lost answer (the call may have been
                // made), or a refusal because the address is there already, or gone already.
                let present = client
                    .vm_iplist(id)
                    .await
                    .ok()
                    .map(|listed| listed.iter().any(|address| address.ip.trim() == ip));
                match (adding, present, error.is_refused()) {
                    // Our own add, whose answer was lost; or a removal done already.
                    (true, Some(true), false) | (false, Some(false), _) => result = Ok(()),
                    // On the VM already, and not by a call of ours that we know of (one whose
                    // answer a crash lost looks the same): not the operator's, never removed.
                    (true, Some(true), true) => {
                        record_address(&mut status.unowned_additional_private_ips, ip, true);
                        let note = format!(
                            "private address {ip} is on vm {id} already; the operator did not add it and will not remove it"
                        );
                        event(&ctx.recorder, vm, false, "PrivateIPFound", "Update", note).await;
                        return Ok(());
                    }
                    (true, _, true) => {
                        // Not sent again until it leaves the spec.
                        let message = format!("private address {ip} of vm {id}: {error}");
                        mark(status, vm).not_synced(Reason::UpdateFailed, &message);
                        record_address(&mut status.unowned_additional_private_ips, ip, true);
                        warn(&ctx.recorder, vm, Reason::UpdateFailed, "Update", message).await;
                        return Ok(());
                    }
                    (false, Some(true), true) => {
                        // Not sent again: forgotten, left on the VM.
                        let message = format!("private address {ip} of vm {id}: {error}");
                        mark(status, vm).not_synced(Reason::UpdateFailed, &message);
                        record_address(&mut status.applied_additional_private_ips, ip, false);
                        warn(&ctx.recorder, vm, Reason::UpdateFailed, "Update", message).await;
                        return Ok(());
                    }
                    _ => {}
                }
            }
            let (reason, note) = if adding {
                (
                    "PrivateIPAdded",
                    format!("added private address {ip} to vm {id}"),
                )
            } else {
                (
                    "PrivateIPRemoved",
                    format!("removed private address {ip} from vm {id}"),
                )
            };
            (result, "change private addresses", reason, note)
        }
    };
    result.map_err(|source| cloud(action, &object, source))?;
    match step {
        Step::Resize { plan } => {
            status.applied_plan = Some(plan.clone());
            status.applied_plan_id = None;
            // Confirmed (or found not applied) by the plan the VM then shows.
            status.resize = resize_to.map(|plan_id| ResizeRequest {
                plan_id,
                from_plan_id: observed.plan_id.clone(),
                requested_at: Timestamp::now().as_second(),
            });
        }
        Step::Reimage { image } => status.applied_image = Some(image.clone()),
        Step::AttachFloatingIp { ip } => status.applied_floating_ip = Some(ip.clone()),
        Step::DetachFloatingIp { .. } => status.applied_floating_ip = None,
        Step::AddSecurityGroup { id } => apply_group(status, id, true),
        Step::RemoveSecurityGroup { id } => apply_group(status, id, false),
        Step::AddPrivateIp { ip } => {
            record_address(&mut status.applied_additional_private_ips, ip, true)
        }
        Step::RemovePrivateIp { ip } => {
            record_address(&mut status.applied_additional_private_ips, ip, false)
        }
        _ => {}
    }
    tracing::info!(action, ?step, observed = %observed.status, task = %observed.task, "cloud write");
    let uid = vm.uid().unwrap_or_default();
    let vms = vm_cloud::vms(account);
    vms.track(&uid, true);
    vms.want_detail(&uid, true);
    event(&ctx.recorder, vm, false, reason, action, note).await;
    Ok(())
}

/// Records that the VM is (`added`) or is not in group `id`.
fn apply_group(status: &mut LunaVMStatus, id: &str, added: bool) {
    let groups = status.applied_security_groups.get_or_insert_with(Vec::new);
    groups.retain(|group| group != id);
    if added {
        groups.push(id.to_owned());
        groups.sort();
    }
}

/// A power change: its call's result, action, Event reason and note.
async fn power(
    client: &lunanode::Client,
    id: &str,
    verb: &'static str,
) -> (
    Result<(), lunanode::Error>,
    &'static str,
    &'static str,
    String,
) {
    let (result, reason) = match verb {
        "start" => (client.vm_start(id).await, "Started"),
        "stop" => (client.vm_stop(id).await, "Stopped"),
        "shelve" => (client.vm_shelve(id).await, "Shelved"),
        _ => (client.vm_unshelve(id).await, "Unshelved"),
    };
    (
        result,
        "change power state",
        reason,
        format!("{verb} vm {id}"),
    )
}

/// Writes the connection Secret when the VM's IP differs from the one last written. A Secret of
/// that name that this LunaVM does not own is never touched: `Synced=False`
/// `ConnectionSecretConflict` and a Warning Event say so, and the next reconcile (a change of the
/// object) looks again. `status.connectionSecretIP` is set only when the Secret holds the data.
pub(super) async fn write_connection_secret(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    account: &Account,
    ctx: &Context,
    observed: &ObservedVm,
) -> Result<(), Error> {
    let Some(target) = &vm.spec.write_connection_secret_to_ref else {
        return Ok(());
    };
    if observed.ip.is_empty()
        || status.connection_secret_ip.as_deref() == Some(observed.ip.as_str())
    {
        return Ok(());
    }
    let object = key(vm);
    let kube_error = Error::kube("write connection secret", object.clone());
    // Look before asking the cloud for the login details: a conflict costs no API call.
    if let secret::Target::NotOwned(foreign) = secret::inspect(&ctx.kube, vm, &target.name)
        .await
        .map_err(&kube_error)?
    {
        return connection_secret_conflict(vm, status, ctx, &target.name, &foreign).await;
    }
    let details = vm_cloud::connection_details(&account.client, &observed.id)
        .await
        .map_err(|source| cloud("read vm login details", &object, source))?;
    match secret::write(&ctx.kube, vm, &target.name, details)
        .await
        .map_err(&kube_error)?
    {
        secret::Written::NotOwned(foreign) => {
            connection_secret_conflict(vm, status, ctx, &target.name, &foreign).await
        }
        written => {
            tracing::debug!(secret = %target.name, ?written, "connection secret");
            status.connection_secret_ip = Some(observed.ip.clone());
            Ok(())
        }
    }
}

/// Reports a connection Secret that is not this LunaVM's: `Synced=False` with reason
/// `ConnectionSecretConflict`, and a Warning Event the first time. A condition the stored status
/// already shows keeps its `lastTransitionTime`, so that repeating the report writes nothing
/// (and triggers no reconcile).
async fn connection_secret_conflict(
    vm: &LunaVM,
    status: &mut LunaVMStatus,
    ctx: &Context,
    name: &str,
    foreign: &secret::Foreign,
) -> Result<(), Error> {
    const REASON: Reason = Reason::ConnectionSecretConflict;
    let message = format!(
        "Secret {}/{name} exists and is not owned by this LunaVM ({foreign}); choose another name in spec.writeConnectionSecretToRef or delete that Secret",
        vm.namespace().unwrap_or_default(),
    );
    mark(status, vm).not_synced(REASON, &message);
    let reported = vm
        .status
        .as_ref()
        .and_then(|stored| stored.managed.conditions.iter().find(|c| c.type_ == SYNCED));
    let now = status
        .managed
        .conditions
        .iter_mut()
        .find(|c| c.type_ == SYNCED);
    match (reported, now) {
        (Some(reported), Some(now))
            if !reported.is_true()
                && reported.reason == now.reason
                && reported.message == now.message
                && reported.observed_generation == now.observed_generation =>
        {
            now.last_transition_time = reported.last_transition_time.clone();
        }
        _ => {
            tracing::info!(secret = %name, %foreign, "connection secret not owned; not written");
            warn(&ctx.recorder, vm, REASON, "WriteConnectionSecret", message).await;
        }
    }
    Ok(())
}

/// Puts address `ip` in the sorted list `addresses` (`present`) or takes it out: the addresses
/// the operator added (`appliedAdditionalPrivateIPs`), or those of the spec it found the VM
/// holding already (`unownedAdditionalPrivateIPs`).
fn record_address(addresses: &mut Option<Vec<String>>, ip: &str, present: bool) {
    let addresses = addresses.get_or_insert_with(Vec::new);
    addresses.retain(|address| address != ip);
    if present {
        addresses.push(ip.to_owned());
        addresses.sort();
    }
}
