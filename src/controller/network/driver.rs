//! The LunaNetwork controller: create, adopt and delete private networks. Networks cannot be
//! changed, so once the network exists there is nothing to update; deletion waits while a
//! LunaVM or LunaLoadBalancer of the namespace still names the network.

use super::cloud::{self, ObservedNetwork};
use crate::api::{
    loadbalancer::LunaLoadBalancer,
    network::{LunaNetwork, NetworkAtProvider},
    vm::LunaVM,
};
use crate::controller::{loadbalancer::lb_networks, prelude::*};

/// The LunaVMs that name `network` (the LunaLoadBalancers are added where that kind lives).
fn vm_networks(vm: &LunaVM) -> Vec<String> {
    managed::named(vm.spec.placement.network_ref.as_ref())
}

impl External for LunaNetwork {
    type Observed = ObservedNetwork;
    type Plan = ();

    managed::found_by!(cloud::networks, name, name, in_region);

    managed::no_plan!();

    async fn create(&self, _plan: &(), client: &Client) -> Result<String, lunanode::Error> {
        let spec = &self.spec;
        let created = client
            .network_create(
                &spec.region,
                &spec.name,
                spec.subnet_prefix(),
                &spec.dns.join(","),
            )
            .await?;
        let list = || client.network_list(Some(&spec.region));
        managed::create::answered_or_listed(created, "network/create", list, |network| {
            (network.name == spec.name).then(|| network.net_id.clone())
        })
        .await
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedNetwork) {
        status.at_provider = Some(NetworkAtProvider {
            name: non_empty(&observed.name),
            subnet: non_empty(&observed.subnet),
            region: non_empty(&observed.region),
        });
    }

    async fn sync(&self, SyncCx(status, observed, _): SyncCx<'_, Self>) -> Result<Action, Error> {
        let message = format!("network {} exists", observed.id);
        mark(status, self).ready(Reason::Available, &message);
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
        cx: &CloudCx<'_, Self>,
    ) -> Result<(), Error> {
        let call = cx.client().network_delete(&self.spec.region, &observed.id);
        cx.remove(self, "delete network", &observed.id, call).await
    }

    fn configure(controller: Controller<Self>, ctx: &Arc<Context>) -> Controller<Self> {
        // A referrer that goes away (or changes) may release a network waiting to be deleted.
        controller
            .named_by::<LunaVM>(ctx, vm_networks)
            .named_by::<LunaLoadBalancer>(ctx, lb_networks)
    }
}
