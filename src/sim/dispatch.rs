//! From `category/action` to the handler of its area, after the catalog's required-parameter
//! check (`<parameter> not set`).

use super::{
    call::{ApiError, Ctx, Params, Reply},
    dns, email, floating, image, lb, misc, monitor, network, securitygroup, vm, volume,
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
    let action = spec.action;
    match spec.category {
        "vm" => vm::handle(ctx, action, params),
        "volume" => volume::handle(ctx, action, params),
        "image" => image::handle(ctx, action, params),
        "floating" => floating::handle(ctx, action, params),
        "network" => network::handle(ctx, action, params),
        "lb" => lb::handle(ctx, action, params),
        "dns" => dns::handle(ctx, action, params),
        "dns2" => dns::handle2(ctx, action, params),
        "monitor" => monitor::handle(ctx, action, params),
        "securitygroup" => securitygroup::handle(ctx, action, params),
        "script" => misc::script(ctx, action, params),
        "sshkey" => misc::sshkey(ctx, action, params),
        "plan" => misc::plan(action),
        "region" => misc::region(action),
        "billing" => misc::billing(action),
        "email" => email::handle(ctx, action, params),
        _ => Err(ApiError::invalid("action")),
    }
}
