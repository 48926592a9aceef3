//! The records of a zone, compared: what the spec wants (its references resolved), what the
//! operator owns, what the zone holds, and the writes between them. Pure functions, so that the
//! diff is tested without an API.

use std::{
    collections::HashSet,
    net::{Ipv4Addr, Ipv6Addr},
};

use crate::{api::dnszone::AppliedRecord, lunanode::types::DnsRecord};

/// A record the spec asks for, its source resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Name relative to the origin, as written in the spec.
    pub name: String,
    /// Record type.
    pub record_type: String,
    /// The value.
    pub data: String,
    /// TTL.
    pub ttl: u32,
    /// The LunaVM it follows.
    pub vm_ref: Option<String>,
    /// The LunaFloatingIP it follows.
    pub floating_ip_ref: Option<String>,
}

impl Wanted {
    /// The owned record this becomes once added as `id`.
    pub fn applied(&self, id: String) -> AppliedRecord {
        AppliedRecord {
            name: self.name.clone(),
            record_type: self.record_type.clone(),
            data: self.data.clone(),
            ttl: self.ttl,
            vm_ref: self.vm_ref.clone(),
            floating_ip_ref: self.floating_ip_ref.clone(),
            id,
        }
    }

    /// `name type data`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {} {}", self.name, self.record_type, self.data)
    }
}

/// A spec record whose reference has no address yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// Name relative to the origin.
    pub name: String,
    /// Record type.
    pub record_type: String,
    /// The LunaVM it follows.
    pub vm_ref: Option<String>,
    /// The LunaFloatingIP it follows.
    pub floating_ip_ref: Option<String>,
    /// Why it waits.
    pub why: String,
}

/// A record name relative to `origin` (canonical, `example.com.`), lower case: `@` for the
/// origin, the absolute forms the server may write shortened.
pub fn relative_name(name: &str, origin: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    let bare_origin = origin.trim_end_matches('.');
    let bare = name.trim_end_matches('.');
    if bare.is_empty() || bare == "@" || bare == bare_origin {
        return "@".to_owned();
    }
    bare.strip_suffix(bare_origin)
        .and_then(|prefix| prefix.strip_suffix('.'))
        .filter(|prefix| !prefix.is_empty())
        .unwrap_or(bare)
        .to_owned()
}

/// Record data in a form that compares equal when the DNS meaning is equal: addresses parsed,
/// host names lower case without the final dot, blanks collapsed.
pub fn data_key(record_type: &str, data: &str) -> String {
    let data = data.trim();
    match record_type {
        "A" => data
            .parse::<Ipv4Addr>()
            .map_or_else(|_| data.to_owned(), |ip| ip.to_string()),
        "AAAA" => data
            .parse::<Ipv6Addr>()
            .map_or_else(|_| data.to_ascii_lowercase(), |ip| ip.to_string()),
        "TXT" => data.to_owned(),
        _ => data
            .split_whitespace()
            .map(|word| {
                if word.starts_with('"') {
                    word.to_owned()
                } else {
                    let lower = word.to_ascii_lowercase();
                    if lower == "." {
                        lower
                    } else {
                        lower.trim_end_matches('.').to_owned()
                    }
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// What identifies a record, TTL aside: (name, type, data), compared canonically.
pub type RecordKey = (String, String, String);

fn key_of(name: &str, record_type: &str, data: &str) -> RecordKey {
    let record_type = record_type.trim().to_ascii_uppercase();
    // The origin does not matter for names written relative to it.
    (
        relative_name(name, "."),
        record_type.clone(),
        data_key(&record_type, data),
    )
}

/// Whether two wanted records are the same record, TTL aside.
pub fn same(a: &Wanted, b: &Wanted) -> bool {
    key_of(&a.name, &a.record_type, &a.data) == key_of(&b.name, &b.record_type, &b.data)
}

/// A record as listed, with its name made relative to the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Record ID.
    pub id: String,
    /// Name relative to the origin.
    pub name: String,
    /// Type.
    pub record_type: String,
    /// Data.
    pub data: String,
    /// TTL, when listed.
    pub ttl: Option<u32>,
}

impl From<&AppliedRecord> for Listed {
    /// An owned record as a list shows it.
    fn from(record: &AppliedRecord) -> Self {
        Self {
            id: record.id.clone(),
            name: record.name.clone(),
            record_type: record.record_type.clone(),
            data: record.data.clone(),
            ttl: Some(record.ttl),
        }
    }
}

impl Listed {
    /// A listed record, its name made relative to `origin` (canonical).
    pub fn from_api(record: &DnsRecord, origin: &str) -> Self {
        Self {
            id: record.id.clone(),
            name: relative_name(&record.name, origin),
            record_type: record.record_type.trim().to_ascii_uppercase(),
            data: record.data.clone(),
            ttl: record.ttl,
        }
    }

    fn key(&self) -> RecordKey {
        key_of(&self.name, &self.record_type, &self.data)
    }

    /// The zone's own records, which even `prune` leaves alone: SOA, and NS at the apex.
    pub fn is_service_record(&self) -> bool {
        self.record_type == "SOA" || (self.record_type == "NS" && self.name == "@")
    }

    fn applied(&self) -> AppliedRecord {
        AppliedRecord {
            name: self.name.clone(),
            record_type: self.record_type.clone(),
            data: self.data.clone(),
            ttl: self.ttl.unwrap_or_default(),
            vm_ref: None,
            floating_ip_ref: None,
            id: self.id.clone(),
        }
    }
}

fn applied_key(record: &AppliedRecord) -> RecordKey {
    key_of(&record.name, &record.record_type, &record.data)
}

/// The identity of a wanted record.
pub fn wanted_key(record: &Wanted) -> RecordKey {
    key_of(&record.name, &record.record_type, &record.data)
}

/// The writes that bring the zone to the spec.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Owned records to keep (values possibly relabelled with the spec's references).
    pub keep: Vec<AppliedRecord>,
    /// Records in the zone identical to a spec record, taken over.
    pub adopt: Vec<AppliedRecord>,
    /// Spec records to add.
    pub add: Vec<Wanted>,
    /// Owned records to remove.
    pub remove: Vec<AppliedRecord>,
    /// Records the operator does not own, to remove because `prune` is on.
    pub prune: Vec<AppliedRecord>,
    /// Records the operator does not own and leaves alone.
    pub external: usize,
    /// Owned records the list no longer shows (removed outside the operator).
    pub vanished: usize,
}

impl Plan {
    /// Whether anything is to be written.
    pub fn writes(&self) -> bool {
        !(self.add.is_empty() && self.remove.is_empty() && self.prune.is_empty())
    }

    /// The records owned once every write succeeded.
    pub fn owned_after(&self) -> usize {
        self.keep.len() + self.adopt.len() + self.add.len()
            - self.remove.iter().filter(|r| self.is_adopted(r)).count()
    }

    /// Whether `record` is one of the records taken over.
    pub fn is_adopted(&self, record: &AppliedRecord) -> bool {
        self.adopt.iter().any(|adopted| adopted.id == record.id)
    }
}

/// Compares the spec (`wanted`, `waiting`) with the owned records and, when the zone was
/// listed, with its records; says what to write.
///
/// Without a list, owned records are taken as present, and nothing is adopted or pruned.
pub fn plan(
    wanted: &[Wanted],
    waiting: &[Waiting],
    owned: &[AppliedRecord],
    listed: Option<&[Listed]>,
    prune: bool,
) -> Plan {
    let mut plan = Plan::default();
    let listed_ids: Option<HashSet<&str>> =
        listed.map(|records| records.iter().map(|r| r.id.as_str()).collect());
    let mut owned_left: Vec<AppliedRecord> = owned
        .iter()
        .filter(|record| {
            listed_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(record.id.as_str()))
        })
        .cloned()
        .collect();
    plan.vanished = owned.len() - owned_left.len();

    // Spec records the operator already has, with the same TTL.
    let mut missing: Vec<&Wanted> = Vec::new();
    for record in wanted {
        let key = wanted_key(record);
        match owned_left
            .iter()
            .position(|owned| applied_key(owned) == key && owned.ttl == record.ttl)
        {
            Some(index) => {
                let mut kept = owned_left.remove(index);
                kept.vm_ref = record.vm_ref.clone();
                kept.floating_ip_ref = record.floating_ip_ref.clone();
                plan.keep.push(kept);
            }
            None => missing.push(record),
        }
    }
    // A record waiting for its reference keeps its last value meanwhile.
    owned_left.retain(|owned| {
        let follows = waiting.iter().any(|w| {
            relative_name(&w.name, ".") == relative_name(&owned.name, ".")
                && w.record_type == owned.record_type
                && w.vm_ref == owned.vm_ref
                && w.floating_ip_ref == owned.floating_ip_ref
        });
        if follows {
            plan.keep.push(owned.clone());
        }
        !follows
    });
    plan.remove = owned_left;

    let Some(listed) = listed else {
        plan.add = missing.into_iter().cloned().collect();
        return plan;
    };
    let owned_ids: HashSet<&str> = owned.iter().map(|r| r.id.as_str()).collect();
    let mut unowned: Vec<&Listed> = listed
        .iter()
        .filter(|record| !owned_ids.contains(record.id.as_str()))
        .collect();
    unowned.sort_by(|a, b| a.id.cmp(&b.id));
    for record in missing {
        let key = wanted_key(record);
        let candidates = unowned.iter().enumerate().filter(|(_, l)| l.key() == key);
        // An identical record (same TTL, or none listed) first; else one with another TTL,
        // taken over and replaced.
        let exact = candidates
            .clone()
            .find(|(_, l)| l.ttl.is_none_or(|ttl| ttl == record.ttl))
            .map(|(index, _)| index);
        let any = candidates.map(|(index, _)| index).next();
        match exact.or(any) {
            Some(index) => {
                let found = unowned.remove(index);
                let mut adopted = record.applied(found.id.clone());
                adopted.ttl = found.ttl.unwrap_or(record.ttl);
                if adopted.ttl != record.ttl {
                    plan.remove.push(adopted.clone());
                    plan.add.push(record.clone());
                }
                plan.adopt.push(adopted);
            }
            None => plan.add.push(record.clone()),
        }
    }
    for record in unowned {
        if prune && !record.is_service_record() {
            plan.prune.push(record.applied());
        } else {
            plan.external += 1;
        }
    }
    plan
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Add this record.
    Add(Wanted),
    /// Remove this record (owned, or pruned when the flag is set).
    Remove(AppliedRecord, bool),
}

/// The plan's writes in a safe order: adds before removes, so a changed record never leaves
/// its name unanswered (no negative caching of a gap), except where the add would clash with
/// the record it replaces: a CNAME must be alone at its name, and a TTL change re-adds the very
/// same record. Those removes go first.
pub fn order(plan: &Plan) -> Vec<Write> {
    let name = |n: &str| relative_name(n, ".");
    let conflicts = |record: &AppliedRecord| {
        plan.add.iter().any(|add| {
            name(&add.name) == name(&record.name)
                && (add.record_type == "CNAME"
                    || record.record_type == "CNAME"
                    || wanted_key(add) == applied_key(record))
        })
    };
    let removes = plan
        .remove
        .iter()
        .map(|r| (r, false))
        .chain(plan.prune.iter().map(|r| (r, true)));
    let (first, last): (Vec<_>, Vec<_>) = removes.partition(|(record, _)| conflicts(record));
    first
        .into_iter()
        .map(|(record, pruned)| Write::Remove(record.clone(), pruned))
        .chain(plan.add.iter().cloned().map(Write::Add))
        .chain(
            last.into_iter()
                .map(|(record, pruned)| Write::Remove(record.clone(), pruned)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn want(name: &str, kind: &str, data: &str) -> Wanted {
        Wanted {
            name: name.into(),
            record_type: kind.into(),
            data: data.into(),
            ttl: 3600,
            vm_ref: None,
            floating_ip_ref: None,
        }
    }

    fn owned(id: &str, name: &str, kind: &str, data: &str) -> AppliedRecord {
        want(name, kind, data).applied(id.into())
    }

    fn listed(id: &str, name: &str, kind: &str, data: &str) -> Listed {
        Listed {
            id: id.into(),
            name: name.into(),
            record_type: kind.into(),
            data: data.into(),
            ttl: Some(3600),
        }
    }

    #[test]
    fn names_are_made_relative_to_the_origin() {
        let origin = "example.com.";
        assert_eq!(relative_name("www", origin), "www");
        assert_eq!(relative_name("WWW.Example.com.", origin), "www");
        assert_eq!(relative_name("example.com.", origin), "@");
        assert_eq!(relative_name("", origin), "@");
        assert_eq!(relative_name("@", origin), "@");
        assert_eq!(relative_name("a.b.example.com", origin), "a.b");
        assert_eq!(relative_name("notexample.com.", origin), "notexample.com");
    }

    #[test]
    fn data_compares_by_meaning() {
        assert_eq!(
            data_key("AAAA", "2001:DB8:0::10"),
            data_key("AAAA", "2001:db8::10")
        );
        assert_eq!(data_key("CNAME", "WWW.example.com."), "www.example.com");
        assert_eq!(
            data_key("MX", "10   Mail.example.com."),
            "10 mail.example.com"
        );
        assert_ne!(data_key("TXT", "Hello"), data_key("TXT", "hello"));
        assert_eq!(
            data_key("NAPTR", r#"1 1 "U" "E2U" "!^.*$!X!" ."#),
            r#"1 1 "U" "E2U" "!^.*$!X!" ."#
        );
    }

    #[test]
    fn steady_state_writes_nothing() {
        let wanted = [want("www", "A", "192.0.2.1"), want("@", "MX", "10 mail")];
        let mine = [
            owned("1", "www", "A", "192.0.2.1"),
            owned("2", "@", "MX", "10 mail"),
        ];
        let without_list = plan(&wanted, &[], &mine, None, false);
        assert!(!without_list.writes());
        assert_eq!(without_list.keep.len(), 2);
        let listed = [
            listed("1", "www", "A", "192.0.2.1"),
            listed("2", "@", "MX", "10 mail."),
        ];
        assert!(!plan(&wanted, &[], &mine, Some(&listed), false).writes());
    }

    #[test]
    fn an_edit_is_one_remove_and_one_add() {
        let wanted = [want("www", "A", "192.0.2.2"), want("api", "A", "192.0.2.3")];
        let mine = [
            owned("1", "www", "A", "192.0.2.1"),
            owned("2", "api", "A", "192.0.2.3"),
        ];
        let plan = plan(&wanted, &[], &mine, None, false);
        assert_eq!(plan.add, vec![want("www", "A", "192.0.2.2")]);
        assert_eq!(plan.remove, vec![mine[0].clone()]);
        // The new address is published before the old one goes.
        assert!(matches!(
            order(&plan).as_slice(),
            [Write::Add(_), Write::Remove(_, false)]
        ));
    }

    #[test]
    fn a_ttl_change_replaces_the_record() {
        let mut wanted = want("www", "A", "192.0.2.1");
        wanted.ttl = 300;
        let plan = plan(
            &[wanted.clone()],
            &[],
            &[owned("1", "www", "A", "192.0.2.1")],
            None,
            false,
        );
        assert_eq!(plan.add, vec![wanted]);
        assert_eq!(plan.remove.len(), 1);
        // The same record cannot be there twice: the old one goes first.
        assert!(matches!(
            order(&plan).as_slice(),
            [Write::Remove(_, false), Write::Add(_)]
        ));
    }

    #[test]
    fn records_made_outside_survive_unless_pruned() {
        let wanted = [want("www", "A", "192.0.2.1")];
        let mine = [owned("1", "www", "A", "192.0.2.1")];
        let zone = [
            listed("1", "www", "A", "192.0.2.1"),
            listed("7", "mail", "A", "192.0.2.9"),
            listed("8", "@", "NS", "ns1.lunanode.com."),
            listed("9", "@", "SOA", "ns1.lunanode.com. admin 1 2 3 4 5"),
        ];
        let kept = plan(&wanted, &[], &mine, Some(&zone), false);
        assert!(!kept.writes());
        assert_eq!(kept.external, 3);
        let pruned = plan(&wanted, &[], &mine, Some(&zone), true);
        let ids: Vec<&str> = pruned.prune.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["7"], "SOA and apex NS are never pruned");
        assert_eq!(pruned.external, 2);
        assert!(pruned.add.is_empty() && pruned.remove.is_empty());
    }

    #[test]
    fn an_identical_record_is_taken_over_not_added_twice() {
        // After a lost answer (or a crash) the record exists but its ID was never recorded.
        let wanted = [want("www", "A", "192.0.2.1"), want("api", "A", "192.0.2.2")];
        let zone = [listed("5", "WWW.example.com.", "A", "192.0.2.1")];
        let zone: Vec<Listed> = zone
            .iter()
            .map(|l| Listed {
                name: relative_name(&l.name, "example.com."),
                ..l.clone()
            })
            .collect();
        let plan = plan(&wanted, &[], &[], Some(&zone), false);
        assert_eq!(plan.adopt.len(), 1);
        assert_eq!(plan.adopt[0].id, "5");
        assert_eq!(plan.add, vec![want("api", "A", "192.0.2.2")]);
        assert_eq!(plan.external, 0);
        assert_eq!(plan.owned_after(), 2);
    }

    #[test]
    fn a_taken_over_record_with_another_ttl_is_replaced() {
        let wanted = [want("www", "A", "192.0.2.1")];
        let mut other_ttl = listed("5", "www", "A", "192.0.2.1");
        other_ttl.ttl = Some(60);
        let plan = plan(&wanted, &[], &[], Some(&[other_ttl]), false);
        assert_eq!(plan.adopt.len(), 1);
        assert_eq!(plan.remove.len(), 1);
        assert_eq!(plan.add.len(), 1);
        assert_eq!(plan.owned_after(), 1);
    }

    #[test]
    fn a_record_removed_outside_is_added_again() {
        let wanted = [want("www", "A", "192.0.2.1")];
        let mine = [owned("1", "www", "A", "192.0.2.1")];
        let plan = plan(&wanted, &[], &mine, Some(&[]), false);
        assert_eq!(plan.vanished, 1);
        assert_eq!(plan.add.len(), 1);
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn a_waiting_reference_keeps_its_last_record() {
        let mut following = owned("1", "www", "A", "192.0.2.1");
        following.vm_ref = Some("web".into());
        let waiting = Waiting {
            name: "www".into(),
            record_type: "A".into(),
            vm_ref: Some("web".into()),
            floating_ip_ref: None,
            why: "LunaVM ns/web has no public IP yet".into(),
        };
        let plan = plan(&[], &[waiting], &[following.clone()], None, false);
        assert!(!plan.writes());
        assert_eq!(plan.keep, vec![following]);
    }

    #[test]
    fn a_vm_ip_change_moves_the_record() {
        let mut old = owned("1", "www", "A", "192.0.2.1");
        old.vm_ref = Some("web".into());
        let mut new = want("www", "A", "192.0.2.7");
        new.vm_ref = Some("web".into());
        let plan = plan(&[new.clone()], &[], &[old.clone()], None, false);
        assert_eq!(plan.add, vec![new]);
        assert_eq!(plan.remove, vec![old]);
    }

    #[test]
    fn a_cname_replacing_other_records_removes_them_first() {
        let plan = plan(
            &[want("www", "CNAME", "web.example.net.")],
            &[],
            &[
                owned("1", "www", "A", "192.0.2.1"),
                owned("2", "api", "A", "192.0.2.2"),
            ],
            None,
            false,
        );
        let steps: Vec<String> = order(&plan)
            .iter()
            .map(|step| match step {
                Write::Add(record) => format!("add {}", record.name),
                Write::Remove(record, _) => format!("remove {}", record.id),
            })
            .collect();
        assert_eq!(steps, ["remove 1", "add www", "remove 2"]);
    }

    #[test]
    fn duplicate_listed_records_are_taken_over_once() {
        let wanted = [want("www", "A", "192.0.2.1")];
        let zone = [
            listed("5", "www", "A", "192.0.2.1"),
            listed("6", "www", "A", "192.0.2.1"),
        ];
        let kept = plan(&wanted, &[], &[], Some(&zone), false);
        assert_eq!(kept.adopt.len(), 1);
        assert_eq!(kept.external, 1);
        let pruned = plan(&wanted, &[], &[], Some(&zone), true);
        assert_eq!(pruned.prune.len(), 1);
    }
}
