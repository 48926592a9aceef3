//! The LunaVolumeSnapshot controller: take a snapshot of a LunaVolume once the volume is Ready,
//! follow it from `creating` to `available`, report one in `error`, and delete it.

use super::cloud;
use crate::api::{
    volume::LunaVolume,
    volumesnapshot::{LunaVolumeSnapshot, VolumeSnapshotAtProvider},
};
use crate::controller::prelude::*;
use crate::lunanode::types::VolumeSnapshot;

/// The LunaVolume a snapshot is taken of.
fn source_volume(snapshot: &LunaVolumeSnapshot) -> Vec<String> {
    vec![snapshot.spec.volume_ref.name.clone()]
}

/// Where a snapshot's state stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotState {
    /// `available`: usable.
    Available,
    /// `error` (or another failed state): it never will be.
    Failed,
    /// Still being made.
    Creating,
}

/// The [`SnapshotState`] of a snapshot's status as the list words it.
pub fn snapshot_state(status: &str) -> SnapshotState {
    match status.trim().to_ascii_lowercase().as_str() {
        "available" | "active" | "" => SnapshotState::Available,
        "error" | "error_deleting" | "deleted" => SnapshotState::Failed,
        _ => SnapshotState::Creating,
    }
}

impl External for LunaVolumeSnapshot {
    type Observed = VolumeSnapshot;
    /// The ID of the volume to snapshot.
    type Plan = String;

    managed::found_by!(cloud::snapshots[region], name, name, in_region);

    /// The list is polled (fast while any snapshot is being made): a reconcile acts on the
    /// last one, however many snapshots there are.
    const ACTS_ON_THE_POLL: bool = true;

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<String, Blocked>, Error> {
        let namespace = self.namespace().unwrap_or_default();
        let name = &self.spec.volume_ref.name;
        let (id, volume) = match managed::resolve::<LunaVolume>(cx.ctx, &namespace, name) {
            Reference::Ready { id, object } => (id, object),
            Reference::Waiting(message) => {
                return Ok(Err(Blocked::waiting(Reason::WaitingForVolume, message)));
            }
            Reference::Missing(message) => {
                return Ok(Err(Blocked::waiting(Reason::VolumeNotFound, message)));
            }
        };
        if volume.spec.region != self.spec.region {
            return Ok(Err(Blocked::new(
                Reason::InvalidSource,
                format!(
                    "a snapshot is made in its volume's region: LunaVolume {name} is in {}, spec.region is {}",
                    volume.spec.region, self.spec.region
                ),
            )));
        }
        if !managed::is_ready(volume.as_ref()) {
            return Ok(Err(Blocked::waiting(
                Reason::WaitingForVolume,
                format!("LunaVolume {namespace}/{name} is not Ready yet"),
            )));
        }
        Ok(Ok(id))
    }

    async fn create(&self, volume_id: &String, client: &Client) -> Result<String, lunanode::Error> {
        client
            .volume_snapshot_create(&self.spec.region, volume_id, &self.spec.name)
            .await
    }

    fn report(&self, status: &mut Self::Status, observed: &VolumeSnapshot) {
        status.at_provider = Some(VolumeSnapshotAtProvider {
            listed: listed(&observed.name, &observed.region, &observed.status),
            size: observed.size.and_then(|size| i64::try_from(size).ok()),
            volume_id: non_empty(&observed.volume_id),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let id = &observed.id;
        match snapshot_state(&observed.status) {
            SnapshotState::Available => {
                let message = format!("snapshot {id} is available");
                mark(status, self).ready(Reason::Available, &message);
            }
            SnapshotState::Creating => {
                let message = format!("snapshot {id} is {} at Luna Node", observed.status);
                mark(status, self).not_ready(Reason::Provisioning, &message);
            }
            SnapshotState::Failed => {
                let message = format!(
                    "snapshot {id} is {} at Luna Node: delete the LunaVolumeSnapshot (which deletes the snapshot) and create another",
                    observed.status
                );
                if managed::stuck_anew(status, self, Reason::SnapshotFailed, &message) {
                    cx.warn(self, Reason::SnapshotFailed, "Observe", message)
                        .await;
                }
            }
        }
        Ok(Action::await_change())
    }

    async fn delete(&self, observed: &VolumeSnapshot, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx
            .client()
            .volume_snapshot_delete(&self.spec.region, &observed.id);
        cx.remove(self, "delete volume snapshot", &observed.id, call)
            .await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // The volume got its ID or became Ready.
        controller.follows::<LunaVolume>(ctx, source_volume)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_states_as_the_list_words_them() {
        for (status, state) in [
            ("available", SnapshotState::Available),
            ("creating", SnapshotState::Creating),
            ("error", SnapshotState::Failed),
            ("ERROR", SnapshotState::Failed),
        ] {
            assert_eq!(snapshot_state(status), state, "{status:?}");
        }
    }
}
