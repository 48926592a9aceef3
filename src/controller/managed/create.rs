//! An object without a cloud ID: adopt (`spec.import.id`, or the adoption policy when its name
//! is taken), finish a create whose answer was lost, or create — recording the intent in the
//! metadata first, conditional on the object's `resourceVersion`, so that neither a crash, a
//! lost answer nor a stale copy of the object ever makes a second cloud object.

use std::{sync::Arc, time::Duration};

use crate::controller::reason::Reason;
use crate::lunanode;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{ResourceExt, runtime::controller::Action};

use super::{
    driver::{CloudCx, cloud, mark, refused_at_generation, stuck, stuck_anew},
    external::{External, find, matching, matching_in_lists},
    ownership::{self, Fresh, Identity, Recovery},
};
use crate::{
    api::common::{ManagedStatus, ManagementPolicy, PendingCreate},
    controller::{error::Error, list_cache::ListCache},
};

/// How soon an object waiting for a holder being deleted looks again.
const RELEASE_RETRY: Duration = Duration::from_secs(5);

/// How soon a create waiting for another's to settle (see [`ownership::Claim::unsettled_create_of`])
/// looks again (in the watch cache: no call at all).
const CREATE_TURN_RETRY: Duration = Duration::from_secs(2);

/// How often an object refused as `AlreadyManaged` looks at the claims again (one read of the
/// kind's objects from the API server; no cloud call).
const CLAIM_RECHECK: Duration = Duration::from_secs(300);

/// No cloud ID yet: adopt, recover an interrupted create, or create.
pub async fn find_or_create<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
    cache: &Arc<ListCache<K::Observed>>,
) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    let timing = cx.ctx.accounts.timing();
    let list_error = |source| cloud("list", &cx.object, source);

    // Explicit adoption.
    if let Some(import_id) = object.import_id().map(str::to_owned) {
        let snapshot = cache.get(timing.fast_interval).await.map_err(list_error)?;
        if find(
            object,
            cache,
            &snapshot,
            &import_id,
            cx.account,
            ownership::CREATE_SETTLE,
        )
        .await
        .map_err(list_error)?
        .is_none()
        {
            let message = format!(
                "{import_id} named by spec.import.id does not exist on the account of the credentials"
            );
            stuck(status, object, Reason::ImportNotFound, &message);
            return Ok(Action::await_change());
        }
        return adopt(object, status, cx, &import_id, "Import").await;
    }
    if object.management_policy() == ManagementPolicy::ObserveOnly {
        stuck(
            status,
            object,
            Reason::NothingToObserve,
            "ObserveOnly needs spec.import.id: the operator never creates in this mode",
        );
        return Ok(Action::await_change());
    }

    // The API refused a create for this very spec: wait for the spec to change or for a
    // reconcile request.
    let refused = refused_at_generation(status, object, Reason::CreateFailed);
    let requested_again = object
        .reconcile_requested_at()
        .is_some_and(|requested| status.last_reconcile_request() != Some(requested));
    if refused && !requested_again {
        return Ok(Action::await_change());
    }

    // An earlier create may have happened without its answer reaching us: look first.
    if let Some(pending) = status.pending_create().cloned() {
        if let Some(action) = recover(object, status, cx, cache, &pending).await? {
            return Ok(action);
        }
    }

    let plan = match object.plan(cx).await? {
        Ok(plan) => plan,
        Err(blocked) => return Ok(blocked.apply(status, object)),
    };
    let snapshot = cache.get(timing.fast_interval).await.map_err(list_error)?;
    let name = object.create_name_for(&plan);
    let preexisting = matching(object, &snapshot, &name);
    if object.has_natural_key() {
        // The claims matter only when an object of the name exists already; building them costs
        // one pass over every object of the kind, which for N creates in a row was N² claims.
        let claims = if preexisting.is_empty() {
            Vec::new()
        } else {
            // This copy may be behind this object's own create (the watch lags under load): the
            // listed object would then be its own, taken for someone else's. Read the object
            // itself before judging the name taken.
            if cx.behind(object).await? {
                return Ok(Action::requeue(super::driver::STALE_RETRY));
            }
            cx.claims()
        };
        match ownership::decide_fresh(
            object.adoption_policy(),
            K::KIND,
            &name,
            &preexisting,
            &claims,
            &cx.account.api_id,
            &uid,
        ) {
            Fresh::Create => {}
            Fresh::Adopt(id) => {
                return adopt(object, status, cx, &id, "AdoptIfUnique").await;
            }
            Fresh::Wait(message) => {
                mark(status, object)
                    .not_ready(Reason::WaitingForName, &message)
                    .synced(Reason::WaitingForName, &message);
                return Ok(Action::requeue(Duration::from_secs(10)));
            }
            Fresh::Stop(reason, message) => {
                stuck(status, object, reason, &message);
                cx.warn(object, reason, "Create", message).await;
                return Ok(Action::await_change());
            }
        }
    }

    // Without a name, another object's unsettled create of the same region would be a
    // candidate for this one's lost answer, and this one for its: one at a time. The claims are
    // held until the intent is recorded, so the next create of the region sees it.
    let turn = if object.has_natural_key() {
        None
    } else {
        // The watch cache first (no call): a waiting create costs nothing until it may go.
        // Then the API server's claims, held until the intent is recorded.
        let account = &cx.account.api_id;
        let now = Timestamp::now();
        let unsettled = |claims: &[ownership::Claim]| {
            claims
                .iter()
                .find(|claim| {
                    claim.is_other(&uid, account) && claim.unsettled_create_of(&name, now)
                })
                .map(|claim| claim.object.clone())
        };
        let mut other = unsettled(&cx.claims());
        let held = if other.is_none() {
            let claims = cx.fresh_claims().await?;
            other = unsettled(&claims);
            Some(claims)
        } else {
            None
        };
        if let Some(other) = other {
            let message = format!(
                "waiting for the create of {other} in {name} to settle: creates that name no object go one at a time"
            );
            mark(status, object).not_ready(Reason::Creating, &message);
            return Ok(Action::requeue(CREATE_TURN_RETRY));
        }
        held
    };

    // Record the intent first, in the metadata and conditional on the copy this reconcile
    // started from: if the answer is lost, the next reconcile looks the object up instead of
    // creating a second one, and a reconcile from a stale copy stops here.
    let pending = PendingCreate {
        started_at: Time(Timestamp::now()),
        name: name.clone(),
        preexisting,
    };
    status.set_pending_create(Some(pending.clone()));
    let intent = Identity {
        external_id: None,
        account: Some(cx.account.api_id.clone()),
        pending: Some(pending),
    };
    cx.save_identity(object, &intent, true).await?;
    // And in status, until a status write of the kind has succeeded in the namespace: an
    // operator that cannot report what it does (a role without the status right) must not make
    // cloud objects nobody sees. Once one has, the status is written after the create only: the
    // intent in the metadata is what a lost answer is recovered from.
    let namespace = object.namespace().unwrap_or_default();
    if !cx.ctx.registry.status_writable::<K>(&namespace) {
        cx.save(object, status).await?;
    }
    drop(turn);

    tracing::info!(natural_key = %name, "creating {}", K::KIND);
    match object.create(&plan, cx.client()).await {
        Ok(id) => {
            status.set_pending_create(None);
            status.set_id(Some(id.clone()));
            object.created(status, Some(&plan), cx.account);
            record_id(object, cx, &id).await?;
            mark(status, object)
                .not_ready(Reason::Creating, &format!("{id} was created"))
                .synced(Reason::Created, &format!("created {id}"));
            cache.track(&uid, true);
            // The next look waits for a list started after the create: one shared list then
            // shows every object created meanwhile, where an older one would send each new ID
            // to a per-object read.
            cache.wrote(&uid);
            cx.event(object, false, "Created", "Create", format!("created {id}"))
                .await;
            Ok(Action::requeue(K::after_create(timing)))
        }
        Err(error) if error.is_refused() => {
            // The API refused: nothing was created. Terminal until the spec changes.
            status.set_pending_create(None);
            let refused = Identity {
                pending: None,
                ..intent
            };
            cx.save_identity(object, &refused, false).await?;
            let message = error.to_string();
            stuck(status, object, Reason::CreateFailed, &message);
            cx.warn(object, Reason::CreateFailed, "Create", message)
                .await;
            Ok(Action::await_change())
        }
        // Unknown outcome: keep the pending mark; the retry looks before it creates.
        Err(error) => Err(cloud("create", &cx.object, error)),
    }
}

/// Finishes an interrupted create: `Some(action)` when it is settled here (adopted, ambiguous,
/// or too early to tell), `None` when the create certainly did not happen and may run again.
async fn recover<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
    cache: &Arc<ListCache<K::Observed>>,
    pending: &PendingCreate,
) -> Result<Option<Action>, Error> {
    let uid = object.uid().unwrap_or_default();
    let list_error = |source| cloud("list", &cx.object, source);
    // The watch cache may lag behind this object's own last write (the ID recorded right after
    // the create): read the object itself before taking the create as interrupted.
    let fresh = cx.read_fresh(object).await?;
    let identity = Identity::of(&fresh);
    let still_pending = fresh
        .managed_status()
        .and_then(|status| status.pending_create())
        .is_some()
        || identity.pending.is_some();
    if fresh.status_id().is_some() || identity.external_id.is_some() || !still_pending {
        // Settled meanwhile (an ID recorded, or the create refused): this copy is stale.
        cx.stale();
        return Ok(Some(Action::requeue(super::driver::STALE_RETRY)));
    }
    // Every candidate that any of several lists shows (a list may leave one out), judged
    // against the claims as the API server has them: the watch cache may not show yet the claim
    // another object just recorded on the same candidate.
    let matches = matching_in_lists(object, cache, &pending.name)
        .await
        .map_err(list_error)?;
    let claims = cx.fresh_claims().await?;
    match ownership::recover(pending, &matches, &claims, &cx.account.api_id, &uid) {
        Recovery::Adopt(found) => {
            status.set_pending_create(None);
            status.set_id(Some(found.clone()));
            object.created(status, None, cx.account);
            record_id(object, cx, &found).await?;
            cx.event(
                object,
                false,
                "CreateRecovered",
                "Create",
                format!("found {found} created by an earlier attempt"),
            )
            .await;
            cache.track(&uid, true);
            Ok(Some(Action::requeue(Duration::from_millis(100))))
        }
        Recovery::Ambiguous(ids) => {
            let message = format!(
                "failed to tell which object an interrupted create made: {} match {} ({}); set spec.import.id to the right one and delete the others",
                ids.len(),
                pending.name,
                ids.join(", ")
            );
            stuck(status, object, Reason::AmbiguousCreate, &message);
            cx.warn(object, Reason::AmbiguousCreate, "Create", message)
                .await;
            Ok(Some(Action::await_change()))
        }
        Recovery::None => {
            // A new object may take a while to show in the list: only a settled intent whose
            // lists show no candidate means "not made".
            let age = pending_age(pending);
            if age < ownership::CREATE_SETTLE {
                let message = format!(
                    "looking for {} created by an interrupted attempt",
                    pending.name
                );
                mark(status, object).not_ready(Reason::Creating, &message);
                return Ok(Some(Action::requeue(ownership::CREATE_SETTLE - age)));
            }
            // The intent is void: recorded so, or another object's create of the same name
            // would wait on it (see `Claim::unsettled_create_of`).
            status.set_pending_create(None);
            let void = Identity {
                pending: None,
                ..identity
            };
            cx.save_identity(object, &void, false).await?;
            Ok(None)
        }
    }
}

fn pending_age(pending: &PendingCreate) -> Duration {
    let started = pending.started_at.0;
    let elapsed = Timestamp::now().duration_since(started);
    Duration::try_from(elapsed).unwrap_or(Duration::ZERO)
}

/// Takes over `id` (checked to exist): refuses one that another object manages.
async fn adopt<K: External>(
    object: &K,
    status: &mut K::Status,
    cx: &CloudCx<'_, K>,
    id: &str,
    how: &str,
) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    // Held until the ID is recorded: no other object takes `id` meanwhile.
    let claims = cx.fresh_claims().await?;
    if let Some(other) = ownership::claimed_by(&claims, id, &cx.account.api_id, &uid) {
        if other.releasing {
            // Its holder is being deleted (orphaned, say, to hand it over): it lets go soon.
            let message = format!(
                "{id} is held by {} {}, which is being deleted; waiting for it to let go",
                K::KIND,
                other.object
            );
            mark(status, object)
                .not_ready(Reason::WaitingForRelease, &message)
                .synced(Reason::WaitingForRelease, &message);
            return Ok(Action::requeue(RELEASE_RETRY));
        }
        let message = format!(
            "{id} is already managed by {} {}: one cloud object has one manager",
            K::KIND,
            other.object
        );
        if stuck_anew(status, object, Reason::AlreadyManaged, &message) {
            cx.warn(object, Reason::AlreadyManaged, "Import", message)
                .await;
        }
        // The holder's release wakes this object (see `Waker::wake_refused`); the slow look
        // covers a holder that lets go otherwise (its own import changed).
        return Ok(Action::requeue(CLAIM_RECHECK));
    }
    status.set_pending_create(None);
    status.set_id(Some(id.to_owned()));
    object.created(status, None, cx.account);
    record_id(object, cx, id).await?;
    cx.event(
        object,
        false,
        "Adopted",
        how,
        format!("adopted existing {id}"),
    )
    .await;
    Ok(Action::requeue(Duration::from_millis(100)))
}

/// Writes the cloud ID and the account into the metadata, ending any pending create.
async fn record_id<K: External>(object: &K, cx: &CloudCx<'_, K>, id: &str) -> Result<(), Error> {
    let identity = Identity {
        external_id: Some(id.to_owned()),
        account: Some(cx.account.api_id.clone()),
        pending: None,
    };
    cx.save_identity(object, &identity, false).await
}

/// The ID a create call answered or, when the answer carried none, the ID of the one object of
/// the created name that a list made after it shows (`pick` gives the ID of a listed object of
/// that name). Where none or several are listed (the name was taken before, under
/// `CreateDuplicate`), the create's outcome stays unknown: the error keeps the pending intent,
/// and its recovery tells the new object from those listed before the create. `call` names the
/// create for the error.
pub async fn answered_or_listed<T, Fut>(
    answered: Option<String>,
    call: &str,
    list: impl FnOnce() -> Fut,
    pick: impl Fn(&T) -> Option<String>,
) -> Result<String, lunanode::Error>
where
    Fut: Future<Output = Result<Vec<T>, lunanode::Error>>,
{
    if let Some(id) = answered {
        return Ok(id);
    }
    let listed: Vec<String> = list().await?.iter().filter_map(pick).collect();
    match listed.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(lunanode::Error::decode(format!(
            "{call} answered without an ID, and no object of the name it was given is listed"
        ))),
        _ => Err(lunanode::Error::decode(format!(
            "{call} answered without an ID, and {} objects of the name it was given are listed",
            listed.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::answered_or_listed;
    use crate::lunanode;

    async fn pick(answered: Option<&str>, listed: &[(&str, &str)]) -> Option<String> {
        let listed: Vec<(String, String)> = listed
            .iter()
            .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
            .collect();
        let result = answered_or_listed(
            answered.map(str::to_owned),
            "net/create",
            || async { Ok::<_, lunanode::Error>(listed) },
            |(id, name)| (name == "web").then(|| id.clone()),
        )
        .await;
        if let Err(error) = &result {
            // An unknown outcome, never a refusal: the pending intent stays.
            assert!(error.may_have_taken_effect(), "{error}");
        }
        result.ok()
    }

    #[tokio::test]
    async fn the_answer_wins_and_a_list_names_only_a_single_object() {
        assert_eq!(pick(Some("7"), &[("1", "web")]).await.as_deref(), Some("7"));
        assert_eq!(
            pick(None, &[("1", "db"), ("2", "web")]).await.as_deref(),
            Some("2")
        );
        // Nothing of the name, or two of it (one from before): not for this step to guess.
        assert_eq!(pick(None, &[("1", "db")]).await, None);
        assert_eq!(pick(None, &[("1", "web"), ("2", "web")]).await, None);
    }
}
