//! `LunaStartupScript`: a boot script on the Luna Node account, its content inline or from a key
//! of a Secret or ConfigMap, updated in place (`script update`) when either changes.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::common::{CLOUD_NAME_PATTERN, KeyRef, exactly_one};

crate::managed_crd! {
    /// A Luna Node startup script, created, updated and deleted to match its spec.
    kube(kind = "LunaStartupScript", plural = "lunastartupscripts", singular = "lunastartupscript", shortname = "lscript"),
    status = "LunaStartupScriptStatus",
    columns(id, ("Script", "string", ".spec.name")),
    /// Desired state of a LunaStartupScript.
    #[x_kube(validation = exactly_one("content", "contentFrom"))]
    #[derive(Default)]
    pub struct LunaStartupScriptSpec {
        /// Name of the script on Luna Node (renamed to follow the spec); also how a script whose
        /// create answer was lost is found again, so keep it unique on the account.
        #[schemars(length(min = 1, max = 64), regex(pattern = CLOUD_NAME_PATTERN))]
        pub name: String,

        /// The script itself (`#!/bin/sh ...`, or cloud-init). Exactly one of `content` and
        /// `contentFrom`.
        #[schemars(length(min = 1, max = 65536))]
        pub content: Option<String>,

        /// Where the script is kept instead: a key of a Secret or ConfigMap of the namespace.
        /// Its content is never written to the status, an Event or a log; only its SHA-256 is.
        pub content_from: Option<ScriptSource>,
    }
}

impl LunaStartupScriptSpec {
    /// A script `name` with `content` inline.
    pub fn new(name: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            content: Some(content.into()),
            ..Self::default()
        }
    }
}

/// Where a script's content is kept: a key of a Secret or of a ConfigMap.
#[derive(KubeSchema, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = exactly_one("secretKeyRef", "configMapKeyRef"))]
pub struct ScriptSource {
    /// A key of a Secret in the same namespace: its content is never written to the status, an
    /// Event or a log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
    /// A key of a ConfigMap in the same namespace (`data`, or `binaryData` holding UTF-8 text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
}

impl ScriptSource {
    /// Key `key` of Secret `name`.
    pub fn secret(name: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            secret_key_ref: Some(KeyRef::new(name, key)),
            config_map_key_ref: None,
        }
    }

    /// Key `key` of ConfigMap `name`.
    pub fn config_map(name: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            secret_key_ref: None,
            config_map_key_ref: Some(KeyRef::new(name, key)),
        }
    }
}

crate::status_types! {
    /// A script as the API reports it.
    pub struct ScriptAtProvider in LunaStartupScriptStatus for LunaStartupScript {
        /// Its name.
        pub name: Option<String>,
        /// The SHA-256 of its content (line endings as `\n`), never the content itself.
        pub content_sha256: Option<String>,
    }
}
