//! The small categories: `plan/list`, `region/list`, `billing/credit`, startup scripts
//! (`script/*`) and SSH keys (`sshkey/*`).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{
    call::{ApiError, Ctx, Params, Reply, deleted, reply, stored, updated, valid_text},
    catalog,
};

/// A startup script.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Script {
    /// Numeric ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Content, with CRLF line endings as the real service returns it.
    pub content: String,
}

/// An SSH public key.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SshKey {
    /// Numeric ID.
    pub id: String,
    /// Label.
    pub name: String,
    /// The public key line.
    pub value: String,
}

/// The credit every account shows (USD).
const CREDIT: &str = "100.00000000";

stored!(Script, Script, "script_id", scripts);
stored!(SshKey, SshKey, "key_id", ssh_keys);

/// `plan/list`.
pub(crate) fn plan_list(_: &mut Ctx<'_>, _: &Params) -> Reply {
    let plans: Vec<Value> = catalog::PLANS.iter().map(|plan| plan.entry()).collect();
    reply([("plans", Value::Array(plans))])
}

/// `region/list`.
pub(crate) fn region_list(_: &mut Ctx<'_>, _: &Params) -> Reply {
    let regions: Map<String, Value> = catalog::REGIONS
        .iter()
        .map(|(slug, name)| ((*slug).to_owned(), json!(name)))
        .collect();
    reply([("regions", Value::Object(regions))])
}

/// `billing/credit`.
pub(crate) fn billing_credit(_: &mut Ctx<'_>, _: &Params) -> Reply {
    reply([("credit", json!(CREDIT))])
}

/// Normalises line endings to CRLF.
fn crlf(content: &str) -> String {
    content.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// The script that `name` and `content` describe, made once its ID is known: what
/// `script/create` stores and `script/update` writes over the stored one.
fn script_from(params: &Params) -> Result<impl FnOnce(String) -> Script, ApiError> {
    let name = params.require("name")?;
    let content = params.require("content")?;
    if !valid_text(name, 255) {
        return Err(ApiError::invalid("name"));
    }
    if content.len() > 64 * 1024 {
        return Err(ApiError::invalid("content"));
    }
    let (name, content) = (name.trim().to_owned(), crlf(content));
    Ok(|id| Script { id, name, content })
}

/// `script/list`.
pub(crate) fn script_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    let scripts = ctx.account.scripts.values();
    let scripts = scripts.map(|s| json!({"id": s.id, "name": s.name, "content": s.content}));
    reply([("scripts", scripts.collect())])
}

/// `script/get`.
pub(crate) fn script_get(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let script = params.find(&ctx.account.scripts, "script_id", "script")?;
    reply([
        ("id", json!(script.id)),
        ("name", json!(script.name)),
        ("content", json!(script.content)),
    ])
}

/// `script/create`.
pub(crate) fn script_create(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let script = script_from(params)?;
    ctx.shared.create(ctx.account, params, script)
}

/// `script/update`.
pub(crate) fn script_update(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let script = script_from(params)?;
    updated(
        &mut ctx.account.scripts,
        params,
        "script_id",
        "script",
        script,
    )
}

/// `script/delete`.
pub(crate) fn script_delete(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<Script>(ctx.account, params, "script")
}

/// `sshkey/list`.
pub(crate) fn sshkey_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    // Keyed "0", "1", ... next to "success": array indices, not key IDs.
    Ok(ctx
        .account
        .ssh_keys
        .values()
        .enumerate()
        .map(|(index, key)| {
            let entry =
                json!({"id": key.id, "name": key.name, "value": key.value, "val": key.value});
            (index.to_string(), entry)
        })
        .collect())
}

/// `sshkey/add`.
pub(crate) fn sshkey_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let label = params.require("label")?;
    let value = params.require("sshkey")?.trim();
    if !valid_text(label, 255) {
        return Err(ApiError::invalid("label"));
    }
    let mut parts = value.split_whitespace();
    let kind_ok = parts
        .next()
        .is_some_and(|kind| kind.starts_with("ssh-") || kind.starts_with("ecdsa-"));
    if !kind_ok || parts.next().is_none() || value.chars().any(char::is_control) {
        return Err(ApiError::invalid("sshkey"));
    }
    ctx.shared.create(ctx.account, params, |id| SshKey {
        id,
        name: label.trim().to_owned(),
        value: value.to_owned(),
    })
}

/// `sshkey/remove`.
pub(crate) fn sshkey_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<SshKey>(ctx.account, params, "key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_get_crlf_line_endings() {
        assert_eq!(crlf("a\nb\r\nc"), "a\r\nb\r\nc");
    }
}
