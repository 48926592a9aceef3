//! What an observed image needs: a pure function of the spec and the image as listed.

use super::cloud::{ImageState, ObservedImage, image_state};
use crate::api::image::LunaImageSpec;

/// The next step for an existing image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Luna Node reports it `killed` or in `error`: the failure policy decides.
    Failed,
    /// Being deleted (`pending_delete`, `deleted`: the operator's own replace of a failed
    /// image, or a delete from outside): wait for it to go, and send nothing.
    Going,
    /// Its name is not the manifest's: `image rename`.
    Rename {
        /// The manifest's name.
        to: String,
    },
    /// Still being made (`queued`, `saving`): wait for the list to show it active.
    Building,
    /// Active and named as the manifest says.
    Converged,
}

/// The step `observed` needs to match `spec`. A failed image is never renamed (it is
/// reported or replaced); an image being made is renamed without waiting for it.
pub fn decide(spec: &LunaImageSpec, observed: &ObservedImage) -> Step {
    if is_going(&observed.status) {
        return Step::Going;
    }
    let state = image_state(&observed.status);
    if state == ImageState::Failed {
        return Step::Failed;
    }
    if observed.name != spec.name {
        return Step::Rename {
            to: spec.name.clone(),
        };
    }
    if state == ImageState::NotReady {
        Step::Building
    } else {
        Step::Converged
    }
}

/// Whether an image's status says it is being deleted.
pub fn is_going(status: &str) -> bool {
    matches!(
        status.trim().to_ascii_lowercase().as_str(),
        "pending_delete" | "deleted"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::image::ImageSource;

    fn image(name: &str, status: &str) -> ObservedImage {
        ObservedImage {
            id: "7".into(),
            name: name.into(),
            region: "toronto".into(),
            status: status.into(),
        }
    }

    fn spec() -> LunaImageSpec {
        LunaImageSpec::new("base", ImageSource::url("https://example.com/base.qcow2"))
    }

    #[test]
    fn an_image_follows_its_lifecycle() {
        assert_eq!(decide(&spec(), &image("base", "queued")), Step::Building);
        assert_eq!(decide(&spec(), &image("base", "saving")), Step::Building);
        assert_eq!(decide(&spec(), &image("base", "active")), Step::Converged);
        assert_eq!(decide(&spec(), &image("base", "killed")), Step::Failed);
        assert_eq!(decide(&spec(), &image("base", "error")), Step::Failed);
        assert_eq!(
            decide(&spec(), &image("base", "pending_delete")),
            Step::Going
        );
        assert_eq!(decide(&spec(), &image("base", "deleted")), Step::Going);
    }

    #[test]
    fn a_name_that_differs_is_renamed_unless_the_image_failed() {
        let rename = Step::Rename { to: "base".into() };
        assert_eq!(decide(&spec(), &image("old", "active")), rename);
        assert_eq!(decide(&spec(), &image("old", "saving")), rename);
        assert_eq!(decide(&spec(), &image("old", "error")), Step::Failed);
    }
}
