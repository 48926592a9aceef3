//! The standard cleanup (the finalizer): delete only the cloud object this object holds — or the
//! single unclaimed candidate of an interrupted create — on the account it was made in, wait for
//! the objects that use it, and release the finalizer only once the object is confirmed gone.

use std::{sync::Arc, time::Duration};

use kube::{ResourceExt, runtime::controller::Action};

use super::{
    driver::{CloudCx, Cx, cloud},
    external::{External, find, matching_in_lists},
    ownership::{self, AccountCheck, Identity, Target},
    references::wait_for_holders,
};
use crate::controller::reason::Reason;
use crate::{
    api::common::{DeletionPolicy, ManagedStatus, ManagementPolicy, READY, find_condition},
    controller::{error::Error, list_cache::ListCache},
};

/// Deletes the cloud object unless the policy keeps it; see the module docs.
pub async fn cleanup_external<K: External>(object: &K, cx: &Cx<'_, K>) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    if object.deletion_policy() == DeletionPolicy::Orphan
        || object.management_policy() == ManagementPolicy::ObserveOnly
    {
        return Ok(Action::await_change());
    }
    if object.is_paused() {
        // Paused means no writes at all: the finalizer stays until the pause ends.
        return Err(Error::Paused {
            object: cx.object.clone(),
        });
    }
    let status = object.managed_status().cloned().unwrap_or_default();
    let identity = Identity::of(object);
    let id = status
        .id()
        .map(str::to_owned)
        .or(identity.external_id.clone());
    let pending = status
        .pending_create()
        .cloned()
        .or(identity.pending.clone());
    if id.is_none() && pending.is_none() {
        return Ok(Action::await_change());
    }
    wait_for_holders(object, &status, cx, object.holders(cx.ctx).await?).await?;
    let namespace = object.namespace().unwrap_or_default();
    let account = cx
        .ctx
        .accounts
        .get_for_cleanup(&namespace, object.credentials_secret_name())
        .await
        .map_err(|source| Error::Credentials {
            object: cx.object.clone(),
            source,
        })?;
    super::driver::record_account(&account);
    let cx = &CloudCx {
        cx,
        account: &account,
    };
    if let AccountCheck::Changed { recorded } = ownership::check_account(
        identity.account.as_deref(),
        &account.api_id,
        None,
        id.as_deref(),
    ) {
        return Err(Error::DeletionBlocked {
            object: cx.object.clone(),
            reason: Reason::AccountChanged,
            message: format!(
                "the cloud object was made in Luna Node account {recorded} but the credentials now point at {}: nothing is deleted in either; point spec.credentialsSecretRef back at the old account, or set spec.deletionPolicy: Orphan to let the object go",
                account.api_id
            ),
        });
    }
    let cache = object.cache(&account);
    let target = match (&id, &pending) {
        (Some(id), _) => Target::Delete(id.clone()),
        (None, Some(pending)) => pending_target(object, cx, &cache, pending).await?,
        (None, None) => Target::Nothing,
    };
    let id = match target {
        Target::Delete(id) => id,
        Target::Nothing => {
            cache.untrack(&uid);
            return Ok(Action::await_change());
        }
        Target::Ambiguous(ids) => {
            return Err(Error::DeletionBlocked {
                object: cx.object.clone(),
                reason: Reason::AmbiguousCreate,
                message: format!(
                    "an interrupted create may have made any of {}; none is deleted. Delete the right one by hand, then set spec.deletionPolicy: Orphan",
                    ids.join(", ")
                ),
            });
        }
    };
    let snapshot = cache
        .observe(&uid, cx.ctx.accounts.timing().min_interval)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;
    // After its delete was sent (`Deleting`), its absence is the answer awaited. Before, an
    // object absent from lists alone may be one created moments ago that no list shows yet:
    // the absence must last, or its finalizer would go and the object leak.
    let deleting = find_condition(status.conditions(), READY)
        .is_some_and(|ready| !ready.is_true() && ready.reason == Reason::Deleting);
    let span = if deleting {
        Duration::ZERO
    } else {
        ownership::CREATE_SETTLE
    };
    let Some(observed) = find(object, &cache, &snapshot, &id, &account, span)
        .await
        .map_err(|source| cloud("read", &cx.object, source))?
    else {
        cache.untrack(&uid);
        return Ok(Action::await_change());
    };
    // A delete the API accepted may take a while: while the cloud says the object is being
    // deleted, wait for it to go instead of sending another delete.
    let observed = object.refine(observed, cx).await?;
    if object.is_being_deleted(&observed) {
        cache.track(&uid, true);
        return Err(Error::DeletionInProgress {
            object: cx.object.clone(),
            id,
        });
    }
    object.delete(&observed, cx).await?;
    cache.wrote(&uid);
    cache.track(&uid, true);
    // The finalizer goes only when a later look confirms the object is gone.
    Err(Error::DeletionInProgress {
        object: cx.object.clone(),
        id,
    })
}

/// The candidate of an interrupted create that a deletion must not leak: every candidate that
/// any of several lists made after the intent shows, judged against the claims as the API
/// server has them (see [`ownership::cleanup_target`]).
async fn pending_target<K: External>(
    object: &K,
    cx: &CloudCx<'_, K>,
    cache: &Arc<ListCache<K::Observed>>,
    pending: &crate::api::common::PendingCreate,
) -> Result<Target, Error> {
    let uid = object.uid().unwrap_or_default();
    let matches = matching_in_lists(object, cache, &pending.name)
        .await
        .map_err(|source| cloud("list", &cx.object, source))?;
    // Held until the candidate is recorded as this object's: no other object's recovery takes
    // it meanwhile, and once recorded, none takes it while it is being deleted.
    let claims = cx.fresh_claims().await?;
    let target = ownership::cleanup_target(
        None,
        Some(pending),
        &matches,
        &claims,
        &cx.account.api_id,
        &uid,
    );
    if let Target::Delete(id) = &target {
        let identity = Identity {
            external_id: Some(id.clone()),
            account: Some(cx.account.api_id.clone()),
            pending: None,
        };
        cx.save_identity(object, &identity, true).await?;
    }
    Ok(target)
}
