//! From `category/action` to the handler of its area, after the catalog's required-parameter
//! check (`<parameter> not set`).

use super::{
    call::{ApiError, Ctx, Params, Reply},
    dns, email, floating, image, lb, misc, monitor, network, securitygroup, vm, vm_misc, vm_net,
    vm_status::PowerOp,
    volume,
};
use crate::lunanode::actions::ActionSpec;

/// Runs one action for the caller's account.
pub(crate) fn dispatch(ctx: &mut Ctx<'_>, spec: &ActionSpec, params: &Params) -> Reply {
    // vm/create's own message covers its core parameters (checked in `vm`).
    if spec.category != "vm" || spec.action != "create" {
        if let Some(missing) = spec.required.iter().find(|name| params.get(name).is_none()) {
            return Err(ApiError::not_set(missing));
        }
    }
    // An optional parameter sent empty is not one left out: the service tests that it was sent,
    // then validates the value.
    if let Some(empty) = spec.optional.iter().find(|name| {
        params.is_sent_empty(name)
            && !PRESENCE_FLAGS.contains(name)
            && !EMPTY_IS_A_VALUE.contains(name)
    }) {
        return Err(ApiError::invalid(empty));
    }
    ROUTES
        .iter()
        .find(|(category, action, _)| *category == spec.category && *action == spec.action)
        .map_or_else(
            || Err(ApiError::invalid("action")),
            |(_, _, handler)| handler(ctx, params),
        )
}

/// Optional parameters whose being sent is the setting, whatever the value, even empty (the
/// provider's page: the value of `volume_virtio` "is ignored"; `set_password` "can be set").
pub(crate) const PRESENCE_FLAGS: &[&str] = &["volume_virtio", "virtio", "set_password"];

/// Optional parameters for which an empty value is a value: `keep` (anything but `yes` is
/// "no") and a rule's free-text `label`.
const EMPTY_IS_A_VALUE: &[&str] = &["keep", "label"];

/// What answers one action.
type Handler = fn(&mut Ctx<'_>, &Params) -> Reply;

/// Every action the simulator answers: category, action and handler. Any other is an
/// `invalid action`.
const ROUTES: &[(&str, &str, Handler)] = &[
    ("vm", "create", vm::create),
    ("vm", "list", vm::list),
    ("vm", "info", vm::info),
    ("vm", "start", |c, p| vm::power(c, p, PowerOp::Start)),
    ("vm", "stop", |c, p| vm::power(c, p, PowerOp::Stop)),
    ("vm", "reboot", |c, p| vm::power(c, p, PowerOp::Reboot)),
    ("vm", "shelve", |c, p| vm::power(c, p, PowerOp::Shelve)),
    ("vm", "unshelve", |c, p| vm::power(c, p, PowerOp::Unshelve)),
    ("vm", "rescue", |c, p| vm::power(c, p, PowerOp::Rescue)),
    ("vm", "delete", vm::delete),
    ("vm", "reimage", vm::reimage),
    ("vm", "resize", vm::resize),
    ("vm", "diskswap", vm_misc::diskswap),
    ("vm", "vnc", vm_misc::vnc),
    ("vm", "snapshot", vm_misc::snapshot),
    ("vm", "rename", vm_misc::rename),
    ("vm", "usage", vm_misc::usage),
    ("vm", "set-fairshare", vm_misc::set_fairshare),
    ("vm", "floatingip-add", vm_net::floating_add),
    ("vm", "floatingip-delete", vm_net::floating_delete),
    ("vm", "iplist", vm_net::iplist),
    ("vm", "ip-add", vm_net::ip_add),
    ("vm", "ip-delete", vm_net::ip_delete),
    ("vm", "securitygroup-add", vm_net::group_add),
    ("vm", "securitygroup-remove", vm_net::group_remove),
    ("volume", "list", volume::list),
    ("volume", "create", volume::create),
    ("volume", "delete", volume::delete),
    ("volume", "attach", volume::attach),
    ("volume", "detach", volume::detach),
    ("volume", "info", volume::info),
    ("volume", "extend", volume::extend),
    ("volume", "rename", volume::rename),
    ("volume", "snapshot-create", volume::snapshot_create),
    ("volume", "snapshot-list", volume::snapshot_list),
    ("volume", "snapshot-replicate", volume::snapshot_replicate),
    ("volume", "snapshot-delete", volume::snapshot_delete),
    ("image", "list", image::list),
    ("image", "delete", image::delete),
    ("image", "details", image::details),
    ("image", "replicate", image::replicate),
    ("image", "fetch", image::fetch),
    ("image", "retrieve", image::retrieve),
    ("image", "rename", image::rename),
    ("floating", "list", floating::list),
    ("floating", "add", floating::add),
    ("floating", "delete", floating::delete),
    ("network", "list", network::list),
    ("network", "create", network::create),
    ("network", "delete", network::delete),
    ("lb", "list", lb::list),
    ("lb", "create", lb::create),
    ("lb", "delete", lb::delete),
    ("lb", "info", lb::info),
    ("lb", "member_add", lb::member_add),
    ("lb", "member_remove", lb::member_remove),
    ("lb", "associate", lb::associate),
    ("dns", "list", dns::rdns_list),
    ("dns", "set", dns::rdns_set),
    ("dns", "zone-list", dns::zone_list),
    ("dns", "zone-add", dns::zone_add),
    ("dns", "zone-remove", dns::zone_remove),
    ("dns", "record-list", dns::record_list),
    ("dns", "record-add", dns::record_add),
    ("dns", "record-remove", dns::record_remove),
    ("dns", "dyn-list", dns::dyn_list),
    ("dns", "dyn-add", dns::dyn_add),
    ("dns", "dyn-update", dns::dyn_update),
    ("dns", "dyn-remove", dns::dyn_remove),
    ("dns2", "zone-list", dns::dns2_zone_list),
    ("dns2", "zone-add", dns::dns2_zone_add),
    ("dns2", "zone-remove", dns::zone_remove),
    ("dns2", "record-list", dns::record_list),
    ("dns2", "record-add", dns::record_add),
    ("dns2", "record-remove", dns::dns2_record_remove),
    ("monitor", "check-list", monitor::check_list),
    ("monitor", "check-types", monitor::check_types),
    ("monitor", "check-add", monitor::check_add),
    ("monitor", "check-remove", monitor::check_remove),
    ("monitor", "contact-list", monitor::contact_list),
    ("monitor", "contact-add", monitor::contact_add),
    ("monitor", "contact-remove", monitor::contact_remove),
    ("monitor", "alert-list", monitor::alert_list),
    ("monitor", "alert-add", monitor::alert_add),
    ("monitor", "alert-remove", monitor::alert_remove),
    ("securitygroup", "list", securitygroup::list),
    ("securitygroup", "create", securitygroup::create),
    ("securitygroup", "delete", securitygroup::delete),
    ("securitygroup", "rename", securitygroup::rename),
    ("securitygroup", "rule-list", securitygroup::rule_list),
    ("securitygroup", "rule-insert", securitygroup::rule_insert),
    ("securitygroup", "rule-delete", securitygroup::rule_delete),
    ("script", "list", misc::script_list),
    ("script", "get", misc::script_get),
    ("script", "create", misc::script_create),
    ("script", "update", misc::script_update),
    ("script", "delete", misc::script_delete),
    ("sshkey", "list", misc::sshkey_list),
    ("sshkey", "add", misc::sshkey_add),
    ("sshkey", "remove", misc::sshkey_remove),
    ("plan", "list", misc::plan_list),
    ("region", "list", misc::region_list),
    ("billing", "credit", misc::billing_credit),
    ("email", "usage", email::usage),
    ("email", "domain-list", email::domain_list),
    ("email", "domain-add", email::domain_add),
    ("email", "domain-remove", email::domain_remove),
    ("email", "domain-dkim-set", email::domain_dkim_set),
    ("email", "domain-dkim-unset", email::domain_dkim_unset),
    ("email", "user-list", email::user_list),
    ("email", "user-add", email::user_add),
    ("email", "user-set-password", email::user_set_password),
    ("email", "user-remove", email::user_remove),
    ("email", "alias-list", email::alias_list),
    ("email", "alias-add", email::alias_add),
    ("email", "alias-remove", email::alias_remove),
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::ROUTES;
    use crate::lunanode::actions::ACTIONS;

    #[test]
    fn every_catalog_action_has_one_handler() {
        let routed: Vec<(&str, &str)> = ROUTES.iter().map(|(c, a, _)| (*c, *a)).collect();
        let unique: BTreeSet<&(&str, &str)> = routed.iter().collect();
        assert_eq!(unique.len(), routed.len(), "an action is routed twice");
        let listed: BTreeSet<(&str, &str)> = ACTIONS
            .iter()
            .map(|spec| (spec.category, spec.action))
            .collect();
        assert_eq!(unique.into_iter().copied().collect::<BTreeSet<_>>(), listed);
    }
}
