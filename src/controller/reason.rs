//! The reasons of the `Ready` and `Synced` conditions, and the status of a condition: one enum
//! each, with the string form in one place. The strings are part of the contract (`kubectl
//! wait`, alerts, the docs and the tests match them): never change one, add a variant instead.

use std::fmt;

/// The status of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `"True"`.
    True,
    /// `"False"`.
    False,
}

impl ConditionStatus {
    /// Whether the condition holds.
    pub fn holds(self) -> bool {
        self == Self::True
    }
}

impl From<bool> for ConditionStatus {
    fn from(holds: bool) -> Self {
        if holds { Self::True } else { Self::False }
    }
}

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
    /// A network is required and none is named.
    NetworkRequired,
    /// The network is in another region.
    NetworkInOtherRegion,
    /// The image does not exist.
    ImageNotFound,
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
