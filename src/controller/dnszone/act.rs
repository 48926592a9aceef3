//! LunaDnsZone: the records by difference (list, plan, write, report), and what the
//! controller remembers of them between reconciles.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use kube::{Resource, ResourceExt, runtime::controller::Action};

use crate::controller::reason::Reason;
use crate::controller::{
    Context,
    accounts::Account,
    error::Error,
    managed::{CloudCx, Cx, cloud, mark, ownership},
};
use crate::{
    api::{
        common::ManagedResource,
        dnszone::{AppliedRecord, LunaDnsZone, LunaDnsZoneStatus, RecordCounts},
    },
    lunanode,
};

use super::{
    cloud::{ObservedZone, ZoneCalls},
    decide::{Listed, Plan, RecordKey, Wanted, Write, order, plan, wanted_key},
    references::desired,
};

// --- What the controller remembers between reconciles ------------------------------------------

/// Per zone, in memory: when its records were last listed and which adds the API refused.
/// Losing it (a restart) costs one `record-list` per zone and one retry of a refused add.
#[derive(Debug, Default)]
pub(super) struct Memo {
    /// The zone was created by this process and has not been listed yet: nothing can be in it
    /// that a list could leave out.
    pub(super) fresh: bool,
    /// A write may have taken effect without its answer (an error part way, an add answered
    /// without an ID): the next adds are planned on confirmed lists.
    uncertain: bool,
    /// Since when a record may have been added without this process seeing it: the last
    /// uncertain write, or the start of this process (its predecessor may have added one just
    /// before it stopped). A list can lag behind an add ([`ADD_SETTLE`]), so adds wait until a
    /// list started that long after it, however many lists in a row lack the record.
    doubt_since: Option<Instant>,
    /// The IDs of the records this process held after its last adds, until a copy of the
    /// object whose status lists them all is seen. A reconcile from an older copy (the status
    /// write after the adds failed, or the cache has not caught up) plans its adds on confirmed
    /// lists: one list that leaves a new record out would otherwise add it a second time.
    unsaved: BTreeSet<String>,
    listed_at: Option<Instant>,
    listed_generation: Option<i64>,
    rejected_generation: Option<i64>,
    rejected: BTreeMap<String, (RecordKey, u32, String)>,
    /// The records this process added, as a list shows them, and when: a list may leave out a
    /// record for a while after its add, and one taken as gone would be added a second time.
    added: Vec<(Listed, Instant)>,
    /// Since when each owned record (by ID) has been left out of the lists: an absence is
    /// trusted only once it has lasted [`ABSENCE_SPAN`], as for every kind without a per-object
    /// read. A record added moments before a restart is not in a list yet, and this process
    /// has no memory of its add.
    missing_since: HashMap<String, Instant>,
}

impl Memo {
    /// Notes a list started at `started` for `generation`, with the object's status showing
    /// `records`, and says what the adds may be planned on: `(fresh, uncertain)`. Fresh: the
    /// zone is new and this is its first list, which nothing can be missing from. Uncertain:
    /// a write may have landed without its answer, this process has not listed the zone yet,
    /// or the copy of the object predates this process's last adds.
    fn listing(
        &mut self,
        records: &[AppliedRecord],
        started: Instant,
        generation: Option<i64>,
    ) -> (bool, bool) {
        let behind = self
            .unsaved
            .iter()
            .any(|id| !records.iter().any(|record| record.id == *id));
        if !behind {
            self.unsaved.clear();
        }
        if self.listed_at.is_none() && !self.fresh {
            self.doubt_since = Some(*STARTED);
        }
        let seen = (
            self.fresh && !behind,
            self.uncertain || self.listed_at.is_none() || behind,
        );
        self.fresh = false;
        self.listed_at = Some(started);
        self.listed_generation = generation;
        seen
    }
}

impl Memo {
    /// Notes the records of `owned` that `before` lacks as added now, and forgets the added
    /// records `owned` no longer holds (removed since).
    fn note_added(&mut self, before: &[AppliedRecord], owned: &[AppliedRecord]) {
        self.added
            .retain(|(added, _)| owned.iter().any(|record| record.id == added.id));
        let now = Instant::now();
        for record in owned {
            if !before.iter().any(|known| known.id == record.id) {
                self.added.push((Listed::from(record), now));
            }
        }
    }

    /// Adds to `listed` the records this process added less than [`ADD_SETTLE`] ago that it
    /// leaves out.
    fn with_recent_adds(&mut self, listed: &mut Vec<Listed>) {
        self.added.retain(|(_, at)| at.elapsed() < ADD_SETTLE);
        for (record, _) in &self.added {
            if !listed.iter().any(|known| known.id == record.id) {
                listed.push(record.clone());
            }
        }
    }

    /// Adds to `listed` the records of `owned` it leaves out whose absence has not lasted
    /// [`ABSENCE_SPAN`] yet; says whether there are any (the zone is then looked at again
    /// soon).
    fn hold_absent(&mut self, owned: &[AppliedRecord], listed: &mut Vec<Listed>) -> bool {
        let now = Instant::now();
        let absent: Vec<&AppliedRecord> = owned
            .iter()
            .filter(|record| !listed.iter().any(|known| known.id == record.id))
            .collect();
        self.missing_since
            .retain(|id, _| absent.iter().any(|record| record.id == *id));
        let mut held = false;
        for record in absent {
            let since = *self.missing_since.entry(record.id.clone()).or_insert(now);
            if now.duration_since(since) < ABSENCE_SPAN {
                held = true;
                listed.push(Listed::from(record));
            }
        }
        held
    }
}

/// How long a record this process added is taken as present though no list shows it: the
/// span the other kinds wait before they take a new object as gone.
const ADD_SETTLE: Duration = ownership::CREATE_SETTLE;

/// When this process first looked at a zone's records: a record its predecessor added just
/// before it stopped may be missing from the lists until [`ADD_SETTLE`] after.
static STARTED: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// How long an owned record must be left out of the lists before it is taken as removed
/// outside the operator and added again.
const ABSENCE_SPAN: Duration = ownership::CREATE_SETTLE;

/// How soon a zone with an owned record missing from the lists, not long enough to be trusted,
/// is looked at again.
const ABSENCE_RECHECK: Duration = Duration::from_secs(5);

/// The memos of one account's zones, by object uid: per-account state
/// ([`Account::state`]).
#[derive(Debug, Default)]
struct Memos(Mutex<HashMap<String, Memo>>);

pub(super) fn memo<T>(account: &Account, uid: &str, f: impl FnOnce(&mut Memo) -> T) -> T {
    let memos = account.state::<Memos>();
    let mut memos = memos
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(memos.entry(uid.to_owned()).or_default())
}

pub(super) fn forget(account: &Account, uid: &str) {
    account
        .state::<Memos>()
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(uid);
}

/// How often the records are read when nothing else asks for it.
pub(super) fn drift_interval(ctx: &Context) -> Duration {
    ctx.accounts.timing().slow_interval * 10
}

/// What a batch of writes did.
#[derive(Debug, Default)]
struct Applied {
    adopted: usize,
    added: usize,
    removed: usize,
    pruned: usize,
    /// Adds whose answer had no record ID: found by the next list.
    unidentified: Vec<Wanted>,
    /// Adds the API refused: (record, message).
    rejected: Vec<(Wanted, String)>,
    /// Removes the API refused: (record, message).
    refused: Vec<(AppliedRecord, String)>,
}

pub(super) async fn sync_records(
    zone: &LunaDnsZone,
    status: &mut LunaDnsZoneStatus,
    observed: &ObservedZone,
    cx: &CloudCx<'_, LunaDnsZone>,
) -> Result<Action, Error> {
    let uid = zone.uid().unwrap_or_default();
    let generation = zone.meta().generation;
    let drift = drift_interval(cx.ctx);
    let requested_again = zone.reconcile_requested_at().is_some_and(|requested| {
        status.managed.last_reconcile_request.as_deref() != Some(requested)
    });
    let (wanted, waiting) = desired(zone, cx.ctx).await?;

    // Adds the API refused for this generation are not retried until the spec changes (or a
    // reconcile is requested).
    let rejected: Vec<(RecordKey, u32, String)> = memo(cx.account, &uid, |memo| {
        if memo.rejected_generation != generation || requested_again {
            memo.rejected.clear();
            memo.rejected_generation = generation;
        }
        memo.rejected.values().cloned().collect()
    });
    let is_rejected = |record: &Wanted| {
        rejected
            .iter()
            .any(|(key, ttl, _)| *key == wanted_key(record) && *ttl == record.ttl)
    };
    let wanted_now: Vec<Wanted> = wanted.iter().filter(|w| !is_rejected(w)).cloned().collect();

    // Read the records only when something may have to be written or drift is due.
    let dry = plan(
        &wanted_now,
        &waiting,
        &status.records,
        None,
        zone.spec.prune,
    );
    let due = memo(cx.account, &uid, |memo| {
        memo.listed_generation != generation
            || memo.listed_at.is_none_or(|at| at.elapsed() >= drift)
            || !memo.missing_since.is_empty()
    });
    let calls = ZoneCalls {
        client: cx.client(),
        api: zone.spec.api,
        zone: &observed.id,
    };
    let mut external = status.counts.as_ref().map_or(0, |counts| counts.external);
    let mut owned: Vec<AppliedRecord> = status.records.clone();
    let mut applied = Applied::default();
    let mut holding = false;
    let mut deferred = 0;
    if dry.writes() || due || requested_again {
        let started = Instant::now();
        let mut listed = list(&calls, &observed.origin, &cx.object).await?;
        let (fresh, uncertain) = memo(cx.account, &uid, |memo| {
            memo.with_recent_adds(&mut listed);
            holding = memo.hold_absent(&status.records, &mut listed);
            memo.listing(&status.records, started, generation)
        });
        let mut plan = plan(
            &wanted_now,
            &waiting,
            &status.records,
            Some(&listed),
            zone.spec.prune,
        );
        // A list may lag behind an add made without this process seeing its answer (an
        // uncertain write, or its predecessor's just before a restart): adds wait until a list
        // can no longer lag behind it.
        let settling = memo(cx.account, &uid, |memo| {
            memo.doubt_since
                .map(|since| ADD_SETTLE.saturating_sub(since.elapsed()))
                .filter(|left| !left.is_zero())
        });
        if let Some(left) = settling.filter(|_| !plan.add.is_empty() && !fresh) {
            tracing::debug!(
                ?left,
                adds = plan.add.len(),
                "adds wait for the lists to settle"
            );
            deferred = plan.add.len();
            plan.add.clear();
            holding = true;
        }
        // A list may leave records out: before adding what may already be there (a record of
        // the operator's that vanished, or anything after an uncertain write or a restart),
        // read again and take every record any answer showed.
        if !plan.add.is_empty() && !fresh && (uncertain || plan.vanished > 0) {
            for _ in 1..ownership::RECORD_LISTS_TO_CONFIRM_ABSENCE {
                for record in list(&calls, &observed.origin, &cx.object).await? {
                    if !listed.iter().any(|known| known.id == record.id) {
                        listed.push(record);
                    }
                }
            }
            plan = self::plan(
                &wanted_now,
                &waiting,
                &status.records,
                Some(&listed),
                zone.spec.prune,
            );
        }
        external = u32::try_from(plan.external).unwrap_or(u32::MAX);
        owned = plan.keep.iter().chain(&plan.adopt).cloned().collect();
        owned.extend(plan.remove.iter().filter(|r| !plan.is_adopted(r)).cloned());
        if plan.vanished > 0 {
            tracing::info!(
                vanished = plan.vanished,
                "records of the operator were removed outside it"
            );
        }
        if plan.writes() {
            tracing::info!(
                add = plan.add.len(),
                remove = plan.remove.len(),
                prune = plan.prune.len(),
                expected = plan.owned_after(),
                "updating records"
            );
        }
        applied.adopted = plan.adopt.len();
        let result = write(&calls, &plan, &mut owned, &mut applied).await;
        memo(cx.account, &uid, |memo| {
            memo.uncertain = result.is_err() || !applied.unidentified.is_empty();
            if memo.uncertain {
                memo.doubt_since = Some(Instant::now());
            }
            memo.note_added(&status.records, &owned);
            if applied.added > 0 {
                memo.unsaved = owned.iter().map(|record| record.id.clone()).collect();
            }
        });
        // Record what was done even when a write failed part way.
        finish(status, &owned);
        result.map_err(|error| cloud("update records", &cx.object, error))?;
        if !applied.unidentified.is_empty() {
            let listed = list(&calls, &observed.origin, &cx.object).await?;
            let found = plan_adoptions(&applied.unidentified, &owned, &listed);
            owned.extend(found);
            finish(status, &owned);
        }
        report_writes(zone, cx, &observed.id, &applied).await;
    }

    // Remember refusals, and report.
    memo(cx.account, &uid, |memo| {
        for (record, message) in &applied.rejected {
            memo.rejected.insert(
                record.describe(),
                (wanted_key(record), record.ttl, message.clone()),
            );
        }
    });
    let rejected: Vec<String> = memo(cx.account, &uid, |memo| {
        memo.rejected
            .iter()
            .map(|(what, (_, _, message))| format!("{what}: {message}"))
            .collect()
    });
    finish(status, &owned);
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    status.counts = Some(RecordCounts {
        desired: count(wanted.len() + waiting.len()),
        managed: count(status.records.len()),
        external,
        waiting: count(waiting.len()),
        rejected: count(rejected.len()),
    });
    if !rejected.is_empty() || !applied.refused.is_empty() {
        let mut problems = rejected;
        problems.extend(applied.refused.iter().map(|(record, message)| {
            format!(
                "removing {} {} {}: {message}",
                record.name, record.record_type, record.data
            )
        }));
        let message = format!("the API refused: {}", problems.join("; "));
        mark(status, zone)
            .not_ready(Reason::RecordRejected, &message)
            .not_synced(Reason::RecordRejected, &message);
    } else if deferred > 0 {
        let message = format!(
            "{deferred} record(s) to add once the lists cannot lag behind an earlier add whose answer was not seen"
        );
        mark(status, zone).not_ready(Reason::Updating, &message);
    } else if !waiting.is_empty() {
        let mut reasons: Vec<String> = waiting.iter().map(|w| w.why.clone()).collect();
        reasons.sort();
        reasons.dedup();
        let message = format!(
            "{} record(s) wait for an address: {}",
            waiting.len(),
            reasons.join("; ")
        );
        mark(status, zone).not_ready(Reason::WaitingForReferences, &message);
    } else {
        let message = format!(
            "zone {} holds the {} record(s) of the spec",
            observed.id,
            wanted.len()
        );
        mark(status, zone).ready(Reason::Available, &message);
    }
    Ok(Action::requeue(if holding {
        ABSENCE_RECHECK
    } else {
        drift
    }))
}

async fn list(calls: &ZoneCalls<'_>, origin: &str, object: &str) -> Result<Vec<Listed>, Error> {
    let records = calls
        .list()
        .await
        .map_err(|error| cloud("list records", object, error))?;
    Ok(records
        .iter()
        .map(|record| Listed::from_api(record, origin))
        .collect())
}

/// Records of `listed` that are the adds in `added` (answered without an ID), not yet owned.
fn plan_adoptions(
    added: &[Wanted],
    owned: &[AppliedRecord],
    listed: &[Listed],
) -> Vec<AppliedRecord> {
    let found = plan(added, &[], &[], Some(listed), false);
    found
        .adopt
        .into_iter()
        .filter(|record| !owned.iter().any(|o| o.id == record.id))
        .collect()
}

/// Carries out the plan's writes in order, keeping `owned` true after each; stops at the first
/// error that may pass (the caller retries), records refusals and goes on.
async fn write(
    calls: &ZoneCalls<'_>,
    plan: &Plan,
    owned: &mut Vec<AppliedRecord>,
    applied: &mut Applied,
) -> Result<(), lunanode::Error> {
    for step in order(plan) {
        match step {
            Write::Add(record) => match calls.add(&record).await {
                Ok(Some(id)) => {
                    owned.push(record.applied(id));
                    applied.added += 1;
                }
                Ok(None) => {
                    applied.added += 1;
                    applied.unidentified.push(record);
                }
                Err(error) if !error.may_have_taken_effect() && !error.is_retryable() => {
                    applied.rejected.push((record, error.to_string()));
                }
                Err(error) => return Err(error),
            },
            Write::Remove(record, pruned) => match calls.remove(&record.id).await {
                Ok(()) => {
                    owned.retain(|o| o.id != record.id);
                    if pruned {
                        applied.pruned += 1;
                    } else {
                        applied.removed += 1;
                    }
                }
                Err(error) if error.is_refused() => {
                    applied.refused.push((record, error.to_string()));
                }
                Err(error) => return Err(error),
            },
        }
    }
    Ok(())
}

/// Writes the owned records into the status, in a stable order.
fn finish(status: &mut LunaDnsZoneStatus, owned: &[AppliedRecord]) {
    let mut seen = HashSet::new();
    let mut records: Vec<AppliedRecord> = owned
        .iter()
        .filter(|record| seen.insert(record.id.clone()))
        .cloned()
        .collect();
    records.sort();
    status.records = records;
}

async fn report_writes(
    zone: &LunaDnsZone,
    cx: &Cx<'_, LunaDnsZone>,
    zone_id: &str,
    applied: &Applied,
) {
    if applied.added + applied.removed + applied.pruned + applied.adopted > 0 {
        cx.event(
            zone,
            false,
            "RecordsUpdated",
            "Update",
            format!(
                "zone {zone_id}: added {}, removed {}, pruned {}, took over {} record(s)",
                applied.added, applied.removed, applied.pruned, applied.adopted
            ),
        )
        .await;
    }
    for (record, message) in &applied.rejected {
        cx.event(
            zone,
            true,
            "RecordRejected",
            "Update",
            format!(
                "zone {zone_id}: the API refused {}: {message}",
                record.describe()
            ),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn www() -> Wanted {
        Wanted {
            name: "www".into(),
            record_type: "A".into(),
            data: "192.0.2.1".into(),
            ttl: 3600,
            vm_ref: None,
            floating_ip_ref: None,
        }
    }

    fn record(id: &str) -> AppliedRecord {
        www().applied(id.into())
    }

    fn listed_once() -> Memo {
        let mut memo = Memo::default();
        memo.listing(&[], Instant::now(), Some(1));
        memo
    }

    #[test]
    fn a_restart_doubts_what_its_predecessor_added_but_a_new_zone_does_not() {
        // A zone this process did not make: its predecessor may have added a record the lists
        // do not show yet.
        let restarted = listed_once();
        assert_eq!(restarted.doubt_since, Some(*STARTED));
        // A zone this process made: nothing can be in it unseen.
        let mut made = Memo {
            fresh: true,
            ..Memo::default()
        };
        made.listing(&[], Instant::now(), Some(1));
        assert_eq!(made.doubt_since, None);
    }

    #[test]
    fn a_record_added_moments_ago_counts_as_listed_until_it_is_removed() {
        let mut memo = listed_once();
        memo.note_added(&[record("r1")], &[record("r1"), record("r2")]);
        // A list that is behind the add: r2 is taken as there.
        let mut listed = Vec::new();
        memo.with_recent_adds(&mut listed);
        let ids: Vec<&str> = listed.iter().map(|record| record.id.as_str()).collect();
        assert_eq!(ids, ["r2"], "only the new record, not the one owned before");
        let wanted = [www()];
        let planned = plan(&wanted, &[], &[record("r2")], Some(&listed), false);
        assert!(
            planned.add.is_empty() && planned.vanished == 0,
            "{planned:?}"
        );
        // From a copy of the object from before the add (its status lacks r2): taken back.
        let planned = plan(&wanted, &[], &[], Some(&listed), false);
        assert!(planned.add.is_empty(), "{planned:?}");
        assert_eq!(planned.adopt.len(), 1);
        // Removed by the operator since: no longer taken as there.
        memo.note_added(&[record("r1"), record("r2")], &[record("r1")]);
        let mut listed = Vec::new();
        memo.with_recent_adds(&mut listed);
        assert!(listed.is_empty());
    }

    #[test]
    fn an_owned_record_is_added_again_only_once_its_absence_has_lasted() {
        let mut memo = Memo::default();
        let mut listed = Vec::new();
        assert!(memo.hold_absent(&[record("r1")], &mut listed));
        assert_eq!(listed.len(), 1, "held as present at first");
        // Listed again: forgotten.
        assert!(!memo.hold_absent(&[record("r1")], &mut listed));
        assert!(memo.missing_since.is_empty());
        // Missing for longer than the span: no longer held.
        memo.missing_since
            .insert("r1".into(), Instant::now() - ABSENCE_SPAN);
        let mut listed = Vec::new();
        assert!(!memo.hold_absent(&[record("r1")], &mut listed));
        assert!(listed.is_empty());
    }

    #[test]
    fn the_first_list_of_a_process_is_uncertain() {
        let (fresh, uncertain) = Memo::default().listing(&[], Instant::now(), Some(1));
        assert!(!fresh);
        assert!(uncertain);
    }

    #[test]
    fn a_list_after_a_clean_one_is_trusted() {
        let (_, uncertain) = listed_once().listing(&[], Instant::now(), Some(1));
        assert!(!uncertain);
    }

    #[test]
    fn a_copy_that_predates_the_last_adds_plans_on_confirmed_lists() {
        let mut memo = listed_once();
        memo.unsaved = ["r1".to_owned(), "r2".to_owned()].into();
        // The status write after the adds failed, or the cache lags: r2 is not in this copy.
        let (_, uncertain) = memo.listing(&[record("r1")], Instant::now(), Some(1));
        assert!(uncertain);
        assert_eq!(memo.unsaved.len(), 2, "kept until a copy shows them");
        // A copy with both: the adds are saved, and the next list is trusted again.
        let (_, uncertain) = memo.listing(&[record("r1"), record("r2")], Instant::now(), Some(1));
        assert!(!uncertain);
        assert!(memo.unsaved.is_empty());
        let (_, uncertain) = memo.listing(&[], Instant::now(), Some(1));
        assert!(!uncertain);
    }

    #[test]
    fn a_new_zone_is_fresh_only_while_its_adds_are_saved() {
        let mut memo = Memo {
            fresh: true,
            ..Memo::default()
        };
        memo.unsaved = ["r1".to_owned()].into();
        let (fresh, uncertain) = memo.listing(&[], Instant::now(), Some(1));
        assert!(!fresh);
        assert!(uncertain);
    }
}
