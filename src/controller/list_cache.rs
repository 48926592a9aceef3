//! A shared list cache: one list call refreshes the observed state of every object of a kind on
//! one account, so that steady-state API traffic does not grow with the number of objects.
//!
//! - Readers ask for a snapshot no older than they can use ([`ListCache::get`]); concurrent
//!   readers share one in-flight list call (single flight), and refreshes are spaced by at least
//!   `min_interval` however many writers invalidate the cache.
//! - A background poller refreshes at `fast_interval` while any object is in transition (BUILD,
//!   resizing, powering off, ...) and at `slow_interval` once everything is converged; it does
//!   nothing while the cache has no users.
//! - After every refresh the cache compares entries with the previous snapshot and calls the
//!   change listener with the IDs that were added, removed or changed (drift detection), so
//!   controllers wake only the objects whose cloud state moved.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock, Weak},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::lunanode;

/// Timing of a list cache.
#[derive(Debug, Clone)]
pub struct CacheTiming {
    /// Poll interval while anything is in transition.
    pub fast_interval: Duration,
    /// Poll interval when everything is converged.
    pub slow_interval: Duration,
    /// Minimum spacing between two list calls.
    pub min_interval: Duration,
}

impl Default for CacheTiming {
    fn default() -> Self {
        Self {
            fast_interval: Duration::from_secs(5),
            slow_interval: Duration::from_secs(60),
            min_interval: Duration::from_secs(2),
        }
    }
}

/// One observed list.
#[derive(Debug)]
pub struct Snapshot<T> {
    /// When the list call that produced it was started.
    pub fetched_at: Instant,
    /// The entries by cloud ID.
    pub entries: HashMap<String, T>,
}

type Fetch<T> =
    Box<dyn Fn() -> BoxFuture<'static, Result<Vec<(String, T)>, lunanode::Error>> + Send + Sync>;
/// Called with the cache's name when a list answer is set aside as suspect.
pub type SuspectListener = Arc<dyn Fn(&'static str) + Send + Sync>;
/// Called with the IDs whose entries changed in a refresh.
pub type ChangeListener = Arc<dyn Fn(&[String]) + Send + Sync>;

/// A cache of one list action of one account.
pub struct ListCache<T> {
    name: &'static str,
    timing: CacheTiming,
    fetch: Fetch<T>,
    snapshot: RwLock<Option<Arc<Snapshot<T>>>>,
    /// Held while a list call is in flight: the single-flight gate.
    flight: tokio::sync::Mutex<()>,
    last_attempt: Mutex<Option<Instant>>,
    transitioning: Mutex<HashSet<String>>,
    /// Objects whose next observation needs a per-object read (their own write is in effect
    /// and the list cannot show its progress).
    detail: Mutex<HashSet<String>>,
    users: Mutex<HashSet<String>>,
    listener: Mutex<Option<ChangeListener>>,
    wake_poller: Notify,
    /// Entries read one by one (e.g. `vm info`) since the last list: fresher than the snapshot.
    fresher: Mutex<HashMap<String, (Instant, T)>>,
    /// When each object last wrote to the cloud: its next observation must come from a list
    /// started after that, or it would act again on the state before its own write.
    writes: Mutex<HashMap<String, Instant>>,
    /// The API refused the account's credentials at this time: every object of the account
    /// gets the same answer without another call until `slow_interval` has passed (a changed
    /// Secret makes a new account, with new caches).
    refused: Mutex<Option<(Instant, lunanode::Error)>>,
    /// How many answers in a row were set aside as suspect (see [`is_suspect`]).
    suspect_streak: Mutex<u32>,
    on_suspect: Mutex<Option<SuspectListener>>,
}

/// How many suspect answers in a row are set aside before one is believed: a real mass
/// deletion outside the operator shows in every answer, a glitch does not.
pub const SUSPECT_ANSWERS_SET_ASIDE: u32 = 2;

/// Whether a list answer that lacks `missing` of the `previous` entries of the last one is
/// suspect: most of a sizeable list gone at once is more often a truncated or mis-decoded
/// answer than a mass deletion.
pub fn is_suspect(previous: usize, missing: usize) -> bool {
    previous >= 4 && missing * 2 > previous
}

impl<T: Clone + PartialEq + Send + Sync + 'static> ListCache<T> {
    /// A cache over `fetch`, which returns the entries keyed by cloud ID. With `poll`, a
    /// background task keeps it fresh while it has users.
    pub fn new(name: &'static str, timing: CacheTiming, poll: bool, fetch: Fetch<T>) -> Arc<Self> {
        let cache = Arc::new(Self {
            name,
            timing,
            fetch,
            snapshot: RwLock::default(),
            flight: tokio::sync::Mutex::new(()),
            last_attempt: Mutex::default(),
            transitioning: Mutex::default(),
            detail: Mutex::default(),
            users: Mutex::default(),
            listener: Mutex::default(),
            wake_poller: Notify::new(),
            fresher: Mutex::default(),
            writes: Mutex::default(),
            refused: Mutex::default(),
            suspect_streak: Mutex::default(),
            on_suspect: Mutex::default(),
        });
        if poll {
            tokio::spawn(poll_loop(Arc::downgrade(&cache)));
        }
        cache
    }

    /// Sets what is told about a list answer set aside as suspect (a metric).
    pub fn on_suspect(&self, listener: SuspectListener) {
        *lock(&self.on_suspect) = Some(listener);
    }

    /// Sets the listener told about changed IDs after each refresh.
    pub fn set_listener(&self, listener: ChangeListener) {
        *lock(&self.listener) = Some(listener);
    }

    /// Sets the listener unless one is set already; true when this call set it.
    pub fn set_listener_if_absent(&self, listener: ChangeListener) -> bool {
        let mut current = lock(&self.listener);
        if current.is_some() {
            return false;
        }
        *current = Some(listener);
        true
    }

    /// Records whether the object `key` (a uid) uses this cache and whether it is in
    /// transition; the poller runs fast while any object is in transition.
    pub fn track(&self, key: &str, in_transition: bool) {
        lock(&self.users).insert(key.to_owned());
        let mut transitioning = lock(&self.transitioning);
        let changed = if in_transition {
            transitioning.insert(key.to_owned())
        } else {
            transitioning.remove(key)
        };
        drop(transitioning);
        if changed && in_transition {
            self.wake_poller.notify_one();
        }
    }

    /// Records that the object `key` just wrote to the cloud (see [`Self::observe`]).
    pub fn wrote(&self, key: &str) {
        lock(&self.writes).insert(key.to_owned(), Instant::now());
    }

    /// The snapshot the object `key` should act on: one started after its last write, else one
    /// no older than `max_age`.
    pub async fn observe(
        &self,
        key: &str,
        max_age: Duration,
    ) -> Result<Arc<Snapshot<T>>, lunanode::Error> {
        let written = lock(&self.writes).get(key).copied();
        match written {
            Some(at) => {
                let snapshot = self.get_after(at).await?;
                let mut writes = lock(&self.writes);
                if writes.get(key).is_some_and(|last| *last <= at) {
                    writes.remove(key);
                }
                Ok(snapshot)
            }
            None => self.get(max_age).await,
        }
    }

    /// Forgets the object `key` (it was deleted).
    pub fn untrack(&self, key: &str) {
        lock(&self.writes).remove(key);
        lock(&self.users).remove(key);
        lock(&self.transitioning).remove(key);
        lock(&self.detail).remove(key);
    }

    /// Records whether the object `key` needs a per-object read to follow its transition.
    pub fn want_detail(&self, key: &str, wanted: bool) {
        let mut detail = lock(&self.detail);
        if wanted {
            detail.insert(key.to_owned());
        } else {
            detail.remove(key);
        }
    }

    /// Whether the object `key` needs a per-object read.
    pub fn wants_detail(&self, key: &str) -> bool {
        lock(&self.detail).contains(key)
    }

    /// Records an entry read on its own (fresher than the last list) so that later lookups do
    /// not fall back to an older state until the next list call.
    pub fn record(&self, id: &str, entry: T, read_at: Instant) {
        lock(&self.fresher).insert(id.to_owned(), (read_at, entry));
    }

    /// The freshest known entry for `id`: from `snapshot`, unless a later single read exists.
    pub fn lookup(&self, snapshot: &Snapshot<T>, id: &str) -> Option<T> {
        if let Some((read_at, entry)) = lock(&self.fresher).get(id) {
            if *read_at > snapshot.fetched_at {
                return Some(entry.clone());
            }
        }
        snapshot.entries.get(id).cloned()
    }

    /// Whether the object `key` was last reported in transition.
    pub fn is_transitioning(&self, key: &str) -> bool {
        lock(&self.transitioning).contains(key)
    }

    /// How many objects are in transition.
    pub fn in_transition(&self) -> usize {
        lock(&self.transitioning).len()
    }

    /// A snapshot no older than `max_age`, refreshing (once, shared) if needed.
    pub async fn get(&self, max_age: Duration) -> Result<Arc<Snapshot<T>>, lunanode::Error> {
        if let Some(snapshot) = self.current() {
            if snapshot.fetched_at.elapsed() <= max_age {
                return Ok(snapshot);
            }
        }
        let wanted_after = Instant::now()
            .checked_sub(max_age)
            .unwrap_or_else(Instant::now);
        self.refresh_after(wanted_after).await
    }

    /// A snapshot whose list call started after `instant`: what a crash-safe create needs to
    /// know whether its own earlier create took effect.
    pub async fn get_after(&self, instant: Instant) -> Result<Arc<Snapshot<T>>, lunanode::Error> {
        if let Some(snapshot) = self.current() {
            if snapshot.fetched_at > instant {
                return Ok(snapshot);
            }
        }
        self.refresh_after(instant).await
    }

    /// The last snapshot, however old.
    pub fn current(&self) -> Option<Arc<Snapshot<T>>> {
        self.snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn refresh_after(&self, instant: Instant) -> Result<Arc<Snapshot<T>>, lunanode::Error> {
        let _flight = self.flight.lock().await;
        // Someone else may have refreshed while this caller waited for the gate.
        if let Some(snapshot) = self.current() {
            if snapshot.fetched_at > instant {
                return Ok(snapshot);
            }
        }
        // Space list calls out, however many callers want fresh data.
        let last = *lock(&self.last_attempt);
        if let Some(last) = last {
            let next = last + self.timing.min_interval;
            if next > Instant::now() {
                tokio::time::sleep_until(next.into()).await;
            }
        }
        if let Some((at, error)) = lock(&self.refused).clone() {
            if at.elapsed() < self.timing.slow_interval {
                return Err(error);
            }
        }
        let started = Instant::now();
        *lock(&self.last_attempt) = Some(started);
        let fetched = (self.fetch)().await;
        if let Err(error @ lunanode::Error::Auth { .. }) = &fetched {
            *lock(&self.refused) = Some((Instant::now(), error.clone()));
        }
        let entries: HashMap<String, T> = fetched?.into_iter().collect();
        if let Some(previous) = self.current() {
            let missing = previous
                .entries
                .keys()
                .filter(|id| !entries.contains_key(*id))
                .count();
            let mut streak = lock(&self.suspect_streak);
            if is_suspect(previous.entries.len(), missing) && *streak < SUSPECT_ANSWERS_SET_ASIDE {
                *streak += 1;
                drop(streak);
                tracing::warn!(
                    cache = self.name,
                    missing,
                    known = previous.entries.len(),
                    "list answer lacks most known objects; set aside as suspect"
                );
                if let Some(listener) = lock(&self.on_suspect).clone() {
                    listener(self.name);
                }
                return Err(lunanode::Error::Transient {
                    message: format!(
                        "the {} answer lacked {missing} of {} known objects; set aside as suspect",
                        self.name,
                        previous.entries.len()
                    ),
                    status: None,
                    request_sent: true,
                });
            }
            *streak = 0;
        }
        let snapshot = Arc::new(Snapshot {
            fetched_at: started,
            entries,
        });
        lock(&self.fresher).retain(|_, (read_at, _)| *read_at > started);
        let previous = self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(snapshot.clone());
        tracing::debug!(
            cache = self.name,
            entries = snapshot.entries.len(),
            "list refreshed"
        );
        if let Some(previous) = previous {
            let changed = changed_ids(&previous.entries, &snapshot.entries);
            let listener = lock(&self.listener).clone();
            if let (false, Some(listener)) = (changed.is_empty(), listener) {
                listener(&changed);
            }
        }
        Ok(snapshot)
    }
}

/// The IDs added, removed or changed between two lists.
pub fn changed_ids<T: PartialEq>(
    before: &HashMap<String, T>,
    after: &HashMap<String, T>,
) -> Vec<String> {
    let mut changed: Vec<String> = after
        .iter()
        .filter(|(id, entry)| before.get(*id) != Some(entry))
        .map(|(id, _)| id.clone())
        .chain(before.keys().filter(|id| !after.contains_key(*id)).cloned())
        .collect();
    changed.sort();
    changed
}

async fn poll_loop<T: Clone + PartialEq + Send + Sync + 'static>(cache: Weak<ListCache<T>>) {
    loop {
        let Some(strong) = cache.upgrade() else {
            return;
        };
        let interval = if strong.in_transition() > 0 {
            strong.timing.fast_interval
        } else {
            strong.timing.slow_interval
        };
        let due = strong
            .current()
            .map(|snapshot| snapshot.fetched_at + interval)
            .unwrap_or_else(|| Instant::now() + interval);
        let woken = tokio::select! {
            () = tokio::time::sleep_until(due.into()) => false,
            () = strong.wake_poller.notified() => true,
        };
        if woken {
            // Something entered a transition: recompute the interval.
            continue;
        }
        if lock(&strong.users).is_empty() {
            continue;
        }
        if let Err(error) = strong.get(interval).await {
            tracing::warn!(cache = strong.name, %error, "unable to refresh the list");
        }
    }
}

/// Locks `mutex`; a poisoned lock is still used: a panic while holding the pool's locks cannot
/// leave their maps half-updated.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn changed_ids_finds_added_removed_and_modified() {
        let before: HashMap<String, i32> =
            [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)].into();
        let after: HashMap<String, i32> =
            [("a".into(), 1), ("b".into(), 5), ("d".into(), 4)].into();
        assert_eq!(changed_ids(&before, &after), vec!["b", "c", "d"]);
        assert!(changed_ids(&after, &after).is_empty());
    }

    #[test]
    fn most_of_a_sizeable_list_missing_is_suspect() {
        assert!(is_suspect(10, 6));
        assert!(!is_suspect(10, 5));
        assert!(!is_suspect(3, 3), "small lists change wholesale for real");
        assert!(is_suspect(4, 4));
    }

    #[tokio::test]
    async fn a_suspect_answer_is_set_aside_twice_then_believed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let timing = CacheTiming {
            fast_interval: Duration::from_secs(60),
            slow_interval: Duration::from_secs(60),
            min_interval: Duration::ZERO,
        };
        let cache: Arc<ListCache<u32>> = ListCache::new(
            "test list",
            timing,
            false,
            Box::new(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    Ok(if n == 0 {
                        (0..10).map(|i| (i.to_string(), i)).collect()
                    } else {
                        Vec::new()
                    })
                })
            }),
        );
        let suspects = Arc::new(AtomicUsize::new(0));
        let seen = suspects.clone();
        cache.on_suspect(Arc::new(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(
            cache.get_after(Instant::now()).await.unwrap().entries.len(),
            10
        );
        assert!(cache.get_after(Instant::now()).await.is_err());
        assert!(cache.get_after(Instant::now()).await.is_err());
        assert_eq!(
            cache.current().unwrap().entries.len(),
            10,
            "kept the last good list"
        );
        assert!(
            cache
                .get_after(Instant::now())
                .await
                .unwrap()
                .entries
                .is_empty()
        );
        assert_eq!(suspects.load(Ordering::SeqCst), 2);
    }
}
