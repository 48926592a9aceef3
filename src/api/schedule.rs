//! `LunaSnapshotSchedule`: a snapshot of a LunaVolume or a LunaVM every interval, keeping the
//! last `keep`.
//!
//! A schedule holds nothing in the cloud itself. Each run makes one object of the namespace: a
//! `LunaVolumeSnapshot` of the volume, or a `LunaImage` snapshot of the VM, named after the
//! schedule and the run's slot (`<schedule>-<unix time of the slot>`). That object carries the
//! whole contract of its kind (crash-safe create, conditions, deletion), and the schedule owns
//! it by a controlling owner reference: it is deleted with the schedule by Kubernetes' garbage
//! collector, and each snapshot then goes or stays by its `deletionPolicy`, the schedule's.
//!
//! The slot is the interval's multiple of Unix time the run falls in, so a run is a fact of the
//! clock, not of memory: an operator that restarts, or a reconcile from a stale copy, finds the
//! slot's object by name and never takes a second snapshot for it.
//!
//! Of the fields every kind has, `deletionPolicy` and the credentials are given to each snapshot
//! the schedule makes; `ObserveOnly` makes none (the schedule only reports its snapshots);
//! `import` is refused.

use super::common::{LocalObjectReference, exactly_one, immutable_once_set};

crate::managed_crd! {
    /// A snapshot of a LunaVolume or a LunaVM taken every interval, of which the last few are kept.
    kube(kind = "LunaSnapshotSchedule", plural = "lunasnapshotschedules", singular = "lunasnapshotschedule", shortname = "lsched"),
    status = "LunaSnapshotScheduleStatus",
    columns(
        ("Every", "integer", ".spec.intervalSeconds"),
        ("Keep", "integer", ".spec.keep"),
        ("Last", "string", ".status.lastSnapshot"),
        ("Next", "string", ".status.nextRun"),
    ),
    /// Desired state of a LunaSnapshotSchedule.
    #[x_kube(
        validation = exactly_one("volumeRef", "vmRef"),
        validation = Rule::new("!has(self.import)")
            .message("a schedule takes no import: it owns only the snapshots it makes; import an existing snapshot as a LunaVolumeSnapshot or a LunaImage"),
        validation = immutable_once_set("volumeRef", "make a new LunaSnapshotSchedule for another volume"),
        validation = immutable_once_set("vmRef", "make a new LunaSnapshotSchedule for another VM"),
    )]
    #[derive(Default)]
    pub struct LunaSnapshotScheduleSpec {
        /// The LunaVolume of the namespace to snapshot (each run makes a LunaVolumeSnapshot).
        /// Exactly one of `volumeRef` and `vmRef`. Immutable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub volume_ref: Option<LocalObjectReference>,

        /// The LunaVM of the namespace to snapshot (each run makes a LunaImage by `vm
        /// snapshot`). Immutable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub vm_ref: Option<LocalObjectReference>,

        /// Seconds between runs (at least 10; a day is 86400). Runs fall on the multiples of the
        /// interval in Unix time (UTC): a daily schedule runs at midnight UTC. A new schedule
        /// takes its first snapshot at once, in the current slot.
        #[schemars(range(min = 10, max = 31_536_000))]
        pub interval_seconds: u32,

        /// How many usable snapshots to keep (1 to 100): once more are available, the oldest of
        /// this schedule's own are deleted. A snapshot being made is never deleted, and a failed
        /// one is deleted once a later one is usable.
        #[schemars(range(min = 1, max = 100))]
        pub keep: u32,
    }
}

impl LunaSnapshotScheduleSpec {
    /// A schedule of LunaVolume `volume` every `interval_seconds`, keeping `keep`.
    pub fn volume(volume: impl Into<String>, interval_seconds: u32, keep: u32) -> Self {
        Self {
            volume_ref: Some(LocalObjectReference::new(volume)),
            interval_seconds,
            keep,
            ..Self::default()
        }
    }

    /// A schedule of LunaVM `vm` every `interval_seconds`, keeping `keep`.
    pub fn vm(vm: impl Into<String>, interval_seconds: u32, keep: u32) -> Self {
        Self {
            volume_ref: None,
            vm_ref: Some(LocalObjectReference::new(vm)),
            ..Self::volume("", interval_seconds, keep)
        }
    }
}

crate::status_types! {
    /// Observed state of a LunaSnapshotSchedule.
    pub struct LunaSnapshotScheduleStatus for LunaSnapshotSchedule(ScheduleAtProvider) {
        /// When the last run's slot began (RFC 3339, UTC).
        pub last_run: Option<String>,
        /// The object the last run made (a LunaVolumeSnapshot or a LunaImage).
        pub last_snapshot: Option<String>,
        /// Where the last run's snapshot stands: its `Ready` reason (`Available`,
        /// `Provisioning`, `SnapshotFailed`, `ImageFailed`, ...).
        pub last_result: Option<String>,
        /// When the next run is due (RFC 3339, UTC).
        pub next_run: Option<String>,
    }

    /// The snapshots the schedule holds, oldest first.
    pub struct ScheduleAtProvider {
        /// Each snapshot: its object, its cloud ID and where it stands.
        pub snapshots: Option<Vec<ScheduledSnapshot>>,
    }

    /// One snapshot of a schedule.
    pub struct ScheduledSnapshot {
        /// The object's name (a LunaVolumeSnapshot or a LunaImage of the namespace).
        pub name: String,
        /// Its cloud ID, once made.
        pub id: Option<String>,
        /// Its `Ready` reason.
        pub state: Option<String>,
    }
}
