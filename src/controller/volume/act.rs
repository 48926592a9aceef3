//! LunaVolume: carrying out one step of [`super::decide`] (one cloud write, its Event, the
//! conditions), and the condition of a converged volume.

use std::time::Duration;

use kube::{ResourceExt, runtime::controller::Action};

use super::decide::Step;
use crate::{
    api::volume::{LunaVolume, LunaVolumeStatus},
    controller::{
        error::Error,
        managed::{CloudCx, External, cloud, mark, stuck},
        reason::Reason,
    },
    lunanode::types::Volume,
};

/// Carries out `step` on `observed`. `blocked` is what to return when the step is
/// [`Step::Blocked`] (the reference's condition is already set).
pub(super) async fn act(
    volume: &LunaVolume,
    status: &mut LunaVolumeStatus,
    observed: &Volume,
    step: Step,
    blocked: Action,
    cx: &CloudCx<'_, LunaVolume>,
) -> Result<Action, Error> {
    let uid = volume.uid().unwrap_or_default();
    let cache = volume.cache(cx.account);
    let region = &volume.spec.region;
    let confirm = Action::requeue(Duration::from_secs(1));
    let wait = Action::requeue(cx.ctx.accounts.timing().fast_interval * 3);
    let not_ready = |status: &mut LunaVolumeStatus, reason: Reason, message: &str| {
        mark(status, volume).not_ready(reason, message);
    };
    match step {
        Step::Busy | Step::InUse => {
            let message = format!("volume {} is {}", observed.id, observed.status);
            not_ready(status, Reason::InProgress, &message);
            Ok(wait)
        }
        Step::Blocked => Ok(blocked),
        Step::Failed => {
            let message = format!(
                "Luna Node reports volume {} in {}: it cannot be attached or grown; delete this LunaVolume to remove it (then apply it again for a new one)",
                observed.id, observed.status
            );
            not_ready(status, Reason::VolumeError, &message);
            // A change at the provider shows in the shared list and wakes this object.
            Ok(Action::await_change())
        }
        Step::Rename { to } => {
            let result = cx.client().volume_rename(region, &observed.id, &to).await;
            cache.wrote(&uid);
            match result {
                Ok(()) => {
                    let note = format!("renamed volume {} to {to}", observed.id);
                    cx.event(volume, false, "Renamed", "Update", note.clone())
                        .await;
                    not_ready(status, Reason::Updating, &note);
                    Ok(confirm)
                }
                Err(error) if error.is_refused() => {
                    let message = format!("rename refused: {error}");
                    not_ready(status, Reason::UpdateFailed, &message);
                    mark(status, volume).not_synced(Reason::UpdateFailed, &message);
                    Ok(Action::requeue(Duration::from_secs(300)))
                }
                Err(error) => Err(cloud("rename volume", &cx.object, error)),
            }
        }
        Step::Extend { size } => {
            let result = cx.client().volume_extend(region, &observed.id, size).await;
            cache.wrote(&uid);
            match result {
                Ok(()) => {
                    let note = format!("extended volume {} to {size} GB", observed.id);
                    cx.event(volume, false, "Extended", "Update", note).await;
                    not_ready(status, Reason::Extending, "extending");
                    Ok(confirm)
                }
                Err(error) if error.is_refused() => {
                    let message = format!("unable to extend to {size} GB: {error}");
                    stuck(status, volume, Reason::ExtendFailed, &message);
                    Ok(Action::requeue(Duration::from_secs(300)))
                }
                Err(error) => Err(cloud("extend volume", &cx.object, error)),
            }
        }
        Step::Detach { from } => {
            cx.client()
                .volume_detach(region, &observed.id)
                .await
                .map_err(|source| cloud("detach volume", &cx.object, source))?;
            cache.wrote(&uid);
            let note = format!("detached volume {} from vm {from}", observed.id);
            cx.event(volume, false, "Detached", "Detach", note).await;
            not_ready(status, Reason::Detaching, "detached; confirming");
            Ok(confirm)
        }
        Step::Attach { to } => {
            let target = volume
                .spec
                .attach_to
                .as_ref()
                .map_or("auto", |attach| attach.target.as_str());
            let result = cx
                .client()
                .volume_attach(region, &observed.id, &to, target)
                .await;
            cache.wrote(&uid);
            match result {
                Ok(()) => {
                    let note = format!("attached volume {} to vm {to}", observed.id);
                    cx.event(volume, false, "Attached", "Attach", note).await;
                    not_ready(status, Reason::Attaching, "attached; confirming");
                    Ok(confirm)
                }
                Err(error) if error.is_refused() => {
                    let message = format!("unable to attach to vm {to}: {error}");
                    not_ready(status, Reason::AttachFailed, &message);
                    mark(status, volume).not_synced(Reason::AttachFailed, &message);
                    Ok(Action::requeue(Duration::from_secs(300)))
                }
                Err(error) => Err(cloud("attach volume", &cx.object, error)),
            }
        }
        Step::Converged => {
            let message = match &observed.attached {
                Some(vm) => format!("volume {} is attached to vm {vm}", observed.id),
                None => format!("volume {} is {}", observed.id, observed.status),
            };
            mark(status, volume).ready(Reason::Available, &message);
            Ok(Action::await_change())
        }
    }
}
