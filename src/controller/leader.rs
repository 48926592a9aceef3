//! Leader election on a `coordination.k8s.io` Lease (the `kube-lease-manager` crate: server-side
//! apply on the Lease, so two replicas can never both hold it), for running two replicas safely.
//!
//! A replica waits as a standby until it holds the Lease, then starts the controllers. If it
//! loses the Lease it stops the controllers and exits non-zero so that Kubernetes restarts it as
//! a standby: nothing keeps writing on stale leadership. On shutdown the Lease is released, so
//! the other replica takes over at once instead of after the lease duration.

use std::time::Duration;

use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::{sync::watch, task::JoinHandle};

/// How this replica takes part in the election.
#[derive(Debug, Clone)]
pub struct Election {
    /// The Lease's name.
    pub lease_name: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
}

/// Leadership, once held.
pub struct Leadership {
    state: watch::Receiver<bool>,
    task: JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

impl Election {
    /// Waits until this replica holds the Lease, or until `stop` says to give up (then `None`).
    pub async fn acquire(
        &self,
        kube: kube::Client,
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Leadership>> {
        let seconds = self.duration.as_secs().max(2);
        let manager = LeaseManagerBuilder::new(kube, &self.lease_name)
            .with_namespace(&self.namespace)
            .with_identity(&self.identity)
            .with_duration(seconds)
            .with_grace((seconds / 3).max(1))
            .with_field_manager(crate::api::common::FIELD_MANAGER)
            .build()
            .await?;
        let (mut state, task) = manager.watch().await;
        tracing::info!(lease = %self.lease_name, namespace = %self.namespace, identity = %self.identity, "waiting for leadership");
        loop {
            if *state.borrow_and_update() {
                tracing::info!(identity = %self.identity, "acquired leadership");
                return Ok(Some(Leadership { state, task }));
            }
            tokio::select! {
                changed = state.changed() => {
                    if changed.is_err() {
                        anyhow::bail!("the lease manager stopped before leadership was acquired");
                    }
                }
                _ = stop.wait_for(|stop| *stop) => {
                    drop(state);
                    let _ = task.await;
                    return Ok(None);
                }
            }
        }
    }
}

impl Leadership {
    /// Completes when leadership is lost.
    pub async fn lost(&mut self) {
        loop {
            if !*self.state.borrow_and_update() {
                return;
            }
            if self.state.changed().await.is_err() {
                return;
            }
        }
    }

    /// Gives the Lease up (closing the channel makes the manager release it).
    pub async fn release(self) {
        drop(self.state);
        match self.task.await {
            Ok(Ok(_)) => tracing::info!("released leadership"),
            Ok(Err(error)) => tracing::warn!(%error, "unable to release the lease"),
            Err(error) => tracing::warn!(%error, "the lease manager task failed"),
        }
    }
}
