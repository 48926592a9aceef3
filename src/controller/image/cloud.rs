//! The cloud reads of the LunaImage controller, shared with the LunaVM and LunaVolume creates
//! that resolve an image: the account's `image list` and its conversion, and what an image's
//! status means for a create.

use crate::controller::caches::list_cache;

use crate::controller::{accounts::Account, managed::Blocked, reason::Reason};
use crate::lunanode::{self};

/// An image as the controllers need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedImage {
    /// The image ID.
    pub id: String,
    /// Its exact name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// `active`, `queued`, `saving`, `killed`, `error`, ...
    pub status: String,
}

/// Whether an image can build a VM or fill a volume, by its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageState {
    /// `active` (or a status the operator does not know: the API judges).
    Usable,
    /// On its way (`queued`, `saving`, ...): a create waits.
    NotReady,
    /// It never will (`killed`, `error`, `deleted`, ...).
    Failed,
}

/// The [`ImageState`] of an image's status (OpenStack Glance's states, as Luna Node shows them).
pub fn image_state(status: &str) -> ImageState {
    match status.trim().to_ascii_lowercase().as_str() {
        "queued" | "saving" | "importing" | "uploading" => ImageState::NotReady,
        "killed" | "error" | "deleted" | "pending_delete" | "deactivated" => ImageState::Failed,
        _ => ImageState::Usable,
    }
}

/// How soon a create waiting for an image in progress looks at the image list again.
pub const IMAGE_RETRY: std::time::Duration = std::time::Duration::from_secs(20);

list_cache! {
    /// The account's `image list` cache (all regions). Polled while a LunaImage follows it (a
    /// cache nobody tracks is never polled), so resolving an image name for a VM or volume create
    /// costs a list on demand only.
    pub fn images(account) -> ObservedImage = "image list",
        |client| client.image_list(None),
        |image| &image.image_id,
        |image| ObservedImage {
            id: image.image_id,
            name: image.name,
            region: image.region,
            status: image.status,
        }
}

/// The image `image` names (an ID, or an exact name in `region`) as a create can use it: its
/// ID, or why the create cannot start (`ImageNotFound`; `ImageNotReady` while it is being made,
/// with a look again after [`IMAGE_RETRY`]; `ImageFailed` for an image that never will be).
/// Reads the account's image cache, at most ten minutes old, and a fresher one when that does
/// not show the image ready. An ID no list shows is passed on as it is: the API judges it.
pub async fn usable_image(
    account: &Account,
    image: &str,
    region: &str,
) -> Result<Result<String, Blocked>, lunanode::Error> {
    let cache = images(account);
    let by_id = !image.is_empty() && image.chars().all(|c| c.is_ascii_digit());
    let matches = |candidate: &ObservedImage| {
        if by_id {
            candidate.id == image
        } else {
            candidate.name == image && (candidate.region.is_empty() || candidate.region == region)
        }
    };
    let mut found = None;
    for max_age in [std::time::Duration::from_secs(600), IMAGE_RETRY / 2] {
        let snapshot = cache.get(max_age).await?;
        found = snapshot
            .entries
            .values()
            .filter(|candidate| matches(candidate))
            .min_by(|a, b| a.id.cmp(&b.id))
            .cloned();
        if found
            .as_ref()
            .is_some_and(|image| image_state(&image.status) != ImageState::NotReady)
        {
            break;
        }
    }
    Ok(match found {
        None if by_id => Ok(image.to_owned()),
        None => Err(Blocked::new(
            Reason::ImageNotFound,
            format!("image {image} not found in region {region}"),
        )),
        Some(found) => match image_state(&found.status) {
            ImageState::Usable => Ok(found.id),
            ImageState::NotReady => Err(Blocked::waiting(
                Reason::ImageNotReady,
                format!(
                    "image {} is {}; the create starts once it is active",
                    found.id, found.status
                ),
            )
            .retry(IMAGE_RETRY)),
            ImageState::Failed => Err(Blocked::new(
                Reason::ImageFailed,
                format!(
                    "image {} is {} at Luna Node and cannot be used; point spec.image at another image",
                    found.id, found.status
                ),
            )),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_states_as_clients_read_them() {
        for (status, state) in [
            ("active", ImageState::Usable),
            ("", ImageState::Usable),
            ("queued", ImageState::NotReady),
            ("saving", ImageState::NotReady),
            ("killed", ImageState::Failed),
            ("error", ImageState::Failed),
            ("ERROR", ImageState::Failed),
            ("deleted", ImageState::Failed),
        ] {
            assert_eq!(image_state(status), state, "{status:?}");
        }
    }
}
