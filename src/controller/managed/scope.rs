//! The namespaces the operator serves, and the watches and lists over them.
//!
//! The operator serves every namespace (cluster-wide rights) or a list of namespaces (a Role in
//! each, and nothing outside them). With a list, each namespace has its own watch: a watch
//! across namespaces needs cluster-wide rights, which is what a list avoids.
//!
//! A kind's controller keeps one object cache over all of them. The watches of several
//! namespaces cannot feed one reflector as they come: each watch ends its (re)list with
//! `InitDone`, which replaces the whole cache with that namespace's objects. [`watch_into`]
//! merges them instead: every object applied or deleted goes to the cache as such; a
//! namespace's relist removes, once done, that namespace's objects it did not list (deleted
//! while the watch was down); and the cache turns ready when every namespace has listed once.

use std::{
    collections::{BTreeSet, HashSet},
    sync::Arc,
};

use futures::{Stream, StreamExt, stream::BoxStream};
use kube::{
    Api, Resource, ResourceExt,
    runtime::{
        WatchStreamExt,
        reflector::{Store, store::Writer},
        watcher::{self, Event},
    },
};
use serde::de::DeserializeOwned;

/// The namespaces the operator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (cluster-wide rights).
    Cluster,
    /// These namespaces only (a Role in each), at least one, without repeats.
    Namespaces(Vec<String>),
}

impl Scope {
    /// The scope of `namespaces` (empty: every namespace), repeats dropped, order kept.
    pub fn new(namespaces: &[String]) -> Self {
        let mut seen = BTreeSet::new();
        let list: Vec<String> = namespaces
            .iter()
            .map(|namespace| namespace.trim().to_owned())
            .filter(|namespace| !namespace.is_empty() && seen.insert(namespace.clone()))
            .collect();
        if list.is_empty() {
            Self::Cluster
        } else {
            Self::Namespaces(list)
        }
    }

    /// The first namespace of the list (`None` for every namespace): where the Lease goes when
    /// nothing else says.
    pub fn first(&self) -> Option<&str> {
        match self {
            Self::Cluster => None,
            Self::Namespaces(list) => list.first().map(String::as_str),
        }
    }

    /// One API of kind `K` per served namespace, or one over every namespace.
    pub fn apis<K>(&self, kube: &kube::Client) -> Vec<Api<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        match self {
            Self::Cluster => vec![Api::all(kube.clone())],
            Self::Namespaces(list) => list
                .iter()
                .map(|namespace| Api::namespaced(kube.clone(), namespace))
                .collect(),
        }
    }

    /// Every object of kind `K` the operator serves, listed (one list per namespace).
    pub async fn list<K>(&self, kube: &kube::Client) -> Result<Vec<K>, kube::Error>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let mut objects = Vec::new();
        for api in self.apis::<K>(kube) {
            objects.extend(api.list(&kube::api::ListParams::default()).await?.items);
        }
        Ok(objects)
    }
}

/// The watch events of kind `K` over the namespaces of `scope`, applied to the cache behind
/// `writer` (whose reader is `reader`) as the module's doc says, and passed on. `modify` trims
/// each object before it is cached.
pub fn watch_into<K>(
    scope: &Scope,
    kube: &kube::Client,
    config: watcher::Config,
    modify: fn(&mut K),
    mut writer: Writer<K>,
    reader: Store<K>,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    let namespaces = match scope {
        Scope::Cluster => Vec::new(),
        Scope::Namespaces(list) => list.clone(),
    };
    let streams: Vec<BoxStream<'static, Tagged<K>>> = scope
        .apis::<K>(kube)
        .into_iter()
        .enumerate()
        .map(|(index, api)| {
            // Each namespace backs off on its own: one whose watch keeps failing (its Role
            // missing, say) does not slow the others.
            watcher::watcher(api, config.clone())
                .default_backoff()
                .map(move |event| (index, event.map(|event| event.modify(modify))))
                .boxed()
        })
        .collect();
    let mut merge = Merge::new(namespaces);
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    futures::stream::select_all(streams).filter_map(move |(index, event)| {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                // Said here and not passed on: the controller would back off every namespace's
                // events for one namespace's error.
                let namespace = merge.namespaces.get(index).map_or("", String::as_str);
                tracing::warn!(%kind, namespace, %error, "a watch failed; retrying");
                return futures::future::ready(None);
            }
        };
        if merge.namespaces.len() <= 1 {
            // One watch: it is the whole cache, and its relists replace it.
            writer.apply_watcher_event(&event);
        } else {
            for step in merge.steps(index, &event, || reader.state()) {
                writer.apply_watcher_event(&step);
            }
        }
        futures::future::ready(Some(Ok(event)))
    })
}

/// A watch event with the number of the watch it came from.
type Tagged<K> = (usize, Result<Event<K>, watcher::Error>);

/// What the merged cache does with the events of several namespaces' watches: the pure part of
/// [`watch_into`].
struct Merge {
    /// The namespace of each watch.
    namespaces: Vec<String>,
    /// The names each namespace's current relist has listed so far (`None`: no relist under
    /// way).
    listing: Vec<Option<HashSet<String>>>,
    /// The namespaces whose watch has listed once.
    listed: Vec<bool>,
    /// Whether the cache was declared ready (every namespace listed once).
    ready: bool,
}

impl Merge {
    fn new(namespaces: Vec<String>) -> Self {
        let count = namespaces.len();
        Self {
            namespaces,
            listing: vec![None; count],
            listed: vec![false; count],
            ready: false,
        }
    }

    /// The events to apply to the merged cache for `event` of the watch number `index`. `cache`
    /// gives the merged cache's objects; it is read only at the end of a relist, not for every
    /// event.
    fn steps<K: Resource + Clone>(
        &mut self,
        index: usize,
        event: &Event<K>,
        cache: impl FnOnce() -> Vec<Arc<K>>,
    ) -> Vec<Event<K>> {
        match event {
            Event::Apply(object) | Event::InitApply(object) => {
                if let Some(Some(listing)) = self.listing.get_mut(index) {
                    listing.insert(object.name_any());
                }
                vec![Event::Apply(object.clone())]
            }
            Event::Delete(object) => vec![Event::Delete(object.clone())],
            Event::Init => {
                if let Some(slot) = self.listing.get_mut(index) {
                    *slot = Some(HashSet::new());
                }
                Vec::new()
            }
            Event::InitDone => {
                let listed = self
                    .listing
                    .get_mut(index)
                    .and_then(Option::take)
                    .unwrap_or_default();
                if let Some(flag) = self.listed.get_mut(index) {
                    *flag = true;
                }
                let namespace = self.namespaces.get(index).map(String::as_str);
                // What this relist did not list is gone from its namespace.
                let gone = |object: &K| {
                    object.namespace().as_deref() == namespace
                        && !listed.contains(&object.name_any())
                };
                let cache = cache();
                let mut steps: Vec<Event<K>> = cache
                    .iter()
                    .filter(|object| gone(object))
                    .map(|object| Event::Delete((**object).clone()))
                    .collect();
                if !self.ready && self.listed.iter().all(|done| *done) {
                    self.ready = true;
                    // The writer turns ready on InitDone, after swapping in what came since
                    // Init: give it the whole merged cache, less what is gone.
                    steps.push(Event::Init);
                    steps.extend(
                        cache
                            .iter()
                            .filter(|object| !gone(object))
                            .map(|object| Event::InitApply((**object).clone())),
                    );
                    steps.push(Event::InitDone);
                }
                steps
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::runtime::reflector;

    use super::*;

    fn map(namespace: &str, name: &str) -> ConfigMap {
        let mut object = ConfigMap::default();
        object.metadata.namespace = Some(namespace.into());
        object.metadata.name = Some(name.into());
        object
    }

    /// Feeds `events` of watch `index` through `merge` into `writer`.
    fn feed(
        merge: &mut Merge,
        writer: &mut Writer<ConfigMap>,
        store: &Store<ConfigMap>,
        index: usize,
        events: Vec<Event<ConfigMap>>,
    ) {
        for event in events {
            for step in merge.steps(index, &event, || store.state()) {
                writer.apply_watcher_event(&step);
            }
        }
    }

    fn contents(store: &Store<ConfigMap>) -> Vec<String> {
        let mut keys: Vec<String> = store.state().iter().map(|object| key(object)).collect();
        keys.sort();
        keys
    }

    fn key(object: &ConfigMap) -> String {
        format!("{}/{}", object.namespace().unwrap(), object.name_any())
    }

    fn is_ready(store: &Store<ConfigMap>) -> bool {
        futures::FutureExt::now_or_never(store.wait_until_ready()).is_some()
    }

    #[test]
    fn a_scope_is_every_namespace_or_a_list_without_repeats() {
        assert_eq!(Scope::new(&[]), Scope::Cluster);
        assert_eq!(Scope::new(&[" ".into()]), Scope::Cluster);
        let scope = Scope::new(&["a".into(), "b".into(), "a".into()]);
        assert_eq!(scope, Scope::Namespaces(vec!["a".into(), "b".into()]));
        assert_eq!(scope.first(), Some("a"));
        assert_eq!(Scope::Cluster.first(), None);
    }

    #[test]
    fn the_merged_cache_holds_every_namespace_and_is_ready_when_all_have_listed() {
        let (store, mut writer) = reflector::store::<ConfigMap>();
        let mut merge = Merge::new(vec!["a".into(), "b".into()]);
        let relist = |objects: &[ConfigMap]| {
            let mut events = vec![Event::Init];
            events.extend(objects.iter().cloned().map(Event::InitApply));
            events.push(Event::InitDone);
            events
        };
        feed(&mut merge, &mut writer, &store, 0, relist(&[map("a", "x")]));
        assert_eq!(contents(&store), ["a/x"]);
        assert!(!is_ready(&store), "ready before namespace b listed");
        // Namespace b's relist does not replace namespace a's objects.
        feed(&mut merge, &mut writer, &store, 1, relist(&[map("b", "y")]));
        assert_eq!(contents(&store), ["a/x", "b/y"]);
        assert!(is_ready(&store));
        // Changes between relists.
        let events = vec![Event::Apply(map("b", "z")), Event::Delete(map("b", "y"))];
        feed(&mut merge, &mut writer, &store, 1, events);
        assert_eq!(contents(&store), ["a/x", "b/z"]);
        // A relist of a (after its watch was down) drops what a no longer has, and only that.
        feed(&mut merge, &mut writer, &store, 0, relist(&[map("a", "w")]));
        assert_eq!(contents(&store), ["a/w", "b/z"]);
        // An empty relist empties its namespace.
        feed(&mut merge, &mut writer, &store, 1, relist(&[]));
        assert_eq!(contents(&store), ["a/w"]);
    }
}
