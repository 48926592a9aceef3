//! The LunaNetwork controller: create, adopt and delete private networks. Networks cannot be
//! changed, so once the network exists there is nothing to update; deletion waits while a
//! LunaVM or LunaLoadBalancer of the namespace still names the network.

use std::sync::Arc;

use kube::runtime::{Controller, controller::Action, watcher};

use super::cloud::{self, ObservedNetwork};
use crate::controller::reason::{ConditionStatus, Reason};
use crate::controller::{
    Context,
    accounts::Account,
    error::Error,
    list_cache::ListCache,
    loadbalancer::lb_networks,
    managed::{self, Blocked, Cx, External, Reconciler, set},
};
use crate::{
    api::{
        common::READY,
        loadbalancer::LunaLoadBalancer,
        network::{LunaNetwork, NetworkAtProvider},
        vm::LunaVM,
    },
    lunanode,
};

/// The LunaVMs that name `network` (the LunaLoadBalancers are added where that kind lives).
fn vm_networks(vm: &LunaVM) -> Vec<String> {
    managed::named(vm.spec.placement.network_ref.as_ref())
}

impl Reconciler for LunaNetwork {
    const KIND: &'static str = "LunaNetwork";

    managed::external_steps!();

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // A referrer that goes away (or changes) may release a network waiting to be deleted.
        controller
            .watches(
                managed::scoped::<LunaVM>(ctx),
                watcher::Config::default().any_semantic(),
                managed::referenced::<LunaNetwork, LunaVM>(vm_networks),
            )
            .watches(
                managed::scoped::<LunaLoadBalancer>(ctx),
                watcher::Config::default().any_semantic(),
                managed::referenced::<LunaNetwork, LunaLoadBalancer>(lb_networks),
            )
    }
}

impl External for LunaNetwork {
    type Observed = ObservedNetwork;
    type Plan = ();

    fn cache(&self, account: &Account) -> Arc<ListCache<ObservedNetwork>> {
        cloud::networks(account)
    }

    fn create_name(&self) -> String {
        self.spec.name.clone()
    }

    fn is_create_of(&self, name: &str, observed: &ObservedNetwork) -> bool {
        observed.name == name && (observed.region.is_empty() || observed.region == self.spec.region)
    }

    async fn plan(
        &self,
        _account: &Arc<Account>,
        _cx: &Cx<'_, Self>,
    ) -> Result<Result<(), Blocked>, Error> {
        Ok(Ok(()))
    }

    async fn create(&self, _plan: &(), account: &Arc<Account>) -> Result<String, lunanode::Error> {
        let spec = &self.spec;
        let created = account
            .client
            .network_create(
                &spec.region,
                &spec.name,
                spec.subnet_prefix(),
                &spec.dns.join(","),
            )
            .await?;
        if let Some(id) = created {
            return Ok(id);
        }
        // The answer carried no ID: the network is the one of that name.
        let networks = account.client.network_list(Some(&spec.region)).await?;
        networks
            .into_iter()
            .find(|network| network.name == spec.name)
            .map(|network| network.net_id)
            .ok_or_else(|| lunanode::Error::Decode {
                message: "network/create answered without a net_id, and no network of that name is listed".into(),
                snippet: String::new(),
            })
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedNetwork) {
        let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        status.at_provider = Some(NetworkAtProvider {
            name: non_empty(&observed.name),
            subnet: non_empty(&observed.subnet),
            region: non_empty(&observed.region),
        });
    }

    async fn sync(
        &self,
        status: &mut Self::Status,
        observed: &ObservedNetwork,
        _account: &Arc<Account>,
        _cx: &Cx<'_, Self>,
    ) -> Result<Action, Error> {
        let message = format!("network {} exists", observed.id);
        set(
            status,
            self,
            READY,
            ConditionStatus::True,
            Reason::Available,
            &message,
        );
        Ok(Action::await_change())
    }

    async fn holders(&self, ctx: &Context) -> Result<Vec<String>, Error> {
        let namespace = kube::ResourceExt::namespace(self).unwrap_or_default();
        let name = kube::ResourceExt::name_any(self);
        let mut holders = managed::holders::<LunaVM>(ctx, &namespace, &name, vm_networks).await?;
        holders.extend(
            managed::holders::<LunaLoadBalancer>(ctx, &namespace, &name, lb_networks).await?,
        );
        Ok(holders)
    }

    async fn delete(
        &self,
        observed: &ObservedNetwork,
        account: &Arc<Account>,
        cx: &Cx<'_, Self>,
    ) -> Result<(), Error> {
        let result = account
            .client
            .network_delete(&self.spec.region, &observed.id)
            .await;
        cx.deleted(
            self,
            "delete network",
            result,
            format!("deleted network {}", observed.id),
        )
        .await
    }
}
