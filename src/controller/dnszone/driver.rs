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
//! and in which order), `act` (the record writes), `cloud` (the zone lists and the record
//! calls) and `references` (resolving `vmRef` and `floatingIPRef`).

use std::collections::HashSet;

use crate::api::{
    common::{DeletionPolicy, ManagementPolicy},
    dnszone::{DnsApi, LunaDnsZone, LunaDnsZoneStatus, ZoneAtProvider, canonical_origin},
    floating::LunaFloatingIP,
    vm::LunaVM,
};
use crate::controller::prelude::*;

pub use super::decide::{
    Listed, Plan, RecordKey, Waiting, Wanted, Write, data_key, order, plan, relative_name,
};
use super::{
    act::{forget, memo, sync_records},
    cloud::{ObservedZone, ZoneCalls, list_dns, list_dns2},
    references::{floating_refs, vm_refs},
};

// --- The controller ----------------------------------------------------------------------------

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

    managed::no_plan!();

    async fn create(&self, _plan: &(), client: &Client) -> Result<String, lunanode::Error> {
        let origin = self.spec.canonical_origin();
        let ttl = Some(self.spec.ttl);
        let created = match self.spec.api {
            DnsApi::Dns2 => {
                client
                    .dns2_zone_add(origin.trim_end_matches('.'), ttl)
                    .await?
            }
            DnsApi::Dns => client.dns_zone_add(&origin, ttl).await?,
        };
        // An answer without an ID: the zone is the listed one of that origin.
        let list = || async {
            match self.spec.api {
                DnsApi::Dns2 => client.dns2_zone_list().await,
                DnsApi::Dns => client.dns_zone_list().await,
            }
        };
        managed::create::answered_or_listed(created, "zone-add", list, |zone| {
            (canonical_origin(&zone.name) == origin).then(|| zone.id.clone())
        })
        .await
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

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        sync_records(self, status, observed, cx).await
    }

    async fn delete(&self, observed: &ObservedZone, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let removed = match self.spec.api {
            DnsApi::Dns2 => cx.client().dns2_zone_remove(&observed.id).await,
            DnsApi::Dns => cx.client().dns_zone_remove(&observed.id).await,
        };
        let note = format!("deleted zone {} ({})", observed.id, observed.origin);
        cx.deleted(self, "delete zone", removed, note).await
    }

    /// A zone has no transition the zone list could follow (it exists once created), and
    /// records wait on references, not on the list: never poll the zone list fast for it.
    const POLLS_TRANSITIONS: bool = false;

    fn forget(&self, account: &Account) {
        forget(account, &self.uid().unwrap_or_default());
    }

    async fn cleanup_instead(&self, cx: &Cx<'_, Self>) -> Result<Option<Action>, Error> {
        keep_shared_zone(self, cx).await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // A referenced VM or floating IP whose address changes re-reconciles the zones that
        // name it.
        controller
            .follows::<LunaVM>(ctx, vm_refs)
            .follows::<LunaFloatingIP>(ctx, floating_refs)
    }
}
