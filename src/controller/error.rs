//! The controllers' error type and how each class of error is retried.
//!
//! Terminal problems (an invalid plan, bad credentials, a missing reference) are not errors
//! here: the reconciler reports them as conditions and waits for a change of the object, so they
//! never hot-loop. What reaches [`error_policy`] is what may pass by itself — throttling,
//! transient cloud or Kubernetes failures, a delete still in progress — and it is retried with
//! jittered exponential backoff per object.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use kube::runtime::controller::Action;
use rand::Rng;

use crate::{controller::reason::Reason, lunanode};

/// A reconcile failure that is worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cloud call failed in a way that may pass.
    #[error("unable to {action} for {object}: {source}")]
    Cloud {
        /// What the controller was doing, e.g. `list vms`.
        action: &'static str,
        /// The object, `namespace/name`.
        object: String,
        /// The client's error.
        #[source]
        source: lunanode::Error,
    },
    /// A Kubernetes API call failed.
    #[error("unable to {action} for {object}: {source}")]
    Kube {
        /// What the controller was doing, e.g. `patch status`.
        action: &'static str,
        /// The object, `namespace/name`.
        object: String,
        /// The kube error.
        #[source]
        source: Box<kube::Error>,
    },
    /// A cloud delete was accepted but the object is still there.
    #[error("unable to finish deleting {object}: the cloud object {id} still exists")]
    DeletionInProgress {
        /// The object, `namespace/name`.
        object: String,
        /// The cloud ID.
        id: String,
    },
    /// Deletion waits: other managed objects still use this one.
    #[error("unable to delete the cloud object of {object} yet: it is in use by {holders}")]
    InUse {
        /// The object, `namespace/name`.
        object: String,
        /// The objects that use it, `Kind namespace/name`, comma-separated.
        holders: String,
    },
    /// The credentials Secret is missing or unusable (during deletion, when nothing else helps).
    #[error("unable to clean up {object}: {source}")]
    Credentials {
        /// The object, `namespace/name`.
        object: String,
        /// Why.
        #[source]
        source: super::accounts::CredentialsError,
    },
    /// The object is being deleted while paused: the finalizer waits for the pause to end.
    #[error(
        "unable to delete the cloud object of {object} while it is paused (lunanode.com/paused)"
    )]
    Paused {
        /// The object, `namespace/name`.
        object: String,
    },
    /// The finalizer helper failed (wraps the two above).
    /// The deletion cannot go on without a human (an account switch, an ambiguous create).
    #[error("unable to delete the cloud object of {object}: {message}")]
    DeletionBlocked {
        /// `namespace/name`.
        object: String,
        /// The condition reason.
        reason: Reason,
        /// What is wrong and what to do.
        message: String,
    },
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

/// What kind of failure an error is: the label of metrics and logs, and (through
/// [`Category::reason`]) the reason of the `Synced` condition it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The API refused the call (`success: "no"`).
    Api,
    /// The API refused the credentials.
    Auth,
    /// The API throttled the call.
    Throttled,
    /// 5xx, timeout, connection reset.
    Transient,
    /// An answer that could not be decoded.
    Decode,
    /// A request the client would not send.
    InvalidRequest,
    /// Credentials the client would not use.
    InvalidCredentials,
    /// A client configuration that is not usable.
    InvalidConfig,
    /// The Kubernetes API failed.
    Kubernetes,
    /// A deletion was started and is being confirmed.
    DeletionInProgress,
    /// Deletion waits for the objects that use this one.
    InUse,
    /// The credentials Secret is missing or invalid.
    Credentials,
    /// Reconciling is paused.
    Paused,
    /// Deletion needs a human.
    DeletionBlocked,
    /// The finalizer machinery failed.
    Finalizer,
}

impl Category {
    /// The label, as in metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Auth => "auth",
            Self::Throttled => "throttled",
            Self::Transient => "transient",
            Self::Decode => "decode",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidConfig => "invalid_config",
            Self::Kubernetes => "kubernetes",
            Self::DeletionInProgress => "deletion_in_progress",
            Self::InUse => "in_use",
            Self::Credentials => "credentials",
            Self::Paused => "paused",
            Self::DeletionBlocked => "deletion_blocked",
            Self::Finalizer => "finalizer",
        }
    }

    /// The condition reason for an error of this category.
    pub const fn reason(self) -> Reason {
        match self {
            Self::Throttled => Reason::Throttled,
            Self::Transient => Reason::CloudUnavailable,
            Self::Auth => Reason::AuthenticationFailed,
            Self::Decode => Reason::UnexpectedAnswer,
            Self::Kubernetes => Reason::KubernetesError,
            Self::DeletionInProgress => Reason::Deleting,
            Self::InUse => Reason::InUse,
            Self::Credentials => Reason::CredentialsInvalid,
            Self::Paused => Reason::ReconcilePaused,
            Self::DeletionBlocked => Reason::DeletionBlocked,
            Self::Api => Reason::CloudRefused,
            Self::InvalidRequest
            | Self::InvalidCredentials
            | Self::InvalidConfig
            | Self::Finalizer => Reason::ReconcileError,
        }
    }

    /// The category of an error of the API client.
    pub fn of_cloud(error: &lunanode::Error) -> Self {
        match error {
            lunanode::Error::Api { .. } => Self::Api,
            lunanode::Error::Auth { .. } => Self::Auth,
            lunanode::Error::Throttled { .. } => Self::Throttled,
            lunanode::Error::Transient { .. } => Self::Transient,
            lunanode::Error::Decode { .. } => Self::Decode,
            lunanode::Error::InvalidRequest { .. } => Self::InvalidRequest,
            lunanode::Error::InvalidCredentials { .. } => Self::InvalidCredentials,
            lunanode::Error::InvalidConfig { .. } => Self::InvalidConfig,
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The error of a failed Kubernetes call about `object` (`namespace/name`), for `map_err`:
    /// `.map_err(Error::kube("read the object", &key))`.
    pub fn kube(
        action: &'static str,
        object: impl Into<String>,
    ) -> impl Fn(kube::Error) -> Error + Clone {
        let object = object.into();
        move |source| Error::Kube {
            action,
            object: object.clone(),
            source: Box::new(source),
        }
    }

    /// What kind of failure this is.
    pub fn category(&self) -> Category {
        match self {
            Error::Cloud { source, .. } => Category::of_cloud(source),
            Error::Kube { .. } => Category::Kubernetes,
            Error::DeletionInProgress { .. } => Category::DeletionInProgress,
            Error::InUse { .. } => Category::InUse,
            Error::Credentials { .. } => Category::Credentials,
            Error::Paused { .. } => Category::Paused,
            Error::DeletionBlocked { .. } => Category::DeletionBlocked,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(error)
                | kube::runtime::finalizer::Error::CleanupFailed(error) => error.category(),
                _ => Category::Finalizer,
            },
        }
    }

    /// The least time to wait before a retry (a throttled call says how long; the
    /// [`Backoff`] cuts that to its ceiling).
    fn floor(&self) -> Duration {
        match self {
            Error::Cloud {
                source: lunanode::Error::Throttled { retry_after },
                ..
            } => retry_after.unwrap_or(Duration::from_secs(1)),
            Error::DeletionInProgress { .. } => Duration::from_secs(3),
            // The referrer's own change wakes this object; the retry is only a safety net.
            Error::InUse { .. } => Duration::from_secs(30),
            Error::Credentials { .. } | Error::Paused { .. } => Duration::from_secs(30),
            // A human has to act; the object's change wakes it.
            Error::DeletionBlocked { .. } => Duration::from_secs(300),
            Error::Kube { source, .. } if is_conflict(source) => Duration::from_millis(200),
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(error)
                | kube::runtime::finalizer::Error::CleanupFailed(error) => error.floor(),
                _ => Duration::ZERO,
            },
            _ => Duration::ZERO,
        }
    }
}

/// The longest a throttled object waits by default, whatever the API's `Retry-After` says
/// (`--max-retry-after-seconds`). A server, or a proxy in front of it, may send any number:
/// obeyed as such, a large one would stop the object for months (the controller's queue cuts a
/// delay to six months). Five minutes is the longest backoff of any other failure.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Whether a Kubernetes error is a write conflict (a stale copy of the object).
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

impl Error {
    /// The `Retry-After` of a throttled call, if the API sent one.
    fn retry_after(&self) -> Option<Duration> {
        match self.root() {
            Error::Cloud { source, .. } => source.retry_after(),
            _ => None,
        }
    }

    /// The error inside the finalizer helper's wrapper, if any.
    pub fn root(&self) -> &Error {
        use kube::runtime::finalizer::Error as Finalizer;
        match self {
            Error::Finalizer(inner) => match inner.as_ref() {
                Finalizer::ApplyFailed(error) | Finalizer::CleanupFailed(error) => error.root(),
                _ => self,
            },
            _ => self,
        }
    }

    /// Whether the reconcile worked from a stale copy of the object: a status write that
    /// conflicted, or a finalizer patch whose precondition failed (422 from its `test` step).
    /// Routine with several watches; retried at once, logged at debug level.
    pub fn is_stale_copy(&self) -> bool {
        use kube::runtime::finalizer::Error as Finalizer;
        match self {
            Error::Kube { source, .. } => is_conflict(source),
            Error::Finalizer(inner) => match inner.as_ref() {
                Finalizer::ApplyFailed(error) | Finalizer::CleanupFailed(error) => {
                    error.is_stale_copy()
                }
                Finalizer::AddFinalizer(source) | Finalizer::RemoveFinalizer(source) => {
                    matches!(source, kube::Error::Api(status) if status.code == 409 || status.code == 422)
                }
                _ => false,
            },
            _ => false,
        }
    }
}

/// Per-object retry state: consecutive failures, reset by a successful reconcile.
#[derive(Debug)]
pub struct Backoff {
    failures: Mutex<HashMap<String, Failures>>,
    max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(MAX_RETRY_AFTER)
    }
}

/// The consecutive failures of one object.
#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    /// Failures other than a stale copy.
    errors: u32,
    /// Writes refused because the copy was stale (409, or 422 from a finalizer patch's test).
    stale: u32,
}

/// The first retry after a stale copy: the newer copy is usually in the watch already.
const STALE_FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait between retries of a copy that keeps being refused as stale. A copy is
/// stale once or twice; a write refused over and over (a finalizer patch that the API server
/// rejects for another reason under the same code) must not become a loop at 5 Hz.
const STALE_MAX_RETRY: Duration = Duration::from_secs(30);
/// After this many stale copies in a row the retry is logged as a warning.
const STALE_WARN_AFTER: u32 = 3;

impl Backoff {
    /// A backoff that waits at most `max_retry_after` when the API throttles (see
    /// [`MAX_RETRY_AFTER`]).
    pub fn new(max_retry_after: Duration) -> Self {
        Self {
            failures: Mutex::default(),
            max_retry_after,
        }
    }

    /// Whether `error` is a throttled call whose `Retry-After` this backoff cuts.
    pub fn caps(&self, error: &Error) -> bool {
        error
            .retry_after()
            .is_some_and(|after| after > self.max_retry_after)
    }

    /// Records a failure of `key` and returns how long to wait: 2 s doubling up to 5 minutes,
    /// with ±20 % jitter so that many objects failing together do not retry together. A stale
    /// copy waits 200 ms first, doubling up to 30 s while the refusals go on, and leaves the
    /// other failures' count as it is.
    pub fn next(&self, key: &str, error: &Error) -> Duration {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let failures = failures.entry(key.to_owned()).or_default();
        if error.is_stale_copy() {
            failures.stale = failures.stale.saturating_add(1);
            return STALE_FIRST_RETRY
                .saturating_mul(1 << (failures.stale - 1).min(8))
                .min(STALE_MAX_RETRY);
        }
        failures.errors = failures.errors.saturating_add(1);
        let exponent = (failures.errors - 1).min(8);
        let base = Duration::from_secs(2)
            .saturating_mul(1 << exponent)
            .min(Duration::from_secs(300));
        let jitter = rand::rng().random_range(0.8..1.2);
        let floor = error.floor();
        if self.caps(error) {
            // The ceiling is a promise: no jitter above it.
            return self.max_retry_after;
        }
        base.mul_f64(jitter).max(floor)
    }

    /// How many stale copies of `key` in a row were refused.
    pub fn stale_retries(&self, key: &str) -> u32 {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .map_or(0, |failures| failures.stale)
    }

    /// Forgets the failures of `key` after a success.
    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

/// Turns a retryable error into a requeue.
pub fn requeue(backoff: &Backoff, key: &str, error: &Error) -> Action {
    let delay = backoff.next(key, error);
    if error.is_stale_copy() {
        let retries = backoff.stale_retries(key);
        if retries > STALE_WARN_AFTER {
            tracing::warn!(object = key, error = %error, retries, retry_in = ?delay, "the API server keeps refusing this object's writes as made from a stale copy");
        } else {
            tracing::debug!(object = key, error = %error, "stale copy; retrying with the fresh object");
        }
        return Action::requeue(delay);
    }
    if matches!(
        error.root(),
        Error::InUse { .. } | Error::DeletionInProgress { .. }
    ) {
        tracing::info!(object = key, error = %error, retry_in = ?delay, "deletion waits");
        return Action::requeue(delay);
    }
    tracing::warn!(object = key, category = error.category().as_str(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_resets() {
        let backoff = Backoff::default();
        let error = Error::DeletionInProgress {
            object: "ns/a".into(),
            id: "1".into(),
        };
        let first = backoff.next("ns/a", &error);
        let second = backoff.next("ns/a", &error);
        assert!(first >= Duration::from_secs(3), "floor applies: {first:?}");
        assert!(second > Duration::from_secs(3));
        for _ in 0..20 {
            backoff.next("ns/a", &error);
        }
        assert!(backoff.next("ns/a", &error) <= Duration::from_secs(360));
        backoff.reset("ns/a");
        assert!(backoff.next("ns/a", &error) < Duration::from_secs(4));
    }

    fn throttled(seconds: u64) -> Error {
        Error::Cloud {
            action: "list",
            object: "ns/a".into(),
            source: lunanode::Error::Throttled {
                retry_after: Some(Duration::from_secs(seconds)),
            },
        }
    }

    #[test]
    fn a_huge_retry_after_is_cut_to_the_ceiling() {
        let backoff = Backoff::default();
        let huge = throttled(99_999_999_999);
        assert!(backoff.caps(&huge));
        assert_eq!(backoff.next("ns/a", &huge), MAX_RETRY_AFTER);
        let wrapped = Error::Finalizer(Box::new(kube::runtime::finalizer::Error::ApplyFailed(
            throttled(u64::MAX),
        )));
        assert!(backoff.caps(&wrapped));
        assert_eq!(backoff.next("ns/b", &wrapped), MAX_RETRY_AFTER);
        // A Retry-After within the ceiling is obeyed as it is.
        let short = throttled(40);
        assert!(!backoff.caps(&short));
        backoff.reset("ns/a");
        assert!(backoff.next("ns/a", &short) >= Duration::from_secs(40));
        // The ceiling is a setting.
        let tight = Backoff::new(Duration::from_secs(5));
        assert!(tight.caps(&short));
        assert_eq!(tight.next("ns/a", &short), Duration::from_secs(5));
    }

    #[test]
    fn stale_copies_retry_soon_then_slower_and_leave_the_error_count() {
        let backoff = Backoff::default();
        let conflict = Error::Kube {
            action: "write the status",
            object: "ns/a".into(),
            source: Box::new(kube::Error::Api(
                kube::core::Status::failure("the object has been modified", "Conflict")
                    .with_code(409)
                    .boxed(),
            )),
        };
        assert!(conflict.is_stale_copy());
        let delays: Vec<Duration> = (0..12).map(|_| backoff.next("ns/a", &conflict)).collect();
        assert_eq!(delays[0], Duration::from_millis(200));
        assert_eq!(delays[1], Duration::from_millis(400));
        assert!(
            delays.windows(2).all(|pair| pair[0] <= pair[1]),
            "{delays:?}"
        );
        assert_eq!(delays[11], STALE_MAX_RETRY);
        assert_eq!(backoff.stale_retries("ns/a"), 12);
        // The stale copies did not grow the backoff of real failures.
        let other = Error::DeletionInProgress {
            object: "ns/a".into(),
            id: "1".into(),
        };
        assert!(backoff.next("ns/a", &other) < Duration::from_secs(4));
        backoff.reset("ns/a");
        assert_eq!(backoff.stale_retries("ns/a"), 0);
        assert_eq!(backoff.next("ns/a", &conflict), Duration::from_millis(200));
    }
}
