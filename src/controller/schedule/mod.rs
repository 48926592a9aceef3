//! The LunaSnapshotSchedule controller.
//!
//! - [`decide`]: the slot of a run, the name of its snapshot, and which of the schedule's own
//!   snapshots go (pure);
//! - [`driver`]: the [`crate::controller::managed::Reconciler`] impl, which makes and deletes
//!   the snapshot objects (LunaVolumeSnapshots or LunaImages) and makes no cloud call itself.

pub mod decide;
pub mod driver;
