//! E-mail hosting: `email/domain-*`, `user-*` and `alias-*`. Passwords and DKIM private keys are
//! sent, never read back: the API has no call that shows them.

use super::decode_list;

wire_struct! {
    /// A hosted e-mail domain of `email/domain-list`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct EmailDomain {
        /// Domain ID.
        id: String,
        /// The domain name.
        name: String,
        /// Whether DKIM signing is set.
        dkim: bool,
        /// The DKIM selector, when set.
        dkim_selector: String,
    }
}

wire_struct! {
    /// A mailbox of `email/user-list`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct EmailUser {
        /// User ID.
        id: String,
        /// The local part.
        username: String,
        /// The full address.
        email: String,
    }
}

wire_struct! {
    /// An alias of `email/alias-list`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct EmailAlias {
        /// Alias ID.
        id: String,
        /// The local part.
        name: String,
        /// Where its mail goes.
        target: String,
    }
}

read_actions! {
    /// `email/domain-list`.
    email_domain_list = "email"/"domain-list"() -> Vec<EmailDomain> = decode_list["domains"];

    /// `email/domain-add`: returns the new domain's ID.
    email_domain_add = "email"/"domain-add"(name) -> String = create_with_id["domain_id", "id"];

    /// `email/user-list` of a domain.
    email_user_list = "email"/"user-list"(domain_id) -> Vec<EmailUser> = decode_list["users"];

    /// `email/user-add`: returns the new mailbox's ID. Treat `password` as a secret.
    email_user_add = "email"/"user-add"(domain_id, username, password) -> String
        = create_with_id["user_id", "id"];

    /// `email/alias-list` of a domain.
    email_alias_list = "email"/"alias-list"(domain_id) -> Vec<EmailAlias> = decode_list["aliases"];

    /// `email/alias-add`: returns the new alias's ID.
    email_alias_add = "email"/"alias-add"(domain_id, name, target) -> String
        = create_with_id["alias_id", "id"];
}

plain_actions! {
    /// `email/domain-remove`.
    email_domain_remove = "email"/"domain-remove"(domain_id);

    /// `email/domain-dkim-set`: signs the domain's mail with `private_key` (PEM) under
    /// `selector`. Treat `private_key` as a secret.
    email_domain_dkim_set = "email"/"domain-dkim-set"(domain_id, selector, private_key);

    /// `email/domain-dkim-unset`.
    email_domain_dkim_unset = "email"/"domain-dkim-unset"(domain_id);

    /// `email/user-set-password`. Treat `password` as a secret.
    email_user_set_password = "email"/"user-set-password"(domain_id, user_id, password);

    /// `email/user-remove`.
    email_user_remove = "email"/"user-remove"(domain_id, user_id);

    /// `email/alias-remove`.
    email_alias_remove = "email"/"alias-remove"(domain_id, alias_id);
}
