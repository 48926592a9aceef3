//! The small VM actions: `vm/diskswap`, `vm/vnc`, `vm/snapshot`, `vm/rename`, `vm/usage` and
//! `vm/set-fairshare`.

use serde_json::{Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, done, reply},
    image,
    vm::{find, find_mut, valid_hostname},
    vm_status::Phase,
};

pub(crate) fn diskswap(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let vm = find_mut(ctx.account, params)?;
    if vm.phase != Phase::Stopped {
        return Err(ApiError::new(
            "the VM must be stopped before disk swap can proceed",
        ));
    }
    vm.disks_swapped = !vm.disks_swapped;
    done()
}

pub(crate) fn vnc(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let region = find(ctx.account, params)?.region.clone();
    let token = ctx.shared.uuid();
    // A `.invalid` host: the simulator must never send anyone to the real console.
    let url = format!("https://{region}-ctrl.sim.invalid:6080/vnc_auto.html?token={token}");
    reply([("vnc_url", json!(url))])
}

pub(crate) fn snapshot(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let name = params.text("name")?;
    let (region, user, size) = {
        let vm = find(ctx.account, params)?;
        let storage = vm.plan().map_or(10, |p| p.storage);
        (
            vm.region.clone(),
            vm.login_user.clone(),
            u64::from(storage) * 1024 * 1024 * 1024 / 8,
        )
    };
    let source = format!("snapshot of {}", params.require("vm_id")?.trim());
    let id = image::create(ctx, name, &region, user, size, source, false);
    reply([("image_id", json!(id))])
}

pub(crate) fn rename(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let hostname = params.require("hostname")?;
    if !valid_hostname(hostname) {
        return Err(ApiError::invalid("hostname"));
    }
    let vm = find_mut(ctx.account, params)?;
    vm.hostname = hostname.trim().to_owned();
    done()
}

pub(crate) fn usage(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let vm = find(ctx.account, params)?;
    let key = params.require("key")?;
    if !matches!(key, "bandwidth" | "cpu" | "io") {
        return Err(ApiError::invalid("key"));
    }
    let now_secs = ctx.now / 1000;
    // Twelve five-minute samples of plausible, deterministic numbers.
    let samples: Vec<Value> = (0..12i64)
        .map(|i| {
            let unix_time = now_secs - (11 - i) * 300;
            let wave = ((i as u64 * 37 + vm.seq) % 17) as f64;
            match key {
                "bandwidth" => json!({
                    "unix_time": unix_time,
                    "incoming_rate": format!("{:.2}", 1200.0 + wave * 75.0),
                    "outgoing_rate": format!("{:.2}", 800.0 + wave * 40.0),
                    "total_rate": format!("{:.2}", 2000.0 + wave * 115.0),
                }),
                "cpu" => json!({"unix_time": unix_time, "percent": format!("{:.2}", 2.0 + wave)}),
                _ => json!({
                    "unix_time": unix_time,
                    "read": format!("{:.2}", 4096.0 * wave),
                    "write": format!("{:.2}", 8192.0 + 512.0 * wave),
                }),
            }
        })
        .collect();
    reply([("usage", Value::Array(samples))])
}

pub(crate) fn set_fairshare(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let flag = |name: &str| -> Result<Option<bool>, ApiError> {
        match params.get(name) {
            None => Ok(None),
            Some("yes") => Ok(Some(true)),
            Some("no") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid(name)),
        }
    };
    let charge = flag("charge_for_cpu")?;
    let nolend = flag("fairshare_nolend")?;
    let vm = find_mut(ctx.account, params)?;
    if let Some(charge) = charge {
        vm.charge_for_cpu = charge;
    }
    if let Some(nolend) = nolend {
        vm.fairshare_nolend = nolend;
    }
    done()
}
