//! The per-account client pool, keyed by the credentials Secret.
//!
//! A kind names its credentials with `spec.credentialsSecretRef` (default
//! `lunanode-credentials`), always in its own namespace: a namespace can never use another
//! namespace's credentials. Secrets are read through watches, never a GET per reconcile: the
//! first lookup of a Secret starts a watch on exactly that Secret (a field selector on its name),
//! so the operator holds only the Secrets it uses in memory and needs no cluster-wide view of
//! Secrets. Every Secret with the same API ID shares one [`Account`]: one client, one rate
//! limiter and one set of list caches per Luna Node account.
//!
//! A Secret marked for deletion (held by the finalizer of [`super::credentials`] while objects
//! use it) resolves like any other, so that the objects can still delete their cloud objects.
//!
//! Nothing is kept for good: [`Accounts::prune`] (called by the credentials sweep) drops the
//! watch of a Secret no object has named for a while, then every account that no watched Secret
//! resolves to, with its client, list caches (their pollers stop) and per-account state.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api,
    runtime::{WatchStreamExt, watcher},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::{caches::ListCaches, list_cache::CacheTiming};
use crate::lunanode::{Client, ClientConfig, Credentials};

/// Why credentials could not be had. The messages name the Secret, never its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The Secret does not exist (yet).
    #[error("credentials secret {namespace}/{name} not found")]
    Missing {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
    },
    /// The Secret exists but is not usable.
    #[error("credentials secret {namespace}/{name} is invalid: {reason}")]
    Invalid {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
        /// What is wrong with it (which key is missing or malformed).
        reason: String,
    },
    /// The watch on the Secret did not deliver its first state in time.
    #[error("unable to read credentials secret {namespace}/{name}: the watch is not ready")]
    NotReady {
        /// Namespace of the Secret.
        namespace: String,
        /// Name of the Secret.
        name: String,
    },
}

/// One Luna Node account: its client and the list caches shared by every object using it.
pub struct Account {
    /// The API ID (not secret; used in logs and metrics labels only as a short hash).
    pub api_id: String,
    /// The client, with the account's rate limiter.
    pub client: Client,
    /// The shared list caches.
    pub caches: ListCaches,
}

impl Account {
    /// How logs name the account: a short hash of the API ID.
    pub fn log_id(&self) -> String {
        let digest = Sha256::digest(self.api_id.as_bytes());
        hex::encode(&digest[..4])
    }

    /// The account's one instance of `T` (see [`ListCaches::state`]): what a kind remembers
    /// per account between reconciles.
    pub fn state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        self.caches.state()
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("api_id", &self.api_id)
            .finish_non_exhaustive()
    }
}

type SecretKey = (String, String);

/// The watch of one Secret: its last state, and the task that keeps it.
struct SecretWatch {
    receiver: watch::Receiver<Option<Arc<Secret>>>,
    task: tokio::task::AbortHandle,
}
/// Called with (namespace, secret name) whenever a watched Secret changes.
pub type SecretChanged = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// The pool: Secret watches and accounts.
pub struct Accounts {
    kube: kube::Client,
    client_config: ClientConfig,
    timing: CacheTiming,
    metrics: Arc<crate::telemetry::metrics::Metrics>,
    watches: Mutex<HashMap<SecretKey, SecretWatch>>,
    /// Since when each watched Secret has been named by no object (for [`Accounts::prune`]).
    unused_since: Mutex<HashMap<SecretKey, Instant>>,
    accounts: Mutex<HashMap<String, Arc<Account>>>,
    listeners: Mutex<Vec<SecretChanged>>,
}

impl Accounts {
    /// An empty pool. `client_config` is the template for every account's client.
    pub fn new(
        kube: kube::Client,
        client_config: ClientConfig,
        timing: CacheTiming,
        metrics: Arc<crate::telemetry::metrics::Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            kube,
            client_config,
            timing,
            metrics,
            watches: Mutex::default(),
            unused_since: Mutex::default(),
            accounts: Mutex::default(),
            listeners: Mutex::default(),
        })
    }

    /// The list caches' timing.
    pub fn timing(&self) -> &CacheTiming {
        &self.timing
    }

    /// Registers a callback for Secret changes (controllers use it to wake the objects that
    /// use the Secret).
    pub fn on_secret_change(&self, listener: SecretChanged) {
        lock(&self.listeners).push(listener);
    }

    /// The account for the Secret `namespace/name`.
    pub async fn get(
        self: &Arc<Self>,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Account>, CredentialsError> {
        let secret = self.secret(namespace, name).await?;
        let credentials = parse(namespace, name, &secret)?;
        let fingerprint = fingerprint(&credentials);
        let mut accounts = lock(&self.accounts);
        if let Some(account) = accounts.get(&fingerprint) {
            return Ok(account.clone());
        }
        let api_id = credentials.api_id.clone();
        let client = Client::new(credentials, self.client_config.clone()).map_err(|error| {
            CredentialsError::Invalid {
                namespace: namespace.into(),
                name: name.into(),
                reason: error.to_string(),
            }
        })?;
        let account = Arc::new(Account {
            caches: ListCaches::new(&client, &self.timing, &self.metrics),
            api_id,
            client,
        });
        accounts.insert(fingerprint, account.clone());
        self.metrics.accounts(accounts.len());
        Ok(account)
    }

    /// The account for a deletion: the same as [`Accounts::get`]. A Secret that is deleted while
    /// objects use it stays, marked for deletion, until the last of them lets go (the finalizer
    /// of [`super::credentials`]), and a Secret marked for deletion still resolves: cleanups work
    /// after the Secret was deleted first, across restarts.
    pub async fn get_for_cleanup(
        self: &Arc<Self>,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Account>, CredentialsError> {
        self.get(namespace, name).await
    }

    /// The account for the Secret `namespace/name` if it is already in the pool, without
    /// waiting or starting anything: for forgetting per-account state of an object that goes.
    pub fn existing(&self, namespace: &str, name: &str) -> Option<Arc<Account>> {
        let secret = self.watched(namespace, name)?;
        let credentials = parse(namespace, name, &secret).ok()?;
        lock(&self.accounts)
            .get(&fingerprint(&credentials))
            .cloned()
    }

    /// The Secret `namespace/name` as its watch last delivered it, without waiting: `None` when
    /// it is not watched (no object used it since the start) or absent.
    pub fn watched(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        let key = (namespace.to_owned(), name.to_owned());
        let receiver = lock(&self.watches).get(&key)?.receiver.clone();
        let current = receiver.borrow().clone();
        current.filter(|secret| secret.metadata.name.is_some())
    }

    /// The Secrets watched so far, as (namespace, name).
    pub fn watched_keys(&self) -> Vec<(String, String)> {
        lock(&self.watches).keys().cloned().collect()
    }

    async fn secret(
        self: &Arc<Self>,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Secret>, CredentialsError> {
        let key = (namespace.to_owned(), name.to_owned());
        let existing = lock(&self.watches)
            .get(&key)
            .map(|watched| watched.receiver.clone());
        let mut receiver = match existing {
            Some(receiver) => receiver,
            None => self.start_watch(key.clone()),
        };
        // The first state arrives after the initial list; later calls read it at once.
        let ready = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if receiver.borrow().is_some() || receiver.has_changed().is_err() {
                    return;
                }
                if receiver.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        let current = receiver.borrow().clone();
        match (ready, current) {
            (_, Some(secret)) if secret.metadata.name.is_some() => Ok(secret),
            (Ok(()), Some(_)) => Err(CredentialsError::Missing {
                namespace: key.0,
                name: key.1,
            }),
            _ => Err(CredentialsError::NotReady {
                namespace: key.0,
                name: key.1,
            }),
        }
    }

    fn start_watch(self: &Arc<Self>, key: SecretKey) -> watch::Receiver<Option<Arc<Secret>>> {
        let mut watches = lock(&self.watches);
        if let Some(watched) = watches.get(&key) {
            return watched.receiver.clone();
        }
        let (sender, receiver) = watch::channel(None);
        let api: Api<Secret> = Api::namespaced(self.kube.clone(), &key.0);
        let config = watcher::Config::default().fields(&format!("metadata.name={}", key.1));
        let pool = Arc::downgrade(self);
        let task_key = key.clone();
        let task = tokio::spawn(async move {
            let key = task_key;
            // An empty Secret (no name) stands for "watched, and absent".
            let absent = Arc::new(Secret::default());
            let mut stream = watcher(api, config).default_backoff().boxed();
            let mut seen_any = false;
            while let Some(event) = stream.next().await {
                let Some(pool) = pool.upgrade() else { return };
                let next = match event {
                    Ok(watcher::Event::Apply(secret) | watcher::Event::InitApply(secret)) => {
                        seen_any = true;
                        Arc::new(secret)
                    }
                    Ok(watcher::Event::Delete(_)) => {
                        seen_any = false;
                        absent.clone()
                    }
                    Ok(watcher::Event::Init) => {
                        seen_any = false;
                        continue;
                    }
                    Ok(watcher::Event::InitDone) if !seen_any => absent.clone(),
                    Ok(watcher::Event::InitDone) => continue,
                    Err(error) => {
                        tracing::warn!(namespace = %key.0, secret = %key.1, %error, "credentials watch failed; retrying");
                        continue;
                    }
                };
                sender.send_replace(Some(next));
                let listeners = lock(&pool.listeners).clone();
                for listener in listeners {
                    listener(&key.0, &key.1);
                }
            }
        });
        watches.insert(
            key,
            SecretWatch {
                receiver: receiver.clone(),
                task: task.abort_handle(),
            },
        );
        self.metrics.credential_watches(watches.len());
        receiver
    }

    /// Drops what no object needs any more, and returns how many Secret watches and accounts
    /// remain. `used` are the Secrets the objects name now. The watch of any other Secret goes
    /// once it has been unused for `grace` (a just-created object may not be in the caches
    /// yet), unless `held` says the Secret still carries the credentials finalizer, which the
    /// sweep releases first. Then every account that no remaining watched Secret resolves to
    /// goes: its client, rate limiter, list caches (their pollers stop when the caches go) and
    /// per-account state. A reconcile that still holds an account finishes with it.
    pub fn prune(
        &self,
        used: &HashSet<SecretKey>,
        grace: Duration,
        held: impl Fn(&Secret) -> bool,
    ) -> (usize, usize) {
        let now = Instant::now();
        let mut watches = lock(&self.watches);
        let mut unused = lock(&self.unused_since);
        unused.retain(|key, _| watches.contains_key(key) && !used.contains(key));
        let mut dropped = Vec::new();
        for (key, watched) in watches.iter() {
            if used.contains(key) {
                continue;
            }
            let since = *unused.entry(key.clone()).or_insert(now);
            let holds = watched
                .receiver
                .borrow()
                .as_ref()
                .is_some_and(|secret| secret.metadata.name.is_some() && held(secret));
            if !holds && now.duration_since(since) >= grace {
                dropped.push(key.clone());
            }
        }
        for key in &dropped {
            if let Some(watched) = watches.remove(key) {
                watched.task.abort();
            }
            unused.remove(key);
            tracing::debug!(namespace = %key.0, secret = %key.1, "credentials secret no longer used: watch dropped");
        }
        let live: HashSet<String> = watches
            .iter()
            .filter_map(|(key, watched)| {
                let secret = watched.receiver.borrow().clone()?;
                secret.metadata.name.as_ref()?;
                parse(&key.0, &key.1, &secret)
                    .ok()
                    .map(|credentials| fingerprint(&credentials))
            })
            .collect();
        let mut accounts = lock(&self.accounts);
        let before = accounts.len();
        accounts.retain(|fingerprint, _| live.contains(fingerprint));
        if accounts.len() < before {
            tracing::debug!(
                dropped = before - accounts.len(),
                "accounts no longer used: dropped with their clients and list caches"
            );
        }
        self.metrics.credential_watches(watches.len());
        self.metrics.accounts(accounts.len());
        (watches.len(), accounts.len())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the maps half-updated, so a poisoned
    // lock is still safe to use.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads `api_id` and `api_key` from the Secret (`data`, or `stringData` as some tools leave it).
fn parse(namespace: &str, name: &str, secret: &Secret) -> Result<Credentials, CredentialsError> {
    let invalid = |reason: String| CredentialsError::Invalid {
        namespace: namespace.into(),
        name: name.into(),
        reason,
    };
    let read = |key: &str| -> Result<String, CredentialsError> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .map(|value| value.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|data| data.get(key))
                    .map(|value| value.clone().into_bytes())
            })
            .ok_or_else(|| invalid(format!("key {key} is missing")))?;
        let text =
            String::from_utf8(bytes).map_err(|_| invalid(format!("key {key} is not UTF-8")))?;
        Ok(text.trim().to_owned())
    };
    let api_id = read("api_id")?;
    let api_key = SecretString::from(read("api_key")?);
    Credentials::new(api_id, api_key).map_err(|error| invalid(error.to_string()))
}

/// Identifies an account without keeping the key around in another form: SHA-256 over id and key.
fn fingerprint(credentials: &Credentials) -> String {
    let mut hasher = Sha256::new();
    hasher.update(credentials.api_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(credentials.api_key.expose_secret().as_bytes());
    hex::encode(hasher.finalize())
}
