//! The LunaImage controller: make an image (fetch a URL, snapshot a LunaVM, or replicate a
//! LunaImage into another region), follow it through `queued` and `saving` to `active`, rename
//! it by difference, report or replace it when it fails, and delete it.

use super::{
    cloud::{self, ObservedImage},
    decide::{self, Step},
};
use crate::api::{
    image::LunaImage,
    vm::{LunaVM, Recreations},
    volumesnapshot::LunaVolumeSnapshot,
};
use crate::controller::{
    managed::external::Read,
    prelude::*,
    vm::decide::{FailureStep, MAX_RECREATIONS, on_failure},
};

/// The LunaVM a snapshot is taken of (`source.vmRef`).
fn source_vm(image: &LunaImage) -> Vec<String> {
    managed::named(image.spec.source.vm_ref.as_ref())
}

/// The LunaVolumeSnapshot an image is made from (`source.volumeSnapshotRef`).
fn source_snapshot(image: &LunaImage) -> Vec<String> {
    managed::named(image.spec.source.volume_snapshot_ref.as_ref())
}

/// The LunaImage a replica is copied from (`source.imageRef`).
pub(crate) fn source_image(image: &LunaImage) -> Vec<String> {
    managed::named(image.spec.source.image_ref.as_ref())
}

/// What an image create does, its source resolved.
pub enum ImagePlan {
    /// `image fetch` of `source.url`.
    Fetch,
    /// `vm snapshot` of the VM with this ID.
    Snapshot(String),
    /// `image replicate` of the image with this ID.
    Replicate(String),
    /// `volume snapshot-replicate` of the snapshot with this ID, in this region.
    FromSnapshot {
        /// The snapshot's ID.
        id: String,
        /// Its region.
        region: String,
    },
}

impl External for LunaImage {
    type Observed = ObservedImage;
    type Plan = ImagePlan;

    managed::found_by!(cloud::images, name, name, in_region);

    /// The list is polled (fast while any image is being made): a reconcile acts on the last
    /// one, however many images there are.
    const ACTS_ON_THE_POLL: bool = true;

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<ImagePlan, Blocked>, Error> {
        Ok(plan(self, cx.ctx))
    }

    async fn create(&self, plan: &ImagePlan, client: &Client) -> Result<String, lunanode::Error> {
        let spec = &self.spec;
        match plan {
            ImagePlan::Fetch => {
                let source = &spec.source;
                let format = source.format;
                let virtio = source.virtio.unwrap_or(false).then_some("yes");
                let url = source.url.as_deref().unwrap_or_default();
                client
                    .image_fetch(&spec.region, &spec.name, url, format.as_str(), virtio)
                    .await
            }
            ImagePlan::Snapshot(vm_id) => client.vm_snapshot(vm_id, &spec.name).await,
            ImagePlan::Replicate(image_id) => client.image_replicate(image_id, &spec.region).await,
            ImagePlan::FromSnapshot { id, region } => {
                client
                    .volume_snapshot_replicate(region, id, &spec.name, &spec.region)
                    .await
            }
        }
    }

    async fn read(
        &self,
        id: &str,
        client: &Client,
    ) -> Result<Read<ObservedImage>, lunanode::Error> {
        match client.image_details(id).await {
            Ok(details) => Ok(Read::Found(ObservedImage {
                id: id.to_owned(),
                name: details.name,
                region: details.region,
                status: details.status,
            })),
            Err(error) if error.is_not_found() => Ok(Read::Gone),
            Err(error) => Err(error),
        }
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedImage) {
        let listed = listed(&observed.name, &observed.region, &observed.status);
        status.at_provider = Some(listed);
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let id = observed.id.as_str();
        match decide::decide(&self.spec, observed) {
            Step::Failed => failed(self, status, observed, cx).await,
            Step::Rename { to } => {
                let update = managed::Update {
                    reason: "Renamed",
                    note: format!("renamed image {id} to {to}"),
                    action: "rename image",
                };
                let call = cx.client().image_rename(id, &to);
                managed::update(self, status, cx, update, call).await
            }
            Step::Going => {
                let message = format!("image {id} is being deleted at Luna Node");
                mark(status, self).not_ready(Reason::Deleting, &message);
                Ok(Action::await_change())
            }
            Step::Building => {
                let message = format!("image {id} is {} at Luna Node", observed.status);
                mark(status, self).not_ready(Reason::Provisioning, &message);
                // The list polled for images in transition wakes this object when it moves.
                Ok(Action::await_change())
            }
            Step::Converged => {
                let message = format!("image {id} is {}", observed.status);
                mark(status, self).ready(Reason::Available, &message);
                Ok(Action::await_change())
            }
        }
    }

    fn is_being_deleted(&self, observed: &ObservedImage) -> bool {
        decide::is_going(&observed.status)
    }

    async fn delete(&self, observed: &ObservedImage, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx.client().image_delete(&observed.id);
        cx.remove(self, "delete image", &observed.id, call).await
    }

    const STANDING_FAILURES: &'static [Reason] = &[Reason::UpdateFailed];

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // The VM or volume snapshot to make it from, or the image to replicate, became ready.
        controller
            .follows::<LunaVM>(ctx, source_vm)
            .follows::<LunaVolumeSnapshot>(ctx, source_snapshot)
            .follows::<LunaImage>(ctx, source_image)
    }
}

/// What the create of `image` needs from its source, or why it cannot start yet.
fn plan(image: &LunaImage, ctx: &Context) -> Result<ImagePlan, Blocked> {
    let namespace = image.namespace().unwrap_or_default();
    let source = &image.spec.source;
    if let Some(reference) = &source.vm_ref {
        let vm = match managed::resolve::<LunaVM>(ctx, &namespace, &reference.name) {
            Reference::Ready { id, object } => (id, object),
            Reference::Waiting(message) => {
                return Err(Blocked::waiting(Reason::WaitingForVM, message));
            }
            Reference::Missing(message) => {
                return Err(Blocked::waiting(Reason::VMNotFound, message));
            }
        };
        let (vm_id, vm) = vm;
        if vm.spec.region != image.spec.region {
            return Err(Blocked::new(
                Reason::InvalidSource,
                format!(
                    "a snapshot is made in its VM's region: LunaVM {} is in {}, spec.region is {}",
                    reference.name, vm.spec.region, image.spec.region
                ),
            ));
        }
        if !managed::is_ready(vm.as_ref()) {
            return Err(Blocked::waiting(
                Reason::WaitingForVM,
                format!("LunaVM {namespace}/{} is not Ready yet", reference.name),
            ));
        }
        return Ok(ImagePlan::Snapshot(vm_id));
    }
    if let Some(reference) = &source.volume_snapshot_ref {
        return match managed::resolve::<LunaVolumeSnapshot>(ctx, &namespace, &reference.name) {
            Reference::Ready { object, .. } if !managed::is_ready(object.as_ref()) => {
                Err(Blocked::waiting(
                    Reason::WaitingForVolume,
                    format!(
                        "LunaVolumeSnapshot {namespace}/{} is not available yet",
                        reference.name
                    ),
                ))
            }
            Reference::Ready { id, object } => Ok(ImagePlan::FromSnapshot {
                id,
                region: object.spec.region.to_string(),
            }),
            Reference::Waiting(message) => Err(Blocked::waiting(Reason::WaitingForVolume, message)),
            Reference::Missing(message) => Err(Blocked::waiting(Reason::VolumeNotFound, message)),
        };
    }
    if let Some(reference) = &source.image_ref {
        let (image_id, origin) =
            match managed::resolve::<LunaImage>(ctx, &namespace, &reference.name) {
                Reference::Ready { id, object } => (id, object),
                Reference::Waiting(message) => {
                    return Err(Blocked::waiting(Reason::WaitingForImage, message));
                }
                Reference::Missing(message) => {
                    return Err(Blocked::waiting(Reason::LunaImageNotFound, message));
                }
            };
        if origin.spec.region == image.spec.region {
            return Err(Blocked::new(
                Reason::InvalidSource,
                format!(
                    "a replica goes to another region than its source: LunaImage {} is in {} already",
                    reference.name, origin.spec.region
                ),
            ));
        }
        if !managed::is_ready(origin.as_ref()) {
            return Err(Blocked::waiting(
                Reason::WaitingForImage,
                format!("LunaImage {namespace}/{} is not active yet", reference.name),
            ));
        }
        let source_name = origin
            .status
            .as_ref()
            .and_then(|status| status.at_provider.as_ref())
            .and_then(|at| at.name.clone())
            .unwrap_or_else(|| origin.spec.name.clone());
        if source_name != image.spec.name {
            // A replica takes its source's name: under another one, a lost answer could not be
            // told from no replica at all.
            return Err(Blocked::new(
                Reason::InvalidSource,
                format!(
                    "a replica is made under its source's name: set spec.name to {source_name:?} (it can be renamed once the replica exists)"
                ),
            ));
        }
        return Ok(ImagePlan::Replicate(image_id));
    }
    Ok(ImagePlan::Fetch)
}

/// A `killed` or `error` image: reported, or deleted to be made again (`onError: Recreate`).
async fn failed(
    image: &LunaImage,
    status: &mut <LunaImage as ManagedResource>::Status,
    observed: &ObservedImage,
    cx: &CloudCx<'_, LunaImage>,
) -> Result<Action, Error> {
    let generation = image.metadata.generation.unwrap_or_default();
    let what = format!("image {} is {} at Luna Node", observed.id, observed.status);
    match on_failure(image.spec.on_error, status.recreations.as_ref(), generation) {
        FailureStep::Report { exhausted } => {
            let advice = if exhausted {
                format!(
                    "onError: Recreate replaced {MAX_RECREATIONS} failed images for this generation of the spec already; change the spec to try again, or delete the LunaImage"
                )
            } else {
                "set spec.onError: Recreate to make it again, or delete the LunaImage (which deletes the image)".to_owned()
            };
            let message = format!("{what}: {advice}");
            if managed::stuck_anew(status, image, Reason::ImageFailed, &message) {
                cx.warn(image, Reason::ImageFailed, "Observe", message)
                    .await;
            }
            Ok(Action::await_change())
        }
        FailureStep::Recreate { attempt } => {
            let message = format!(
                "{what}: deleting it to make it again (onError: Recreate, {attempt} of {MAX_RECREATIONS})"
            );
            let why = managed::Replacement::Failed(Reason::ReplacingFailedImage);
            let action = managed::replace(image, status, observed, cx, why, message).await?;
            status.recreations = Some(Recreations {
                generation,
                count: attempt,
            });
            Ok(action)
        }
    }
}
