//! The registry of kinds: the one list every per-kind list is made from (the CRDs in
//! [`super::crdgen`], the controllers started by `controller::kinds`, the credentials sweep).
//! Adding a kind is one line here, once its types (`src/api/<kind>.rs`) and its controller
//! (`src/controller/<kind>/`) exist.

/// Expands to `$callback!(Kind, Kind, ...)` with the type of every kind, in the stable order of
/// the CRDs (new kinds are appended). `$callback` is a `macro_rules!` macro in scope at the call.
#[macro_export]
macro_rules! for_each_kind {
    ($callback:ident) => {
        $callback!(
            $crate::api::vm::LunaVM,
            $crate::api::volume::LunaVolume,
            $crate::api::floating::LunaFloatingIP,
            $crate::api::network::LunaNetwork,
            $crate::api::loadbalancer::LunaLoadBalancer,
            $crate::api::dnszone::LunaDnsZone,
            $crate::api::sshkey::LunaSSHKey,
            $crate::api::securitygroup::LunaSecurityGroup,
            $crate::api::startupscript::LunaStartupScript,
            $crate::api::image::LunaImage,
            $crate::api::volumesnapshot::LunaVolumeSnapshot,
            $crate::api::dynamicrecord::LunaDynamicRecord,
            $crate::api::emaildomain::LunaEmailDomain,
            $crate::api::emailuser::LunaEmailUser,
            $crate::api::emailalias::LunaEmailAlias,
            $crate::api::monitorcontact::LunaMonitorContact,
            $crate::api::monitorcheck::LunaMonitorCheck,
            $crate::api::schedule::LunaSnapshotSchedule,
        )
    };
}

/// The plural resource name of every kind (`lunavms`, ...), in the registry's order: what RBAC
/// rules, API paths and the apiserver's metrics name the kinds by.
pub fn plurals() -> Vec<String> {
    macro_rules! plurals {
        ($($kind:ty),* $(,)?) => {
            vec![$(<$kind as kube::Resource>::plural(&()).into_owned()),*]
        };
    }
    crate::for_each_kind!(plurals)
}

/// The API resource of every kind (group, version, kind, plural), for untyped access through
/// `kube::Api<DynamicObject>`.
pub fn api_resources() -> Vec<kube::api::ApiResource> {
    macro_rules! resources {
        ($($kind:ty),* $(,)?) => {
            vec![$(kube::api::ApiResource::erase::<$kind>(&())),*]
        };
    }
    crate::for_each_kind!(resources)
}
