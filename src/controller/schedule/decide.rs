//! What a LunaSnapshotSchedule does next, from the clock and the snapshots it owns: pure, so
//! that the slot arithmetic and the retention rule are tested without a cluster.

/// Where one of the schedule's snapshots stands, from its object's `Ready` condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Usable (`Ready=True`).
    Usable,
    /// Luna Node reports it failed (`SnapshotFailed`, `ImageFailed`).
    Failed,
    /// Still being made, waiting, or not looked at yet.
    Making,
}

/// One snapshot object the schedule owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// The object's name.
    pub name: String,
    /// The Unix time of the slot it was taken for.
    pub slot: u64,
    /// Where it stands.
    pub taken: Taken,
    /// Its deletion has begun: it no longer counts.
    pub deleting: bool,
}

/// The next steps of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Take the snapshot of this slot (none of the schedule's objects is for it yet).
    pub take: Option<u64>,
    /// Delete these objects (oldest first): usable ones beyond `keep`, failed ones older
    /// than the newest usable one.
    pub prune: Vec<String>,
    /// When the next slot begins.
    pub next_run: u64,
}

/// The slot `now` falls in: the latest multiple of `interval` seconds at or before it.
pub fn slot_of(now: u64, interval: u64) -> u64 {
    let interval = interval.max(1);
    now - now % interval
}

/// The name of the object taken for `slot`: [`prefix`] and the slot's Unix time, within 63
/// characters (a Luna Node snapshot name fits).
pub fn object_name(schedule: &str, slot: u64) -> String {
    let suffix = format!("-{slot}");
    format!("{}{suffix}", prefix(schedule, 63 - suffix.len().min(63)))
}

/// The schedule's name cut to at most `room` characters (and to 52 whatever the room, so that
/// it fits the `lunanode.com/schedule` label too), without a trailing `-` or `.`: what its
/// objects' names start with, and the label's value.
pub fn prefix(schedule: &str, room: usize) -> String {
    let cut: String = schedule.chars().take(room.min(52)).collect();
    cut.trim_end_matches(['-', '.']).to_owned()
}

/// The slot an object's name says it was taken for, if it is one of `schedule`'s names.
pub fn slot_in_name(schedule: &str, name: &str) -> Option<u64> {
    let (_, digits) = name.rsplit_once('-')?;
    let slot = digits.parse::<u64>().ok()?;
    (object_name(schedule, slot) == name).then_some(slot)
}

/// Decides a schedule's steps at `now`. `can_take` is false while the volume or VM is not
/// ready, or when the schedule only observes: no snapshot is taken then, and none is pruned
/// either (pruning follows a run). A slot is not taken while one of the schedule's snapshots
/// is still being made (or waits): runs never pile up behind a slow or stuck one.
pub fn plan(now: u64, interval: u64, keep: usize, owned: &[Owned], can_take: bool) -> Plan {
    let slot = slot_of(now, interval);
    let next_run = slot + interval.max(1);
    let mut plan = Plan {
        next_run,
        ..Plan::default()
    };
    if !can_take {
        return plan;
    }
    let mut live: Vec<&Owned> = owned.iter().filter(|snapshot| !snapshot.deleting).collect();
    live.sort_by_key(|snapshot| snapshot.slot);
    let making = live.iter().any(|snapshot| snapshot.taken == Taken::Making);
    if !making && !owned.iter().any(|snapshot| snapshot.slot >= slot) {
        plan.take = Some(slot);
    }
    let usable: Vec<&&Owned> = live
        .iter()
        .filter(|snapshot| snapshot.taken == Taken::Usable)
        .collect();
    let newest_usable = usable.last().map(|snapshot| snapshot.slot);
    let beyond = usable.len().saturating_sub(keep);
    let mut prune: Vec<&Owned> = usable
        .iter()
        .take(beyond)
        .map(|snapshot| **snapshot)
        .collect();
    // Failed ones: once a later one is usable, and beyond `keep` of them (the newest failures
    // stay for a human to read).
    let failed: Vec<&Owned> = live
        .iter()
        .copied()
        .filter(|snapshot| snapshot.taken == Taken::Failed)
        .collect();
    let failed_beyond = failed.len().saturating_sub(keep);
    for (index, snapshot) in failed.iter().enumerate() {
        if index < failed_beyond || newest_usable.is_some_and(|newest| snapshot.slot < newest) {
            prune.push(snapshot);
        }
    }
    prune.sort_by_key(|snapshot| snapshot.slot);
    plan.prune = prune
        .into_iter()
        .map(|snapshot| snapshot.name.clone())
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(slot: u64, taken: Taken) -> Owned {
        Owned {
            name: object_name("nightly", slot),
            slot,
            taken,
            deleting: false,
        }
    }

    #[test]
    fn slots_fall_on_multiples_of_the_interval() {
        assert_eq!(slot_of(86_400 * 3 + 5, 86_400), 86_400 * 3);
        assert_eq!(slot_of(100, 10), 100);
        assert_eq!(slot_of(109, 10), 100);
    }

    #[test]
    fn names_carry_the_slot_and_are_read_back_only_for_the_schedule() {
        let name = object_name("nightly", 1_764_720_000);
        assert_eq!(name, "nightly-1764720000");
        assert_eq!(slot_in_name("nightly", &name), Some(1_764_720_000));
        assert_eq!(slot_in_name("weekly", &name), None);
        assert_eq!(slot_in_name("nightly", "nightly-x"), None);
        assert_eq!(slot_in_name("nightly", "nightly-backup-1764720000"), None);
        let long = "a".repeat(80);
        let cut = object_name(&long, 1_764_720_000);
        assert_eq!(cut.len(), 52 + 11);
        assert_eq!(slot_in_name(&long, &cut), Some(1_764_720_000));
        assert_eq!(prefix(&long, 63).len(), 52, "fits a label value");
        let dotted = format!("{}.{}", "b".repeat(51), "c".repeat(10));
        assert_eq!(object_name(&dotted, 7), format!("{}-7", "b".repeat(51)));
    }

    #[test]
    fn a_slot_without_a_snapshot_takes_one_and_only_once() {
        let fresh = plan(1_005, 100, 3, &[], true);
        assert_eq!(fresh.take, Some(1_000));
        assert_eq!(fresh.next_run, 1_100);
        let taken = plan(1_099, 100, 3, &[owned(1_000, Taken::Making)], true);
        assert_eq!(taken.take, None);
        let next = plan(1_100, 100, 3, &[owned(1_000, Taken::Usable)], true);
        assert_eq!(next.take, Some(1_100));
        // One still being made (or waiting) holds the next slot back.
        let behind = plan(1_250, 100, 3, &[owned(1_000, Taken::Making)], true);
        assert_eq!(behind.take, None);
        // A failed one does not: the next slot tries again.
        let retry = plan(1_150, 100, 3, &[owned(1_000, Taken::Failed)], true);
        assert_eq!(retry.take, Some(1_100));
        let waiting = plan(1_005, 100, 3, &[], false);
        assert_eq!(waiting.take, None);
        assert_eq!(waiting.next_run, 1_100);
    }

    #[test]
    fn only_usable_snapshots_beyond_keep_are_pruned_oldest_first() {
        let snapshots = [
            owned(300, Taken::Usable),
            owned(100, Taken::Usable),
            owned(400, Taken::Making),
            owned(200, Taken::Usable),
        ];
        let decided = plan(450, 100, 2, &snapshots, true);
        assert_eq!(decided.prune, vec![object_name("nightly", 100)]);
        // One being made never counts, nor is deleted.
        let decided = plan(450, 100, 1, &snapshots, true);
        assert_eq!(
            decided.prune,
            vec![object_name("nightly", 100), object_name("nightly", 200)]
        );
    }

    #[test]
    fn failed_snapshots_go_once_a_later_one_is_usable_and_never_count() {
        let snapshots = [
            owned(100, Taken::Usable),
            owned(200, Taken::Failed),
            owned(300, Taken::Failed),
        ];
        // No later usable snapshot: the newest `keep` failures stay for a human to read.
        assert_eq!(
            plan(350, 100, 1, &snapshots, true).prune,
            vec![object_name("nightly", 200)]
        );
        assert!(plan(350, 100, 2, &snapshots, true).prune.is_empty());
        let mut later = snapshots.to_vec();
        later.push(owned(400, Taken::Usable));
        let decided = plan(450, 100, 1, &later, true);
        assert_eq!(
            decided.prune,
            vec![
                object_name("nightly", 100),
                object_name("nightly", 200),
                object_name("nightly", 300)
            ]
        );
    }

    #[test]
    fn objects_being_deleted_are_not_pruned_again() {
        let mut old = owned(100, Taken::Usable);
        old.deleting = true;
        let snapshots = [old, owned(200, Taken::Usable)];
        assert!(plan(250, 100, 1, &snapshots, true).prune.is_empty());
    }
}
