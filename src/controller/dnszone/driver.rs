//! The LunaDnsZone controller: the zone on the standard skeleton (observe through the shared
//! zone list, adopt by `import.id`, crash-safe create, delete), and its records by difference.
//!
//! Records: the spec's records are resolved (a `vmRef` to the LunaVM's public IP, a
//! `floatingIPRef` to the LunaFloatingIP's address) and compared with `status.records`, the
//! records the operator owns with the values it created them with. Only the difference is
//! written: `record-add` for what is missing, `record-remove` for what the spec no longer has;
//! an edited record is one remove and one add (the API cannot change a record). Records the
//! operator does not own are never removed unless `spec.prune` is true; a record in the zone
//! identical to one the spec lists is taken over instead of being added twice, which is also
//! how an add whose answer was lost (or a crash after it) is recovered without a duplicate.
//!
//! Which API form: `spec.api`, default `dns2` (see [`crate::api::dnszone`]).
//!
//! Steady-state cost, per zone: the record list (`record-list`) is read only when the spec
//! changed, when a referenced object's address changed the resolved records, when a reconcile
//! is requested, and otherwise once per drift interval (ten times the slow poll interval: 10
//! minutes by default), so 6 `record-list` calls per zone per hour and no writes. The zone list
//! is one `zone-list` per slow poll interval (60 per hour by default) per account, shared by all
//! its zones. A VM's IP change costs one `record-list`, then one `record-add` and one
//! `record-remove` per record that follows the VM.
//!
//! A referenced object without an address yet (a VM still building, a floating IP not yet
//! allocated) holds back only its own record: the others are written, the zone reports
//! `Ready=False` with reason `WaitingForReferences`, and the reference's watch wakes the zone
//! when the address appears. A record that already follows the reference keeps its last value
//! meanwhile.
//!
//! Beside this file: `decide` (the pure comparison: what to add, remove, take over or prune,
//! and in which order) and `references` (resolving `vmRef` and `floatingIPRef`).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::FutureExt;
use kube::{
    Resource, ResourceExt,
    runtime::{Controller, controller::Action, watcher},
};

use crate::controller::{
    Context,
    accounts::Account,
    error::Error,
    list_cache::ListCache,
    managed::{self, Blocked, Cx, External, Reconciler, cloud, ownership, set},
};
use crate::{
    api::{
        common::{DeletionPolicy, ManagedResource, ManagementPolicy, READY, SYNCED},
        dnszone::{
            AppliedRecord, DnsApi, LunaDnsZone, LunaDnsZoneStatus, RecordCounts, ZoneAtProvider,
            canonical_origin,
        },
        floating::LunaFloatingIP,
        vm::LunaVM,
    },
    lunanode::{
        self,
        types::{DnsRecord, DnsRecordAdd, DnsZone},
    },
};

pub use super::decide::{
    Listed, Plan, RecordKey, Waiting, Wanted, Write, data_key, order, plan, relative_name,
};
use super::{
    decide::wanted_key,
    references::{desired, floating_refs, vm_refs},
};
use crate::controller::reason::{ConditionStatus, Reason};

/// A zone as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedZone {
    /// Zone ID.
    pub id: String,
    /// Its origin in canonical form (`example.com.`).
    pub origin: String,
    /// Its default TTL, when listed.
    pub ttl: Option<u32>,
}

type ZoneList =
    futures::future::BoxFuture<'static, Result<Vec<(String, ObservedZone)>, lunanode::Error>>;

fn zones(list: Vec<DnsZone>) -> Vec<(String, ObservedZone)> {
    list.into_iter()
        .map(|zone| {
            (
                zone.id.clone(),
                ObservedZone {
                    id: zone.id,
                    origin: canonical_origin(&zone.name),
                    ttl: zone.ttl,
                },
            )
        })
        .collect()
}

fn list_dns2(client: lunanode::Client, _key: String) -> ZoneList {
    async move { Ok(zones(client.dns2_zone_list().await?)) }.boxed()
}

fn list_dns(client: lunanode::Client, _key: String) -> ZoneList {
    async move { Ok(zones(client.dns_zone_list().await?)) }.boxed()
}

/// The zone and record calls of one zone, in the API form the spec chose.
struct ZoneCalls<'a> {
    client: &'a lunanode::Client,
    api: DnsApi,
    zone: &'a str,
}

impl ZoneCalls<'_> {
    async fn list(&self) -> Result<Vec<DnsRecord>, lunanode::Error> {
        match self.api {
            DnsApi::Dns2 => self.client.dns2_record_list(self.zone).await,
            DnsApi::Dns => self.client.dns_record_list(self.zone).await,
        }
    }

    async fn add(&self, record: &Wanted) -> Result<Option<String>, lunanode::Error> {
        let add = DnsRecordAdd {
            zone_id: self.zone.to_owned(),
            name: record.name.clone(),
            record_type: record.record_type.clone(),
            data: record.data.clone(),
            ttl: record.ttl,
            extra: Vec::new(),
        };
        match self.api {
            DnsApi::Dns2 => self.client.dns2_record_add(&add).await,
            DnsApi::Dns => self.client.dns_record_add(&add).await,
        }
    }

    async fn remove(&self, record_id: &str) -> Result<(), lunanode::Error> {
        let removed = match self.api {
            DnsApi::Dns2 => self.client.dns2_record_remove(self.zone, record_id).await,
            DnsApi::Dns => {
                self.client
                    .dns_record_remove(Some(self.zone), record_id)
                    .await
            }
        };
        match removed {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }
}

// --- What the controller remembers between reconciles ------------------------------------------

/// Per zone, in memory: when its records were last listed and which adds the API refused.
/// Losing it (a restart) costs one `record-list` per zone and one retry of a refused add.
#[derive(Debug, Default)]
struct Memo {
    /// The zone was created by this process and has not been listed yet: nothing can be in it
    /// that a list could leave out.
    fresh: bool,
    /// A write may have taken effect without its answer (an error part way, an add answered
    /// without an ID): the next adds are planned on confirmed lists.
    uncertain: bool,
    /// The IDs of the records this process held after its last adds, until a copy of the
    /// object whose status lists them all is seen. A reconcile from an older copy (the status
    /// write after the adds failed, or the cache has not caught up) plans its adds on confirmed
    /// lists: one list that leaves a new record out would otherwise add it a second time.
    unsaved: BTreeSet<String>,
    listed_at: Option<Instant>,
    listed_generation: Option<i64>,
    rejected_generation: Option<i64>,
    rejected: BTreeMap<String, (RecordKey, u32, String)>,
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

/// The memos of one account's zones, by object uid: per-account state
/// ([`Account::state`]).
#[derive(Debug, Default)]
struct Memos(Mutex<HashMap<String, Memo>>);

fn memo<T>(account: &Account, uid: &str, f: impl FnOnce(&mut Memo) -> T) -> T {
    let memos = account.state::<Memos>();
    let mut memos = memos
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(memos.entry(uid.to_owned()).or_default())
}

fn forget(account: &Account, uid: &str) {
    account
        .state::<Memos>()
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(uid);
}

/// How often the records are read when nothing else asks for it.
fn drift_interval(ctx: &Context) -> Duration {
    ctx.accounts.timing().slow_interval * 10
}

// --- The controller ----------------------------------------------------------------------------

impl Reconciler for LunaDnsZone {
    const KIND: &'static str = "LunaDnsZone";

    async fn apply(
        object: &Self,
        status: &mut Self::Status,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<Action, Error> {
        let result = managed::apply_external(object, status, account, cx).await;
        // A zone has no transition the zone list could follow (it exists once created), and
        // records wait on references, not on the list: never poll the zone list fast for it.
        object
            .cache(account)
            .track(&object.uid().unwrap_or_default(), false);
        result
    }

    async fn cleanup(object: &Self, cx: &Cx<'_, Self>) -> Result<Action, Error> {
        let namespace = object.namespace().unwrap_or_default();
        if let Some(account) = cx
            .ctx
            .accounts
            .existing(&namespace, object.credentials_secret_name())
        {
            forget(&account, &object.uid().unwrap_or_default());
        }
        if let Some(action) = keep_shared_zone(object, cx).await? {
            return Ok(action);
        }
        managed::cleanup_external(object, cx).await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // A referenced VM or floating IP whose address changes re-reconciles the zones that
        // name it.
        controller
            .watches(
                managed::scoped::<LunaVM>(ctx),
                watcher::Config::default().any_semantic(),
                managed::referrers::<LunaDnsZone, LunaVM>(ctx, vm_refs),
            )
            .watches(
                managed::scoped::<LunaFloatingIP>(ctx),
                watcher::Config::default().any_semantic(),
                managed::referrers::<LunaDnsZone, LunaFloatingIP>(ctx, floating_refs),
            )
    }
}

/// With `Delete`, `prune: false` and records in the zone the operator does not own, the zone is
/// not the operator's to delete: it removes its own records and keeps the zone.
async fn keep_shared_zone(
    zone: &LunaDnsZone,
    cx: &Cx<'_, LunaDnsZone>,
) -> Result<Option<Action>, Error> {
    let status = zone.status.clone().unwrap_or_default();
    let Some(zone_id) = status.managed.id.as_deref() else {
        return Ok(None);
    };
    if zone.deletion_policy() != DeletionPolicy::Delete
        || zone.management_policy() != ManagementPolicy::Managed
        || zone.spec.prune
        || zone.is_paused()
    {
        return Ok(None);
    }
    let namespace = zone.namespace().unwrap_or_default();
    let Ok(account) = cx
        .ctx
        .accounts
        .get_for_cleanup(&namespace, zone.credentials_secret_name())
        .await
    else {
        // The standard cleanup reports the credentials problem.
        return Ok(None);
    };
    let calls = ZoneCalls {
        client: &account.client,
        api: zone.spec.api,
        zone: zone_id,
    };
    let origin = zone.spec.canonical_origin();
    let records = match calls.list().await {
        Ok(records) => records,
        Err(error) if error.is_not_found() => return Ok(None),
        Err(error) => return Err(cloud("list records", &cx.object, error)),
    };
    let owned: HashSet<&str> = status.records.iter().map(|r| r.id.as_str()).collect();
    let listed: Vec<Listed> = records
        .iter()
        .map(|record| Listed::from_api(record, &origin))
        .collect();
    let foreign = listed
        .iter()
        .filter(|record| !owned.contains(record.id.as_str()) && !record.is_service_record())
        .count();
    if foreign == 0 {
        return Ok(None);
    }
    let mut removed = 0;
    for record in listed.iter().filter(|r| owned.contains(r.id.as_str())) {
        calls
            .remove(&record.id)
            .await
            .map_err(|error| cloud("remove a record", &cx.object, error))?;
        removed += 1;
    }
    cx.event(
        zone,
        false,
        "ZoneKept",
        "Delete",
        format!(
            "kept zone {zone_id}: it holds {foreign} record(s) the operator did not create (prune is false); removed the operator's {removed} record(s)"
        ),
    )
    .await;
    zone.cache(&account)
        .untrack(&zone.uid().unwrap_or_default());
    Ok(Some(Action::await_change()))
}

impl External for LunaDnsZone {
    type Observed = ObservedZone;
    type Plan = ();

    fn cache(&self, account: &Account) -> Arc<ListCache<ObservedZone>> {
        match self.spec.api {
            DnsApi::Dns2 => account.caches.keyed("dns2 zone list", "dns2", list_dns2),
            DnsApi::Dns => account.caches.keyed("dns zone list", "dns", list_dns),
        }
    }

    fn create_name(&self) -> String {
        self.spec.canonical_origin()
    }

    fn is_create_of(&self, name: &str, observed: &ObservedZone) -> bool {
        observed.origin == name
    }

    async fn plan(
        &self,
        _account: &Arc<Account>,
        _cx: &Cx<'_, Self>,
    ) -> Result<Result<(), Blocked>, Error> {
        Ok(Ok(()))
    }

    async fn create(&self, _plan: &(), account: &Arc<Account>) -> Result<String, lunanode::Error> {
        let origin = self.spec.canonical_origin();
        let ttl = Some(self.spec.ttl);
        let created = match self.spec.api {
            DnsApi::Dns2 => {
                account
                    .client
                    .dns2_zone_add(origin.trim_end_matches('.'), ttl)
                    .await?
            }
            DnsApi::Dns => account.client.dns_zone_add(&origin, ttl).await?,
        };
        if let Some(id) = created {
            return Ok(id);
        }
        // The answer carried no ID: the zone is the one of that origin.
        let listed = match self.spec.api {
            DnsApi::Dns2 => account.client.dns2_zone_list().await?,
            DnsApi::Dns => account.client.dns_zone_list().await?,
        };
        listed
            .into_iter()
            .find(|zone| canonical_origin(&zone.name) == origin)
            .map(|zone| zone.id)
            .ok_or_else(|| lunanode::Error::Decode {
                message:
                    "zone-add answered without a zone_id, and no zone of that origin is listed"
                        .into(),
                snippet: String::new(),
            })
    }

    fn created(&self, status: &mut LunaDnsZoneStatus, plan: Option<&()>, account: &Account) {
        // A new zone (or one just adopted) holds none of the records an earlier zone had: read
        // it before anything else.
        status.records.clear();
        status.counts = None;
        let uid = self.uid().unwrap_or_default();
        forget(account, &uid);
        // Made just now (not adopted): empty but for the service records.
        memo(account, &uid, |memo| memo.fresh = plan.is_some());
    }

    fn report(&self, status: &mut LunaDnsZoneStatus, observed: &ObservedZone) {
        status.at_provider = Some(ZoneAtProvider {
            origin: Some(observed.origin.clone()),
            ttl: observed.ttl,
        });
    }

    async fn sync(
        &self,
        status: &mut LunaDnsZoneStatus,
        observed: &ObservedZone,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<Action, Error> {
        sync_records(self, status, observed, account, cx).await
    }

    async fn delete(
        &self,
        observed: &ObservedZone,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<(), Error> {
        let removed = match self.spec.api {
            DnsApi::Dns2 => account.client.dns2_zone_remove(&observed.id).await,
            DnsApi::Dns => account.client.dns_zone_remove(&observed.id).await,
        };
        match removed {
            Ok(()) => {
                cx.event(
                    self,
                    false,
                    "Deleted",
                    "Delete",
                    format!("deleted zone {} ({})", observed.id, observed.origin),
                )
                .await;
                Ok(())
            }
            Err(error) if error.is_not_found() => Ok(()),
            Err(error) => Err(cloud("delete zone", &cx.object, error)),
        }
    }
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

async fn sync_records(
    zone: &LunaDnsZone,
    status: &mut LunaDnsZoneStatus,
    observed: &ObservedZone,
    account: &Arc<Account>,
    cx: &Cx<'_, LunaDnsZone>,
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
    let rejected: Vec<(RecordKey, u32, String)> = memo(account, &uid, |memo| {
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
    let due = memo(account, &uid, |memo| {
        memo.listed_generation != generation
            || memo.listed_at.is_none_or(|at| at.elapsed() >= drift)
    });
    let calls = ZoneCalls {
        client: &account.client,
        api: zone.spec.api,
        zone: &observed.id,
    };
    let mut external = status.counts.as_ref().map_or(0, |counts| counts.external);
    let mut owned: Vec<AppliedRecord> = status.records.clone();
    let mut applied = Applied::default();
    if dry.writes() || due || requested_again {
        let started = Instant::now();
        let mut listed = list(&calls, &observed.origin, &cx.object).await?;
        let (fresh, uncertain) = memo(account, &uid, |memo| {
            memo.listing(&status.records, started, generation)
        });
        let mut plan = plan(
            &wanted_now,
            &waiting,
            &status.records,
            Some(&listed),
            zone.spec.prune,
        );
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
        memo(account, &uid, |memo| {
            memo.uncertain = result.is_err() || !applied.unidentified.is_empty();
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
    memo(account, &uid, |memo| {
        for (record, message) in &applied.rejected {
            memo.rejected.insert(
                record.describe(),
                (wanted_key(record), record.ttl, message.clone()),
            );
        }
    });
    let rejected: Vec<String> = memo(account, &uid, |memo| {
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
        set(
            status,
            zone,
            READY,
            ConditionStatus::False,
            Reason::RecordRejected,
            &message,
        );
        set(
            status,
            zone,
            SYNCED,
            ConditionStatus::False,
            Reason::RecordRejected,
            &message,
        );
    } else if !waiting.is_empty() {
        let mut reasons: Vec<String> = waiting.iter().map(|w| w.why.clone()).collect();
        reasons.sort();
        reasons.dedup();
        let message = format!(
            "{} record(s) wait for an address: {}",
            waiting.len(),
            reasons.join("; ")
        );
        set(
            status,
            zone,
            READY,
            ConditionStatus::False,
            Reason::WaitingForReferences,
            &message,
        );
    } else {
        let message = format!(
            "zone {} holds the {} record(s) of the spec",
            observed.id,
            wanted.len()
        );
        set(
            status,
            zone,
            READY,
            ConditionStatus::True,
            Reason::Available,
            &message,
        );
    }
    Ok(Action::requeue(drift))
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
                Err(error) if !error.is_retryable() && !error.may_have_taken_effect() => {
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

    fn record(id: &str) -> AppliedRecord {
        AppliedRecord {
            name: "www".into(),
            record_type: "A".into(),
            data: "192.0.2.1".into(),
            ttl: 3600,
            vm_ref: None,
            floating_ip_ref: None,
            id: id.into(),
        }
    }

    fn listed_once() -> Memo {
        let mut memo = Memo::default();
        memo.listing(&[], Instant::now(), Some(1));
        memo
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
