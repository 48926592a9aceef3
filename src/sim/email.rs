//! E-mail hosting (`email/*`): domains, users (mailboxes) and aliases. Passwords and DKIM
//! private keys are accepted and never stored or shown.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::{
    call::{ApiError, Ctx, Params, Reply, Stored, created, deleted, done, reply, stored},
    state::Account,
};

/// A hosted e-mail domain.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EmailDomain {
    /// Numeric ID.
    pub id: String,
    /// Domain name.
    pub name: String,
    /// DKIM selector, when DKIM is set.
    pub dkim_selector: Option<String>,
    /// Mailboxes by ID.
    pub users: BTreeMap<String, EmailUser>,
    /// Aliases by ID.
    pub aliases: BTreeMap<String, EmailAlias>,
}

/// A mailbox.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EmailUser {
    /// Numeric ID.
    pub id: String,
    /// Local part.
    pub username: String,
}

/// An alias.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EmailAlias {
    /// Numeric ID.
    pub id: String,
    /// Local part.
    pub name: String,
    /// Where mail goes.
    pub target: String,
}

fn domain<'a>(account: &'a mut Account, params: &Params) -> Result<&'a mut EmailDomain, ApiError> {
    params.find_mut(&mut account.email_domains, "domain_id", "domain")
}

stored!(EmailDomain, Domain, "domain_id", email_domains);
stored!(EmailUser, User, "user_id", domain, users);
stored!(EmailAlias, Alias, "alias_id", domain, aliases);

fn local_part(params: &Params, name: &str) -> Result<String, ApiError> {
    let value = params.require(name)?.trim().to_ascii_lowercase();
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c));
    if ok {
        Ok(value)
    } else {
        Err(ApiError::invalid(name))
    }
}

fn password(params: &Params) -> Result<(), ApiError> {
    let password = params.require("password")?;
    if password.chars().count() < 8 {
        return Err(ApiError::new("the password must be at least 8 characters"));
    }
    Ok(())
}

/// `email/usage`.
pub(crate) fn usage(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    let domains = &ctx.account.email_domains;
    let users: usize = domains.values().map(|d| d.users.len()).sum();
    let aliases: usize = domains.values().map(|d| d.aliases.len()).sum();
    reply([
        ("domains", json!(domains.len())),
        ("users", json!(users)),
        ("aliases", json!(aliases)),
        ("storage", json!(0)),
    ])
}

/// `email/domain-list`.
pub(crate) fn domain_list(ctx: &mut Ctx<'_>, _: &Params) -> Reply {
    let list = ctx.account.email_domains.values().map(|d| {
        json!({"id": d.id, "name": d.name, "dkim": d.dkim_selector.is_some(),
                "dkim_selector": d.dkim_selector.clone().unwrap_or_default()})
    });
    reply([("domains", list.collect())])
}

/// `email/domain-add`.
pub(crate) fn domain_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let name = params
        .require("name")?
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ok = name.contains('.')
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !ok {
        return Err(ApiError::invalid("name"));
    }
    if ctx.account.email_domains.values().any(|d| d.name == name) {
        return Err(ApiError::new("the domain already exists"));
    }
    ctx.shared.create(ctx.account, params, |id| EmailDomain {
        id,
        name,
        dkim_selector: None,
        users: BTreeMap::new(),
        aliases: BTreeMap::new(),
    })
}

/// `email/domain-remove`.
pub(crate) fn domain_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<EmailDomain>(ctx.account, params, "domain")
}

/// `email/domain-dkim-set`.
pub(crate) fn domain_dkim_set(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let selector = local_part(params, "selector")?;
    if !params.require("private_key")?.contains("PRIVATE KEY") {
        return Err(ApiError::invalid("private_key"));
    }
    domain(ctx.account, params)?.dkim_selector = Some(selector);
    done()
}

/// `email/domain-dkim-unset`.
pub(crate) fn domain_dkim_unset(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    domain(ctx.account, params)?.dkim_selector = None;
    done()
}

/// `email/user-list`.
pub(crate) fn user_list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let d = domain(ctx.account, params)?;
    let users = d.users.values().map(|u| {
        json!({"id": u.id, "username": u.username,
                "email": format!("{}@{}", u.username, d.name)})
    });
    reply([("users", users.collect())])
}

/// `email/user-add`.
pub(crate) fn user_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let username = local_part(params, "username")?;
    password(params)?;
    let id = ctx.id(EmailUser::ID);
    let d = domain(ctx.account, params)?;
    if d.users.values().any(|u| u.username == username) {
        return Err(ApiError::new("the user already exists"));
    }
    created(&mut d.users, id, |id| EmailUser { id, username })
}

/// `email/user-set-password`.
pub(crate) fn user_set_password(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    password(params)?;
    params.find(&domain(ctx.account, params)?.users, "user_id", "user")?;
    done()
}

/// `email/user-remove`.
pub(crate) fn user_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<EmailUser>(ctx.account, params, "user")
}

/// `email/alias-list`.
pub(crate) fn alias_list(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let aliases = domain(ctx.account, params)?.aliases.values();
    let aliases = aliases.map(|a| json!({"id": a.id, "name": a.name, "target": a.target}));
    reply([("aliases", aliases.collect())])
}

/// `email/alias-add`.
pub(crate) fn alias_add(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    let name = local_part(params, "name")?;
    let target = params.require("target")?.trim().to_owned();
    if !target.contains('@') || target.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid("target"));
    }
    ctx.shared
        .create(ctx.account, params, |id| EmailAlias { id, name, target })
}

/// `email/alias-remove`.
pub(crate) fn alias_remove(ctx: &mut Ctx<'_>, params: &Params) -> Reply {
    deleted::<EmailAlias>(ctx.account, params, "alias")
}
