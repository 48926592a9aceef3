//! The LunaImage controller.
//!
//! - [`driver`]: the [`crate::controller::managed::External`] impl: the create (fetch, snapshot
//!   or replicate), the rename, the failure policy and the delete;
//! - [`decide`]: what an observed image needs, a pure function of the spec and the image;
//! - [`cloud`]: the shared `image list` (also what the LunaVM and LunaVolume creates resolve
//!   their image by) and its conversion.

pub mod cloud;
pub mod decide;
pub mod driver;

pub use cloud::ObservedImage;
