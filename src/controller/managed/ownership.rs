//! Which cloud objects are an object's own: the identity it records in its metadata, the claims
//! of the other objects, and the pure decisions built on them — what a new object does when its
//! name is taken, which candidate an interrupted create adopts, what a cleanup may delete, and
//! when a cloud object may be taken as gone. The rules are stated for users in
//! `docs/ownership.md`; every kind follows them through the skeleton.

use std::{collections::BTreeMap, time::Duration};

use kube::{Resource, ResourceExt};

use crate::api::common::{
    ACCOUNT_ANNOTATION, AdoptionPolicy, CREATE_PENDING_ANNOTATION, EXTERNAL_ID_ANNOTATION,
    ManagedResource, ManagedStatus, PendingCreate, READY,
};
use crate::controller::reason::Reason;

/// What an object records in its metadata about its cloud object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// `lunanode.com/external-id`.
    pub external_id: Option<String>,
    /// `lunanode.com/account`: the API ID of the account holding it.
    pub account: Option<String>,
    /// `lunanode.com/create-pending`.
    pub pending: Option<PendingCreate>,
}

impl Identity {
    /// The identity annotations of `object`. A malformed create-pending value counts as a
    /// pending create of unknown name: the recovery then finds no candidate by name, and the
    /// natural-key rule keeps a second object from being made silently.
    pub fn of<K: Resource>(object: &K) -> Self {
        let annotations = object.annotations();
        let text = |key: &str| {
            annotations
                .get(key)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        Self {
            external_id: text(EXTERNAL_ID_ANNOTATION),
            account: text(ACCOUNT_ANNOTATION),
            pending: annotations.get(CREATE_PENDING_ANNOTATION).map(|value| {
                serde_json::from_str(value).unwrap_or_else(|_| PendingCreate {
                    started_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                    ),
                    name: String::new(),
                    preexisting: Vec::new(),
                })
            }),
        }
    }

    /// The annotations as a JSON merge patch: every key present, `null` removes it.
    pub fn merge_patch(&self) -> BTreeMap<&'static str, Option<String>> {
        BTreeMap::from([
            (EXTERNAL_ID_ANNOTATION, self.external_id.clone()),
            (ACCOUNT_ANNOTATION, self.account.clone()),
            (
                CREATE_PENDING_ANNOTATION,
                self.pending
                    .as_ref()
                    .and_then(|pending| serde_json::to_string(pending).ok()),
            ),
        ])
    }
}

/// What another object of the same kind holds, as its controller's cache shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Its UID.
    pub uid: String,
    /// `namespace/name`, for messages.
    pub object: String,
    /// The cloud ID it holds (status or metadata).
    pub id: Option<String>,
    /// The account it recorded (`None` for objects from before the account was recorded).
    pub account: Option<String>,
    /// The name of a create it has pending.
    pub pending_name: Option<String>,
    /// When that create started.
    pub pending_since: Option<k8s_openapi::jiff::Timestamp>,
    /// It is being deleted: it lets go of its cloud object soon (deleted, or orphaned).
    pub releasing: bool,
    /// Its interrupted create stopped as ambiguous: it waits for a person, not for the cloud.
    pub ambiguous: bool,
}

impl Claim {
    /// The claim of `object`.
    pub fn of<K: ManagedResource>(object: &K) -> Self {
        let identity = Identity::of(object);
        let status = object.managed_status();
        let pending = status
            .and_then(ManagedStatus::pending_create)
            .cloned()
            .or(identity.pending);
        Self {
            uid: object.uid().unwrap_or_default(),
            object: format!(
                "{}/{}",
                object.namespace().unwrap_or_default(),
                object.name_any()
            ),
            id: status
                .and_then(ManagedStatus::id)
                .map(str::to_owned)
                .or(identity.external_id),
            account: identity.account,
            pending_name: pending.as_ref().map(|pending| pending.name.clone()),
            pending_since: pending.map(|pending| pending.started_at.0),
            releasing: object.meta().deletion_timestamp.is_some(),
            ambiguous: status.is_some_and(|status| {
                status.conditions().iter().any(|condition| {
                    condition.type_ == READY && condition.reason == Reason::AmbiguousCreate.as_str()
                })
            }),
        }
    }

    /// Whether this claim is another object's on the same account (an unrecorded account
    /// counts as the same: when in doubt, the object is someone's).
    pub fn is_other(&self, uid: &str, account: &str) -> bool {
        self.uid != uid && self.account.as_deref().is_none_or(|other| other == account)
    }

    /// Whether this is a create of `name` that has not settled at `now`: no ID recorded yet,
    /// not stopped as ambiguous, and started less than [`CREATE_TURN`] ago. For kinds whose
    /// objects have no name (floating IPs), every create of a region makes a candidate for
    /// every other's lost answer: two unsettled at once and a lost answer leaves neither able
    /// to tell its own, so such creates go one at a time. An older mark is not waited for: its
    /// object is stuck elsewhere (paused, a wrong import, an account switch), and whatever its
    /// create made shows in the lists by then, so a new create counts it as already there.
    pub fn unsettled_create_of(&self, name: &str, now: k8s_openapi::jiff::Timestamp) -> bool {
        let recent = self.pending_since.is_some_and(|since| {
            let age = now.duration_since(since);
            Duration::try_from(age).is_ok_and(|age| age < CREATE_TURN)
        });
        self.id.is_none() && !self.ambiguous && recent && self.pending_name.as_deref() == Some(name)
    }
}

/// The claim of the object other than `uid` that holds cloud ID `id` on `account`.
pub fn claimed_by<'a>(
    claims: &'a [Claim],
    id: &str,
    account: &str,
    uid: &str,
) -> Option<&'a Claim> {
    claims
        .iter()
        .find(|claim| claim.is_other(uid, account) && claim.id.as_deref() == Some(id))
}

/// Whether the credentials' account fits what the object recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCheck {
    /// The same account, or none recorded yet.
    Fits,
    /// `spec.import.id` names another object than the recorded one: the user moves the object
    /// to the new account by adopting there; the old identity is dropped.
    Reimport,
    /// Another account than the recorded one: stop, touch neither.
    Changed {
        /// The recorded API ID.
        recorded: String,
    },
}

/// Compares the recorded account with the one the credentials resolve to now.
pub fn check_account(
    recorded: Option<&str>,
    current: &str,
    import_id: Option<&str>,
    held_id: Option<&str>,
) -> AccountCheck {
    match recorded {
        None => AccountCheck::Fits,
        Some(recorded) if recorded == current => AccountCheck::Fits,
        Some(_) if import_id.is_some() && import_id != held_id => AccountCheck::Reimport,
        Some(recorded) => AccountCheck::Changed {
            recorded: recorded.to_owned(),
        },
    }
}

/// What a new object (no ID, no import, no pending create) does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fresh {
    /// Nothing unclaimed has its name: create.
    Create,
    /// Adopt this unclaimed object (`AdoptIfUnique`).
    Adopt(String),
    /// Another object's create of the same name is under way: look again later, when its ID
    /// tells whether the match is its.
    Wait(String),
    /// Stop with this reason and message until the spec changes.
    Stop(Reason, String),
}

/// Decides for a new object named `name` (its natural key), given the IDs of the listed cloud
/// objects with that key (`matches`). Objects that another object claims are not candidates
/// (two manifests may well ask for two objects of the same name); unclaimed ones are someone
/// else's or a lost status's, and are never duplicated silently.
pub fn decide_fresh(
    policy: AdoptionPolicy,
    kind: &str,
    name: &str,
    matches: &[String],
    claims: &[Claim],
    account: &str,
    uid: &str,
) -> Fresh {
    if policy == AdoptionPolicy::CreateDuplicate {
        return Fresh::Create;
    }
    let mut unclaimed: Vec<&String> = matches
        .iter()
        .filter(|id| claimed_by(claims, id, account, uid).is_none())
        .collect();
    unclaimed.sort();
    unclaimed.dedup();
    if unclaimed.is_empty() {
        return Fresh::Create;
    }
    if let Some(other) = claims.iter().find(|claim| {
        claim.is_other(uid, account)
            && claim.id.is_none()
            && claim.pending_name.as_deref() == Some(name)
    }) {
        return Fresh::Wait(format!(
            "{} is creating a {kind} named {name}; waiting to tell its object from others",
            other.object
        ));
    }
    let ids: Vec<&str> = unclaimed.iter().map(|id| id.as_str()).collect();
    match (policy, ids.as_slice()) {
        (AdoptionPolicy::AdoptIfUnique, [one]) => Fresh::Adopt((*one).to_owned()),
        (AdoptionPolicy::AdoptIfUnique, many) => Fresh::Stop(
            Reason::AmbiguousAdoption,
            format!(
                "{} objects named {name} exist on the account and none is managed ({}); set spec.import.id to the one to adopt",
                many.len(),
                many.join(", ")
            ),
        ),
        (_, ids) => Fresh::Stop(
            Reason::AlreadyExists,
            format!(
                "a {kind} named {name} already exists on the account and is not managed by any object ({}); to manage it set spec.import.id: {} (or spec.adoptionPolicy: AdoptIfUnique); to create another one anyway set spec.adoptionPolicy: CreateDuplicate",
                ids.join(", "),
                ids.first().copied().unwrap_or_default()
            ),
        ),
    }
}

/// What an interrupted create (its answer lost) finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// This object is what the create made.
    Adopt(String),
    /// Nothing the create could have made: it did not happen (once confirmed, create again).
    None,
    /// Several candidates: a human must say which.
    Ambiguous(Vec<String>),
}

/// The candidates of an interrupted create: listed objects with its name (`matches`) that
/// existed not before the intent (`pending.preexisting`) and that no other object claims.
pub fn recover(
    pending: &PendingCreate,
    matches: &[String],
    claims: &[Claim],
    account: &str,
    uid: &str,
) -> Recovery {
    let mut candidates: Vec<String> = matches
        .iter()
        .filter(|id| !pending.preexisting.contains(id))
        .filter(|id| claimed_by(claims, id, account, uid).is_none())
        .cloned()
        .collect();
    candidates.sort();
    candidates.dedup();
    match candidates.len() {
        0 => Recovery::None,
        1 => Recovery::Adopt(candidates.remove(0)),
        _ => Recovery::Ambiguous(candidates),
    }
}

/// What a cleanup may delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This ID, the object's own.
    Delete(String),
    /// Nothing: no ID, and no candidate of an interrupted create.
    Nothing,
    /// An interrupted create with several candidates: delete none, say so.
    Ambiguous(Vec<String>),
}

/// The cloud object a cleanup deletes: the ID the object holds, or the single candidate of an
/// interrupted create (see [`recover`]); never "the first object with that name".
pub fn cleanup_target(
    id: Option<&str>,
    pending: Option<&PendingCreate>,
    matches: &[String],
    claims: &[Claim],
    account: &str,
    uid: &str,
) -> Target {
    if let Some(id) = id {
        return Target::Delete(id.to_owned());
    }
    let Some(pending) = pending else {
        return Target::Nothing;
    };
    match recover(pending, matches, claims, account, uid) {
        Recovery::Adopt(id) => Target::Delete(id),
        Recovery::None => Target::Nothing,
        Recovery::Ambiguous(ids) => Target::Ambiguous(ids),
    }
}

/// What is known about whether a cloud object exists, beyond one list answer that lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// A read of the object found it.
    Present,
    /// A read of the object said it does not exist.
    Absent,
    /// The kind has no per-object read.
    Unknown,
}

/// How many list answers in a row must lack an object before it is taken as gone, when the kind
/// has no per-object read. Lists can leave entries out (eventual consistency, truncation): one
/// answer is never enough to re-create, release a finalizer, or give up on a lost create. With
/// one entry in five left out at random (the chaos test's rate), five answers in a row miss a
/// present object about three times in ten thousand.
pub const LISTS_TO_CONFIRM_ABSENCE: u32 = 5;

/// The same for records of a zone, which have no per-record read and are many per list: a
/// record is re-added only when this many record lists in a row lack it.
pub const RECORD_LISTS_TO_CONFIRM_ABSENCE: u32 = 8;

/// How long after a create intent its absence from the lists may be trusted: a new object can
/// take a while to show in a list. The same span is what an absence must last, in lists alone,
/// before an object with a recorded ID is created again: an object created moments ago and not
/// listed yet (a list behind its writes) is not one deleted outside the operator.
pub const CREATE_SETTLE: Duration = Duration::from_secs(15);

/// How long another object's unsettled create of the same name makes a nameless create wait
/// (see [`Claim::unsettled_create_of`]): four times [`CREATE_SETTLE`].
pub const CREATE_TURN: Duration = Duration::from_secs(60);

/// Whether an object missing from a list answer is gone: a per-object read decides when the kind
/// has one; otherwise [`LISTS_TO_CONFIRM_ABSENCE`] list answers in a row must lack it, over a
/// span long enough for the need (`spanned`: see [`CREATE_SETTLE`]).
pub fn confirmed_gone(read: Presence, lists_lacking: u32, spanned: bool) -> bool {
    match read {
        Presence::Present => false,
        Presence::Absent => true,
        Presence::Unknown => lists_lacking >= LISTS_TO_CONFIRM_ABSENCE && spanned,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};

    use super::*;

    fn claim(uid: &str, id: Option<&str>, account: Option<&str>) -> Claim {
        Claim {
            uid: uid.into(),
            object: format!("ns/{uid}"),
            id: id.map(Into::into),
            account: account.map(Into::into),
            pending_name: None,
            pending_since: None,
            releasing: false,
            ambiguous: false,
        }
    }

    fn ids(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    /// The decision for a fresh LunaVM `web` of object `me` on account `acct`, with `listed`
    /// the IDs of that name in the cloud.
    fn fresh(policy: AdoptionPolicy, listed: &[&str], claims: &[Claim]) -> Fresh {
        decide_fresh(policy, "LunaVM", "web", &ids(listed), claims, "acct", "me")
    }

    fn pending(name: &str, preexisting: &[&str]) -> PendingCreate {
        PendingCreate {
            started_at: Time(Timestamp::UNIX_EPOCH),
            name: name.into(),
            preexisting: ids(preexisting),
        }
    }

    #[test]
    fn an_unsettled_create_of_the_same_name_and_account_is_found() {
        let now = Timestamp::now();
        let creating = |uid: &str, name: &str, account: &str| {
            let mut claim = claim(uid, None, Some(account));
            claim.pending_name = Some(name.into());
            claim.pending_since = Some(now);
            claim
        };
        let mut settled = creating("settled", "toronto", "acct");
        settled.id = Some("7".into());
        let mut ambiguous = creating("stopped", "toronto", "acct");
        ambiguous.ambiguous = true;
        let mut old = creating("old", "toronto", "acct");
        old.pending_since = now
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(61))
            .ok();
        let quiet = vec![
            creating("me", "toronto", "acct"),
            creating("other-region", "roubaix", "acct"),
            creating("other-account", "toronto", "acct2"),
            settled,
            ambiguous,
            old,
        ];
        let unsettled = |claims: &[Claim]| {
            claims
                .iter()
                .find(|c| c.is_other("me", "acct") && c.unsettled_create_of("toronto", now))
                .map(|c| c.object.clone())
        };
        assert_eq!(unsettled(&quiet), None);
        let mut busy = quiet.clone();
        busy.push(creating("other", "toronto", "acct"));
        assert_eq!(unsettled(&busy).as_deref(), Some("ns/other"));
    }

    #[test]
    fn claims_count_only_other_objects_on_the_same_account() {
        let claims = vec![
            claim("me", Some("1"), Some("acct")),
            claim("other", Some("2"), Some("acct")),
            claim("elsewhere", Some("3"), Some("acct2")),
            claim("old", Some("4"), None),
        ];
        let holder = |id| claimed_by(&claims, id, "acct", "me").map(|claim| claim.object.as_str());
        assert_eq!(holder("1"), None);
        assert_eq!(holder("2"), Some("ns/other"));
        assert_eq!(holder("3"), None);
        assert_eq!(holder("4"), Some("ns/old"));
    }

    #[test]
    fn a_taken_name_is_refused_by_default_and_never_duplicated() {
        let decision = fresh(AdoptionPolicy::Refuse, &["9"], &[]);
        let Fresh::Stop(reason, message) = decision else {
            panic!("{decision:?}")
        };
        assert_eq!(reason, Reason::AlreadyExists);
        assert!(message.contains("spec.import.id: 9"), "{message}");
    }

    #[test]
    fn names_held_by_other_objects_do_not_block_a_create() {
        let claims = vec![claim("other", Some("9"), Some("acct"))];
        for policy in [AdoptionPolicy::Refuse, AdoptionPolicy::AdoptIfUnique] {
            assert_eq!(fresh(policy, &["9"], &claims), Fresh::Create);
        }
    }

    #[test]
    fn adopt_if_unique_adopts_one_and_stops_on_several() {
        assert_eq!(
            fresh(AdoptionPolicy::AdoptIfUnique, &["9"], &[]),
            Fresh::Adopt("9".into())
        );
        let many = fresh(AdoptionPolicy::AdoptIfUnique, &["9", "8"], &[]);
        assert!(
            matches!(many, Fresh::Stop(Reason::AmbiguousAdoption, ref m) if m.contains("8, 9"))
        );
    }

    #[test]
    fn nothing_of_the_name_means_create_whatever_the_claims() {
        // The driver skips building the claims when nothing of the name is listed: the
        // decision must not depend on them then, even with another object creating that name.
        let creating = Claim {
            uid: "other".into(),
            object: "ns/other".into(),
            id: None,
            account: Some("acct".into()),
            pending_name: Some("web".into()),
            pending_since: None,
            releasing: false,
            ambiguous: false,
        };
        for policy in [
            AdoptionPolicy::Refuse,
            AdoptionPolicy::AdoptIfUnique,
            AdoptionPolicy::CreateDuplicate,
        ] {
            let with = fresh(policy, &[], std::slice::from_ref(&creating));
            let without = fresh(policy, &[], &[]);
            assert_eq!(with, Fresh::Create);
            assert_eq!(without, Fresh::Create);
        }
    }

    #[test]
    fn create_duplicate_creates_whatever_exists() {
        assert_eq!(
            fresh(AdoptionPolicy::CreateDuplicate, &["9"], &[]),
            Fresh::Create
        );
    }

    #[test]
    fn another_objects_create_of_the_same_name_is_waited_for() {
        let mut creating = claim("other", None, Some("acct"));
        creating.pending_name = Some("web".into());
        let decision = fresh(AdoptionPolicy::Refuse, &["9"], &[creating]);
        assert!(matches!(decision, Fresh::Wait(_)), "{decision:?}");
    }

    #[test]
    fn recovery_adopts_the_single_new_unclaimed_candidate() {
        let claims = vec![claim("other", Some("2"), Some("acct"))];
        let pending = pending("web", &["1"]);
        assert_eq!(
            recover(&pending, &ids(&["1", "2", "3"]), &claims, "acct", "me"),
            Recovery::Adopt("3".into())
        );
        assert_eq!(
            recover(&pending, &ids(&["1", "2"]), &claims, "acct", "me"),
            Recovery::None
        );
        assert_eq!(
            recover(&pending, &ids(&["4", "3"]), &claims, "acct", "me"),
            Recovery::Ambiguous(ids(&["3", "4"]))
        );
    }

    #[test]
    fn cleanup_deletes_only_its_own_or_the_single_candidate() {
        let claims = vec![claim("other", Some("2"), Some("acct"))];
        assert_eq!(
            cleanup_target(Some("7"), None, &ids(&["2"]), &claims, "acct", "me"),
            Target::Delete("7".into())
        );
        let pending = pending("web", &["1"]);
        // The pre-existing one and the one another object claims are never deleted.
        assert_eq!(
            cleanup_target(
                None,
                Some(&pending),
                &ids(&["1", "2"]),
                &claims,
                "acct",
                "me"
            ),
            Target::Nothing
        );
        assert_eq!(
            cleanup_target(
                None,
                Some(&pending),
                &ids(&["1", "2", "5"]),
                &claims,
                "acct",
                "me"
            ),
            Target::Delete("5".into())
        );
        assert_eq!(
            cleanup_target(
                None,
                Some(&pending),
                &ids(&["5", "6"]),
                &claims,
                "acct",
                "me"
            ),
            Target::Ambiguous(ids(&["5", "6"]))
        );
        assert_eq!(
            cleanup_target(None, None, &ids(&["5"]), &claims, "acct", "me"),
            Target::Nothing
        );
    }

    #[test]
    fn a_changed_account_stops_unless_the_user_imports_anew() {
        assert_eq!(check_account(None, "a", None, None), AccountCheck::Fits);
        assert_eq!(
            check_account(Some("a"), "a", None, Some("1")),
            AccountCheck::Fits
        );
        assert_eq!(
            check_account(Some("a"), "b", None, Some("1")),
            AccountCheck::Changed {
                recorded: "a".into()
            }
        );
        // The import that made the object does not move it.
        assert_eq!(
            check_account(Some("a"), "b", Some("1"), Some("1")),
            AccountCheck::Changed {
                recorded: "a".into()
            }
        );
        assert_eq!(
            check_account(Some("a"), "b", Some("9"), Some("1")),
            AccountCheck::Reimport
        );
    }

    #[test]
    fn absence_needs_a_read_or_several_lists() {
        assert!(!confirmed_gone(Presence::Present, 10, true));
        assert!(confirmed_gone(Presence::Absent, 0, false));
        assert!(!confirmed_gone(Presence::Unknown, 1, true));
        assert!(confirmed_gone(
            Presence::Unknown,
            LISTS_TO_CONFIRM_ABSENCE,
            true
        ));
        // Enough lists, but all within moments: a list behind a create lacks it as well.
        assert!(!confirmed_gone(
            Presence::Unknown,
            LISTS_TO_CONFIRM_ABSENCE + 3,
            false
        ));
    }

    #[test]
    fn identity_round_trips_through_annotations() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let identity = Identity {
            external_id: Some("42".into()),
            account: Some("acct".into()),
            pending: Some(pending("web", &["1"])),
        };
        let mut object = ConfigMap::default();
        object.metadata.annotations = Some(
            identity
                .merge_patch()
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                .collect(),
        );
        assert_eq!(Identity::of(&object), identity);
        object
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(CREATE_PENDING_ANNOTATION.into(), "not json".into());
        let broken = Identity::of(&object).pending.unwrap();
        assert!(broken.name.is_empty());
    }
}
