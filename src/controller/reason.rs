//! The reasons of the `Ready` and `Synced` conditions: one enum, with the string form in one
//! place (the status of a condition is [`ConditionStatus`], beside the condition type it is part
//! of). The strings are part of the contract (`kubectl wait`, alerts, the docs and the tests
//! match them): never change one, add a variant instead.

use std::fmt;

use k8s_openapi::jiff::Timestamp;

use crate::api::common::{
    Condition, READY, RECONCILING, STALLED, SYNCED, find_condition, set_condition,
};

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident,)*) => {
        /// A reason of the `Ready` or `Synced` condition.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            /// Every reason, for tests and docs.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The reason as written to the condition (the variant's name).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

reasons! {
    // Ready=True.
    /// The cloud object exists and matches the spec.
    Available,
    /// `ObserveOnly`: the cloud object is reported, never written.
    Observed,
    /// A schedule runs: its last snapshot is usable or being made.
    Scheduled,
    /// `ObserveOnly` with nothing named to observe.
    NothingToObserve,
    // Synced=True.
    /// The last reconcile succeeded.
    ReconcileSuccess,
    // Work in progress (Ready=False).
    /// A create or update is under way.
    InProgress,
    /// The cloud object is being created.
    Creating,
    /// A write was made and is being confirmed.
    Updating,
    /// A volume is being extended.
    Extending,
    /// A load balancer is being built.
    Provisioning,
    /// A floating IP or volume is being attached.
    Attaching,
    /// A volume is being detached.
    Detaching,
    /// The cloud object was just created.
    Created,
    /// The cloud object is being deleted.
    Deleting,
    /// Load balancer members are not all in the pool yet.
    MembersPending,
    /// The load balancer's floating IP is not associated yet.
    FloatingIPPending,
    // Waiting for another object.
    /// The LunaVM referred to is not ready.
    WaitingForVM,
    /// The natural key is not known yet.
    WaitingForName,
    /// The LunaFloatingIP referred to has no address yet.
    WaitingForFloatingIP,
    /// The LunaNetwork referred to has no ID yet.
    WaitingForNetwork,
    /// The LunaSSHKey referred to has no ID yet.
    WaitingForSSHKey,
    /// The LunaImage referred to has no ID yet, or is not active yet.
    WaitingForImage,
    /// The e-mail domain named is not hosted on the account yet.
    WaitingForDomain,
    /// The LunaMonitorContact referred to has no ID yet.
    WaitingForContact,
    /// The LunaMonitorContact referred to does not exist.
    ContactNotFound,
    /// The cloud object cannot be changed in place: it is deleted, to be made again as the
    /// spec says.
    Replacing,
    /// The Secret (or its key) the spec names does not exist.
    SecretNotFound,
    /// The LunaVolume or LunaVolumeSnapshot referred to has no ID yet, or is not Ready yet.
    WaitingForVolume,
    /// A LunaSecurityGroup referred to has no ID yet.
    WaitingForSecurityGroup,
    /// A LunaStartupScript referred to has no ID yet.
    WaitingForStartupScript,
    /// Some records wait for a referenced object's address.
    WaitingForReferences,
    /// The LunaNetwork referred to is not ready.
    NetworkNotReady,
    // References and inputs.
    /// The LunaVM referred to does not exist.
    VMNotFound,
    /// The LunaNetwork referred to does not exist.
    NetworkNotFound,
    /// The LunaFloatingIP referred to does not exist.
    FloatingIPNotFound,
    /// The LunaSSHKey referred to does not exist.
    SSHKeyNotFound,
    /// The LunaImage referred to does not exist.
    LunaImageNotFound,
    /// The LunaVolume or LunaVolumeSnapshot referred to does not exist.
    VolumeNotFound,
    /// A LunaSecurityGroup referred to does not exist.
    SecurityGroupNotFound,
    /// A LunaStartupScript referred to does not exist.
    StartupScriptNotFound,
    /// The Secret (or its key) a startup script's content comes from is missing.
    ScriptSourceNotFound,
    /// A network is required and none is named.
    NetworkRequired,
    /// The network is in another region.
    NetworkInOtherRegion,
    /// The image does not exist.
    ImageNotFound,
    /// A create or resize would bring the managed VMs over the monthly budget
    /// (`--max-monthly-cost`); looked at again every minute.
    BudgetExceeded,
    /// The image is still being made (`queued`, `saving`): the create waits for it.
    ImageNotReady,
    /// The image is `killed` or in `error` at Luna Node: it cannot be used.
    ImageFailed,
    /// The LunaImage referred to is in another region than the object that takes it.
    ImageInOtherRegion,
    /// What a LunaImage is made from cannot make it: a VM in another region, a replica asked
    /// for in its source's region or under another name than its source's.
    InvalidSource,
    /// `import.id` names no cloud object.
    ImportNotFound,
    /// The cloud object is gone.
    NotFound,
    /// The cloud object differs from the spec in a create-only field.
    SpecMismatch,
    /// The spec changes the image without `allowReimage`.
    ReimageNotAllowed,
    // Failures.
    /// A create was refused.
    CreateFailed,
    /// An update was refused.
    UpdateFailed,
    /// A resize was refused.
    ResizeFailed,
    /// A resize was answered with success and the VM kept its plan.
    ResizeNotApplied,
    /// Luna Node reports the VM in `ERROR`.
    VMError,
    /// The VM is still building past `spec.buildTimeoutSeconds`.
    BuildTimedOut,
    /// Luna Node reports the volume in `error`.
    VolumeError,
    /// A failed VM is being deleted to be created again (`onError: Recreate`).
    ReplacingFailedVM,
    /// A failed image is being deleted to be made again (`onError: Recreate`).
    ReplacingFailedImage,
    /// Luna Node reports the volume snapshot in `error`.
    SnapshotFailed,
    /// An update Luna Node answered success for was repeated and still does not show.
    UpdateNotApplied,
    /// A schedule's last snapshot failed; the next run takes another.
    LastSnapshotFailed,
    /// A check's type is not one of `monitor check-types`, or its parameters do not fit it.
    InvalidCheck,
    /// An extend was refused.
    ExtendFailed,
    /// An attach was refused.
    AttachFailed,
    /// A delete was refused.
    DeleteFailed,
    /// The API refused a record.
    RecordRejected,
    /// The load balancer is in an error state.
    LoadBalancerFailed,
    /// The connection Secret belongs to someone else.
    ConnectionSecretConflict,
    // Ownership.
    /// An unclaimed cloud object has the natural key already.
    AlreadyExists,
    /// The cloud object is managed by another object.
    AlreadyManaged,
    /// The cloud object is held by another object that is being deleted.
    WaitingForRelease,
    /// An interrupted create may have made any of several cloud objects.
    AmbiguousCreate,
    /// Several cloud objects match the adoption.
    AmbiguousAdoption,
    /// The credentials now point at another account.
    AccountChanged,
    // Deletion.
    /// Deletion waits for objects that use this one.
    InUse,
    /// Deletion needs a human.
    DeletionBlocked,
    /// Deletion is paused.
    DeletionPaused,
    /// Deletion waits for the credentials Secret.
    DeletionWaitsForCredentials,
    // The error categories (see `controller::error::Category`).
    /// The API throttled the operator.
    Throttled,
    /// The API was unavailable (5xx, timeout).
    CloudUnavailable,
    /// The API refused the credentials.
    AuthenticationFailed,
    /// The API answered something unexpected.
    UnexpectedAnswer,
    /// The API refused a call.
    CloudRefused,
    /// The Kubernetes API failed.
    KubernetesError,
    /// The credentials Secret is missing or invalid.
    CredentialsInvalid,
    /// The credentials Secret's watch has not delivered it yet.
    CredentialsUnavailable,
    /// Reconciling is paused by the annotation.
    ReconcilePaused,
    /// Any other failure.
    ReconcileError,
}

/// Where an object stands when `Ready` or `Synced` is `False` for a reason: what the kstatus
/// conditions (`Reconciling`, `Stalled`) say of it, for Flux, Argo CD and `kubectl wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing to do, or paused by the user: neither `Reconciling` nor `Stalled`.
    Settled,
    /// Work under way, waiting for another object, or a failure the operator retries on its
    /// own: `Reconciling=True`.
    Working,
    /// Stopped until the manifest, the credentials or the cloud changes (a refused create, a
    /// name taken by another object, an image that does not exist): `Stalled=True`.
    Stalled,
}

impl Reason {
    /// The reason of this string, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|reason| reason.as_str() == text)
    }

    /// Where an object whose `Ready` or `Synced` is `False` for this reason stands. Every
    /// reason is placed here (the match has no catch-all), so a new reason must say whether the
    /// operator retries it on its own.
    pub const fn progress(self) -> Progress {
        match self {
            Self::Available
            | Self::Observed
            | Self::Scheduled
            | Self::NothingToObserve
            | Self::ReconcileSuccess
            | Self::ReconcilePaused
            | Self::DeletionPaused => Progress::Settled,
            Self::InProgress
            | Self::Creating
            | Self::Updating
            | Self::Extending
            | Self::Provisioning
            | Self::Attaching
            | Self::Detaching
            | Self::Created
            | Self::Deleting
            | Self::MembersPending
            | Self::FloatingIPPending
            | Self::WaitingForVM
            | Self::WaitingForName
            | Self::WaitingForFloatingIP
            | Self::WaitingForNetwork
            | Self::WaitingForSSHKey
            | Self::WaitingForImage
            | Self::WaitingForDomain
            | Self::WaitingForContact
            | Self::ContactNotFound
            | Self::Replacing
            | Self::SecretNotFound
            | Self::WaitingForVolume
            | Self::LastSnapshotFailed
            | Self::VolumeNotFound
            | Self::LunaImageNotFound
            | Self::ReplacingFailedImage
            | Self::WaitingForSecurityGroup
            | Self::WaitingForStartupScript
            | Self::StartupScriptNotFound
            | Self::WaitingForReferences
            | Self::WaitingForRelease
            | Self::ImageNotReady
            | Self::ReplacingFailedVM
            | Self::NetworkNotReady
            | Self::VMNotFound
            | Self::NetworkNotFound
            | Self::FloatingIPNotFound
            | Self::SSHKeyNotFound
            | Self::SecurityGroupNotFound
            | Self::ScriptSourceNotFound
            | Self::InUse
            | Self::DeletionWaitsForCredentials
            | Self::DeleteFailed
            | Self::Throttled
            | Self::CloudUnavailable
            | Self::UnexpectedAnswer
            | Self::CloudRefused
            | Self::KubernetesError
            | Self::CredentialsUnavailable
            | Self::ReconcileError => Progress::Working,
            Self::ImageNotFound
            | Self::BudgetExceeded
            | Self::ImageFailed
            | Self::ImageInOtherRegion
            | Self::SnapshotFailed
            | Self::InvalidCheck
            | Self::InvalidSource
            | Self::VolumeError
            | Self::ImportNotFound
            | Self::NotFound
            | Self::SpecMismatch
            | Self::ReimageNotAllowed
            | Self::NetworkRequired
            | Self::NetworkInOtherRegion
            | Self::CreateFailed
            | Self::UpdateFailed
            | Self::UpdateNotApplied
            | Self::ResizeFailed
            | Self::ResizeNotApplied
            | Self::VMError
            | Self::BuildTimedOut
            | Self::ExtendFailed
            | Self::AttachFailed
            | Self::RecordRejected
            | Self::LoadBalancerFailed
            | Self::ConnectionSecretConflict
            | Self::AlreadyExists
            | Self::AlreadyManaged
            | Self::AmbiguousCreate
            | Self::AmbiguousAdoption
            | Self::AccountChanged
            | Self::DeletionBlocked
            | Self::AuthenticationFailed
            | Self::CredentialsInvalid => Progress::Stalled,
        }
    }
}

/// Whether `Ready` or `Synced` is `False` for a [`Progress::Stalled`] reason: nothing moves
/// until the manifest, the credentials or the cloud changes.
pub fn is_stalled(conditions: &[Condition]) -> bool {
    [READY, SYNCED]
        .iter()
        .filter_map(|type_| find_condition(conditions, type_))
        .any(|condition| {
            !condition.is_true()
                && Reason::parse(&condition.reason)
                    .is_some_and(|reason| reason.progress() == Progress::Stalled)
        })
}

/// Sets the kstatus conditions from `Ready` and `Synced`, so that Flux, Argo CD and kstatus
/// tell a failure from work in progress without knowing this operator's reasons:
/// `Stalled=True` (kstatus: Failed) while either is `False` for a [`Progress::Stalled`] reason,
/// else `Reconciling=True` (kstatus: InProgress) while either is `False` for a
/// [`Progress::Working`] reason (or one this build does not know); neither otherwise, since
/// kstatus reads an absent condition as `False`. Each carries the reason and message of the
/// condition it comes from. Returns whether anything changed.
pub fn set_progress(
    conditions: &mut Vec<Condition>,
    generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let failing: Vec<(Progress, String, String)> = [READY, SYNCED]
        .iter()
        .filter_map(|type_| find_condition(conditions, type_))
        .filter(|condition| !condition.is_true())
        .map(|condition| {
            let progress =
                Reason::parse(&condition.reason).map_or(Progress::Working, Reason::progress);
            (
                progress,
                condition.reason.clone(),
                condition.message.clone(),
            )
        })
        .collect();
    let pick = |wanted: Progress| failing.iter().find(|(progress, ..)| *progress == wanted);
    let (present, absent) = match (pick(Progress::Stalled), pick(Progress::Working)) {
        (Some(stalled), _) => ((STALLED, stalled), RECONCILING),
        (None, Some(working)) => ((RECONCILING, working), STALLED),
        (None, None) => {
            let before = conditions.len();
            conditions.retain(|c| c.type_ != RECONCILING && c.type_ != STALLED);
            return conditions.len() != before;
        }
    };
    let before = conditions.len();
    conditions.retain(|c| c.type_ != absent);
    let (type_, (_, reason, message)) = present;
    let set = set_condition(
        conditions,
        Condition::new(
            type_,
            true,
            reason.as_str(),
            message.as_str(),
            generation,
            now,
        ),
    );
    set || conditions.len() != before
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<String> for Reason {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Reason> for String {
    fn eq(&self, other: &Reason) -> bool {
        self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kstatus's rules for a custom resource, as its documentation and `status.Compute` state
    /// them: a deletion is `Terminating`; a status of an older generation is `InProgress`;
    /// `Reconciling=True` is `InProgress`; `Stalled=True` is `Failed`; anything else is
    /// `Current`.
    fn kstatus(
        deleting: bool,
        generation: i64,
        observed: Option<i64>,
        conditions: &[Condition],
    ) -> &'static str {
        if deleting {
            return "Terminating";
        }
        if observed.is_some_and(|observed| observed != generation) {
            return "InProgress";
        }
        for condition in conditions {
            if condition.type_ == RECONCILING && condition.is_true() {
                return "InProgress";
            }
            if condition.type_ == STALLED && condition.is_true() {
                return "Failed";
            }
        }
        "Current"
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn conditions(ready: (bool, Reason), synced: (bool, Reason)) -> Vec<Condition> {
        let mut conditions = Vec::new();
        for (type_, (holds, reason)) in [(READY, ready), (SYNCED, synced)] {
            let condition = Condition::new(type_, holds, reason.as_str(), "why", Some(3), at(1));
            set_condition(&mut conditions, condition);
            set_progress(&mut conditions, Some(3), at(1));
        }
        conditions
    }

    #[test]
    fn kstatus_reads_every_reason_as_its_progress_says() {
        let expected = |reason: Reason| match reason.progress() {
            Progress::Settled => "Current",
            Progress::Working => "InProgress",
            Progress::Stalled => "Failed",
        };
        for &reason in Reason::ALL {
            // The reason on Ready, on Synced, and on both (as `stuck` sets it).
            let ok = Reason::ReconcileSuccess;
            for (ready, synced) in [
                ((false, reason), (true, ok)),
                ((true, Reason::Available), (false, reason)),
                ((false, reason), (false, reason)),
            ] {
                let conditions = conditions(ready, synced);
                assert_eq!(
                    kstatus(false, 3, Some(3), &conditions),
                    expected(reason),
                    "{reason} with Ready={} Synced={}",
                    ready.0,
                    synced.0
                );
                let derived = conditions
                    .iter()
                    .find(|c| c.type_ == RECONCILING || c.type_ == STALLED);
                if let Some(derived) = derived {
                    assert_eq!(derived.reason, reason.as_str(), "the reason is carried");
                    assert_eq!(derived.message, "why");
                    assert_eq!(derived.observed_generation, Some(3));
                }
            }
        }
    }

    /// The class of the reasons users and GitOps tools act on, written down independently of
    /// `Reason::progress`: a reason moved to another class fails here, not only in review.
    #[test]
    fn the_reasons_users_act_on_are_in_the_right_class() {
        use Reason as R;
        let stalled = [
            R::CreateFailed,
            R::ResizeFailed,
            R::ResizeNotApplied,
            R::VMError,
            R::BuildTimedOut,
            R::ImageNotFound,
            R::BudgetExceeded,
            R::ImageFailed,
            R::VolumeError,
            R::ImportNotFound,
            R::ReimageNotAllowed,
            R::SpecMismatch,
            R::AlreadyExists,
            R::AlreadyManaged,
            R::AmbiguousCreate,
            R::AmbiguousAdoption,
            R::AccountChanged,
            R::AuthenticationFailed,
            R::CredentialsInvalid,
            R::DeletionBlocked,
            R::ConnectionSecretConflict,
        ];
        let working = [
            R::Creating,
            R::InProgress,
            R::Deleting,
            R::WaitingForVM,
            R::WaitingForName,
            R::WaitingForRelease,
            R::ImageNotReady,
            R::ReplacingFailedVM,
            R::InUse,
            R::Throttled,
            R::CloudUnavailable,
            R::CredentialsUnavailable,
            R::DeleteFailed,
        ];
        let settled = [
            R::Available,
            R::Observed,
            R::ReconcilePaused,
            R::DeletionPaused,
        ];
        for (reasons, class) in [
            (&stalled[..], Progress::Stalled),
            (&working[..], Progress::Working),
            (&settled[..], Progress::Settled),
        ] {
            for reason in reasons {
                assert_eq!(reason.progress(), class, "{}", reason.as_str());
            }
        }
    }

    #[test]
    fn a_stall_outranks_work_and_recovery_clears_both() {
        let mut both = conditions((false, Reason::Creating), (false, Reason::CreateFailed));
        assert_eq!(kstatus(false, 3, Some(3), &both), "Failed");
        assert!(find_condition(&both, RECONCILING).is_none());
        set_condition(
            &mut both,
            Condition::new(SYNCED, true, "ReconcileSuccess", "", Some(3), at(2)),
        );
        assert!(set_progress(&mut both, Some(3), at(2)), "Stalled gives way");
        assert_eq!(kstatus(false, 3, Some(3), &both), "InProgress");
        set_condition(
            &mut both,
            Condition::new(READY, true, "Available", "", Some(3), at(3)),
        );
        assert!(set_progress(&mut both, Some(3), at(3)));
        assert_eq!(kstatus(false, 3, Some(3), &both), "Current");
        let types: Vec<&str> = both.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, SYNCED], "nothing left over");
        assert!(
            !set_progress(&mut both, Some(3), at(4)),
            "unchanged is unchanged"
        );
        // A spec change not yet observed, and a deletion, come before the conditions.
        assert_eq!(kstatus(false, 4, Some(3), &both), "InProgress");
        assert_eq!(kstatus(true, 3, Some(3), &both), "Terminating");
    }

    #[test]
    fn an_unknown_reason_is_work_in_progress() {
        let mut conditions = vec![Condition::new(
            READY,
            false,
            "SomethingNew",
            "",
            None,
            at(1),
        )];
        set_progress(&mut conditions, None, at(1));
        assert_eq!(kstatus(false, 1, None, &conditions), "InProgress");
    }

    #[test]
    fn the_string_is_the_variant_name() {
        assert_eq!(Reason::VMNotFound.as_str(), "VMNotFound");
        assert_eq!(Reason::FloatingIPPending.to_string(), "FloatingIPPending");
        let stored: String = "CreateFailed".into();
        assert!(stored == Reason::CreateFailed);
    }

    #[test]
    fn reasons_are_distinct() {
        let mut names: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }
}
