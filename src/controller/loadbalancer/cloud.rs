//! LunaLoadBalancer: the `lb list` read and its conversion.

use futures::FutureExt;

use crate::lunanode;

/// A load balancer as `lb/list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLb {
    /// Its ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its network, when listed.
    pub net_id: String,
}

pub(super) fn list(
    client: lunanode::Client,
    region: String,
) -> futures::future::BoxFuture<'static, Result<Vec<(String, ObservedLb)>, lunanode::Error>> {
    async move {
        Ok(client
            .lb_list(&region, None)
            .await?
            .into_iter()
            .map(|lb| {
                (
                    lb.id.clone(),
                    ObservedLb {
                        id: lb.id,
                        name: lb.name,
                        region: lb.region,
                        net_id: lb.net_id,
                    },
                )
            })
            .collect())
    }
    .boxed()
}
