//! LunaVM: carrying out one step on an existing VM (one cloud write, with an Event), and the
//! connection Secret.

use kube::ResourceExt;

use super::{
    Context,
    accounts::Account,
    error::Error,
    report::{event, key},
    vm::{cloud, set},
    vm_cloud,
    vm_decide::{ObservedVm, Step},
};
use crate::{
    api::{
        common::SYNCED,
        vm::{LunaVM, LunaVMStatus},
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
    let (action, reason, note): (&'static str, &str, String) = match step {
        Step::Converged | Step::Wait => return Ok(()),
        Step::ReimageNotAllowed => {
            set(
                status,
                vm,
                SYNCED,
                false,
                "ReimageNotAllowed",
                "spec.image differs from the installed image; set spec.allowReimage: true to reinstall the VM (its disk is erased)",
            );
            return Ok(());
        }
        Step::Resize { plan } => {
            match client.vm_resize(id, plan).await {
                Ok(()) => {}
                Err(error) if !error.is_retryable() => {
                    let message = error.to_string();
                    set(status, vm, SYNCED, false, "ResizeFailed", &message);
                    status.applied_plan = Some(plan.clone());
                    event(&ctx.recorder, vm, true, "ResizeFailed", "Resize", message).await;
                    return Ok(());
                }
                Err(error) => return Err(cloud("resize vm", &object, error)),
            }
            status.applied_plan = Some(plan.clone());
            status.applied_plan_id = None;
            (
                "resize vm",
                "Resized",
                format!("resized vm {id} to plan {plan}"),
            )
        }
        Step::Reimage { image } => {
            let image_id = vm_cloud::resolve_image(account, image, &vm.spec.region)
                .await
                .map_err(|source| cloud("list images", &object, source))?;
            let Some(image_id) = image_id else {
                set(
                    status,
                    vm,
                    SYNCED,
                    false,
                    "ImageNotFound",
                    &format!("image {image} not found in region {}", vm.spec.region),
                );
                return Ok(());
            };
            client
                .vm_reimage(id, &image_id)
                .await
                .map_err(|source| cloud("reimage vm", &object, source))?;
            status.applied_image = Some(image.clone());
            (
                "reimage vm",
                "Reimaged",
                format!("reinstalled vm {id} from image {image}"),
            )
        }
        Step::Rename { hostname } => {
            client
                .vm_rename(id, hostname)
                .await
                .map_err(|source| cloud("rename vm", &object, source))?;
            (
                "rename vm",
                "Renamed",
                format!("renamed vm {id} to {hostname}"),
            )
        }
        Step::Start => power(client, id, "start", &object).await?,
        Step::Stop => power(client, id, "stop", &object).await?,
        Step::Shelve => power(client, id, "shelve", &object).await?,
        Step::Unshelve => power(client, id, "unshelve", &object).await?,
        Step::AttachFloatingIp { ip } => {
            client
                .vm_floatingip_add(id, Some(ip), None)
                .await
                .map_err(|source| cloud("attach floating ip", &object, source))?;
            status.applied_floating_ip = Some(ip.clone());
            (
                "attach floating ip",
                "FloatingIPAttached",
                format!("attached {ip} to vm {id}"),
            )
        }
        Step::DetachFloatingIp { ip } => {
            client
                .vm_floatingip_delete(id, Some(ip), true)
                .await
                .map_err(|source| cloud("detach floating ip", &object, source))?;
            status.applied_floating_ip = None;
            (
                "detach floating ip",
                "FloatingIPDetached",
                format!("detached {ip} from vm {id}; it stays on the account"),
            )
        }
    };
    tracing::info!(object = %object, action, ?step, observed = %observed.status, task = %observed.task, "cloud write");
    let uid = vm.uid().unwrap_or_default();
    account.caches.vms.track(&uid, true);
    account.caches.vms.want_detail(&uid, true);
    event(&ctx.recorder, vm, false, reason, action, note).await;
    Ok(())
}

async fn power(
    client: &lunanode::Client,
    id: &str,
    verb: &'static str,
    object: &str,
) -> Result<(&'static str, &'static str, String), Error> {
    let (result, reason) = match verb {
        "start" => (client.vm_start(id).await, "Started"),
        "stop" => (client.vm_stop(id).await, "Stopped"),
        "shelve" => (client.vm_shelve(id).await, "Shelved"),
        _ => (client.vm_unshelve(id).await, "Unshelved"),
    };
    result.map_err(|source| cloud("change power state", object, source))?;
    Ok(("change power state", reason, format!("{verb} vm {id}")))
}

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
    let details = vm_cloud::connection_details(&account.client, &observed.id)
        .await
        .map_err(|source| cloud("read vm login details", &object, source))?;
    super::secret::write(&ctx.kube, vm, &target.name, details)
        .await
        .map_err(|source| Error::Kube {
            action: "write connection secret",
            object: object.clone(),
            source: Box::new(source),
        })?;
    status.connection_secret_ip = Some(observed.ip.clone());
    Ok(())
}
