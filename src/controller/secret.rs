//! Connection Secrets: the login details and addresses of a VM, written where
//! `spec.writeConnectionSecretToRef` says, owned by the object so they go with it.
//!
//! A Secret the operator did not create is never written: the operator creates the Secret when
//! it is absent (with a controller owner reference to the object) and updates it only while
//! that owner reference names this very object (by UID). Any other Secret of that name is left
//! untouched — not even its metadata is patched — and the caller reports a conflict. Both writes
//! are conditional (a create fails if the name was taken meanwhile, an update names the
//! `resourceVersion` that was checked), so a race can never clobber a foreign Secret.

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Resource, ResourceExt,
    api::{ObjectMeta, PostParams},
};

use crate::api::common::FIELD_MANAGER;

/// The label every connection Secret carries.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "lunanode-operator");

/// Why an existing Secret is not this object's to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    /// No owner reference marks a controller.
    NoController,
    /// Another object controls it.
    OtherController {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// Whether it has the kind and name of this object (an earlier object of that name:
        /// the UIDs differ).
        same_name: bool,
    },
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Foreign::NoController => write!(f, "it has no controlling owner"),
            Foreign::OtherController {
                kind,
                name,
                same_name: true,
            } => write!(
                f,
                "it is controlled by an earlier {kind} named {name}, not by this one (the UIDs differ)"
            ),
            Foreign::OtherController { kind, name, .. } => {
                write!(f, "it is controlled by {kind} {name}")
            }
        }
    }
}

/// What is at the Secret's name now.
#[derive(Debug, Clone)]
pub enum Target {
    /// Nothing: the operator may create it.
    Absent,
    /// A Secret controlled by this object: the operator may update it.
    Owned(Box<Secret>),
    /// A Secret this object does not control: never written.
    NotOwned(Foreign),
}

/// The outcome of [`write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// The Secret did not exist and was created, owned by the object.
    Created,
    /// The object's Secret was updated.
    Updated,
    /// The object's Secret already held exactly this data.
    Unchanged,
    /// A Secret of that name exists and is not the object's: nothing was written.
    NotOwned(Foreign),
}

/// Whether `secret` may be written on behalf of `owner`: only when one of its owner references
/// is a controller reference with `owner`'s UID.
pub fn ownership<K>(owner: &K, secret: &Secret) -> Result<(), Foreign>
where
    K: Resource<DynamicType = ()>,
{
    let uid = owner.meta().uid.as_deref();
    let controller = secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|reference| reference.controller == Some(true));
    match controller {
        Some(reference) if uid.is_some() && Some(reference.uid.as_str()) == uid => Ok(()),
        Some(reference) => Err(Foreign::OtherController {
            same_name: reference.kind == K::kind(&())
                && reference.api_version == K::api_version(&())
                && Some(reference.name.as_str()) == owner.meta().name.as_deref(),
            kind: reference.kind.clone(),
            name: reference.name.clone(),
        }),
        None => Err(Foreign::NoController),
    }
}

/// Reads what is at `name` in the owner's namespace (one GET).
pub async fn inspect<K>(kube: &kube::Client, owner: &K, name: &str) -> Result<Target, kube::Error>
where
    K: Resource<DynamicType = ()>,
{
    let api: Api<Secret> = Api::namespaced(kube.clone(), &owner.namespace().unwrap_or_default());
    Ok(match api.get_opt(name).await? {
        None => Target::Absent,
        Some(secret) => match ownership(owner, &secret) {
            Ok(()) => Target::Owned(Box::new(secret)),
            Err(foreign) => Target::NotOwned(foreign),
        },
    })
}

/// Writes `data` into the Secret `name` in the owner's namespace: creates it (with a controller
/// owner reference to `owner`) when absent, updates it when `owner` controls it, and otherwise
/// writes nothing and says why. The values are never logged nor put in errors.
pub async fn write<K>(
    kube: &kube::Client,
    owner: &K,
    name: &str,
    data: BTreeMap<String, String>,
) -> Result<Written, kube::Error>
where
    K: Resource<DynamicType = ()>,
{
    let namespace = owner.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(kube.clone(), &namespace);
    let data: BTreeMap<String, ByteString> = data
        .into_iter()
        .map(|(key, value)| (key, ByteString(value.into_bytes())))
        .collect();
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    match inspect(kube, owner, name).await? {
        Target::NotOwned(foreign) => Ok(Written::NotOwned(foreign)),
        Target::Absent => {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    namespace: Some(namespace),
                    owner_references: owner.controller_owner_ref(&()).map(|owner| vec![owner]),
                    labels: Some(BTreeMap::from([(
                        MANAGED_BY.0.to_owned(),
                        MANAGED_BY.1.to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".into()),
                data: Some(data),
                ..Secret::default()
            };
            // Fails with AlreadyExists if the name was taken since the GET: retried, and then
            // seen for what it is.
            api.create(&params, &secret).await?;
            Ok(Written::Created)
        }
        Target::Owned(current) => {
            let mut secret = *current;
            let labelled =
                secret.labels().get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1);
            if secret.data.as_ref() == Some(&data) && labelled {
                return Ok(Written::Unchanged);
            }
            secret.data = Some(data);
            secret.string_data = None;
            secret
                .labels_mut()
                .insert(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned());
            // The body keeps the resourceVersion that was checked: if the Secret changed since
            // (another owner, say), the update conflicts instead of overwriting it.
            api.replace(name, &params, &secret).await?;
            Ok(Written::Updated)
        }
    }
}

/// The value at a key of a Secret a spec names (a password, a private key), and the Secret's
/// version, which stands for the value wherever the operator must remember what it applied:
/// the value itself is never written anywhere but to the API call that needs it.
pub struct SecretValue {
    /// The value, as text.
    pub value: secrecy::SecretString,
    /// `<name>/<uid>/<resourceVersion>` of the Secret: it changes with the value (and with any
    /// other write of the Secret, which only sets the same value again).
    pub version: String,
}

/// The value at `reference` of a Secret of `namespace`, or why there is none (the Secret or the
/// key missing, not UTF-8): a message that names the Secret and key, never the value.
pub async fn read_key(
    kube: &kube::Client,
    namespace: &str,
    reference: &crate::api::common::KeyRef,
    object: &str,
) -> Result<Result<SecretValue, String>, crate::controller::error::Error> {
    let api: Api<Secret> = Api::namespaced(kube.clone(), namespace);
    let found =
        api.get_opt(&reference.name)
            .await
            .map_err(crate::controller::error::Error::kube(
                "read a Secret",
                object,
            ))?;
    let name = &reference.name;
    let key = &reference.key;
    let Some(secret) = found else {
        return Ok(Err(format!("Secret {name} does not exist")));
    };
    let version = format!(
        "{name}/{}/{}",
        secret.uid().unwrap_or_default(),
        secret.resource_version().unwrap_or_default()
    );
    let bytes = secret.data.and_then(|mut data| data.remove(key));
    let Some(bytes) = bytes else {
        return Ok(Err(format!("Secret {name} has no key {key}")));
    };
    match String::from_utf8(bytes.0) {
        Ok(text) => Ok(Ok(SecretValue {
            value: secrecy::SecretString::from(text),
            version,
        })),
        Err(_) => Ok(Err(format!("key {key} of Secret {name} is not UTF-8 text"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

    use super::*;
    use crate::api::vm::{LunaVM, LunaVMSpec};

    fn vm(uid: &str) -> LunaVM {
        let mut vm = LunaVM::new("web", LunaVMSpec::new("web", "m.1", "image"));
        vm.metadata.namespace = Some("ns".into());
        vm.metadata.uid = Some(uid.into());
        vm
    }

    fn secret(owners: Vec<OwnerReference>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some("web-connection".into()),
                owner_references: Some(owners),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        }
    }

    #[test]
    fn only_a_controller_reference_with_this_uid_owns_the_secret() {
        let owner = vm("uid-1");
        let mine = owner.controller_owner_ref(&()).unwrap();
        assert_eq!(ownership(&owner, &secret(vec![mine.clone()])), Ok(()));

        assert_eq!(
            ownership(&owner, &secret(Vec::new())),
            Err(Foreign::NoController)
        );
        // The same UID, but not as controller: not ours.
        let mut plain = mine.clone();
        plain.controller = None;
        assert_eq!(
            ownership(&owner, &secret(vec![plain])),
            Err(Foreign::NoController)
        );
        // An earlier LunaVM of the same name.
        let earlier = vm("uid-0").controller_owner_ref(&()).unwrap();
        let refused = ownership(&owner, &secret(vec![earlier])).unwrap_err();
        assert!(matches!(
            refused,
            Foreign::OtherController {
                same_name: true,
                ..
            }
        ));
        assert!(refused.to_string().contains("earlier LunaVM named web"));
        // Something else entirely.
        let other = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            uid: "uid-9".into(),
            controller: Some(true),
            block_owner_deletion: None,
        };
        assert_eq!(
            ownership(&owner, &secret(vec![other]))
                .unwrap_err()
                .to_string(),
            "it is controlled by Deployment web"
        );
        // An object without a UID (never stored) owns nothing.
        let mut unsaved = vm("uid-1");
        unsaved.metadata.uid = None;
        assert!(ownership(&unsaved, &secret(vec![mine])).is_err());
    }
}
