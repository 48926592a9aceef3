//! The rule plan of a LunaSecurityGroup, as a pure function: from the rules the manifest lists
//! and the rules the group has, the deletes and inserts that make the group's rules exactly the
//! manifest's. Luna Node cannot change a rule, so an edited rule is one delete and one insert.

use std::collections::BTreeSet;

use crate::api::securitygroup::WireRule;

/// What to write to the group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulePlan {
    /// Rules to delete, by ID, with what they are (for the Event).
    pub delete: Vec<(String, WireRule)>,
    /// Rules to insert.
    pub insert: Vec<WireRule>,
}

impl RulePlan {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.insert.is_empty()
    }
}

/// The plan. `wanted`: the manifest's rules (a rule listed twice is one rule). `listed`: the
/// group's rules by ID. `recent`: rules this process inserted so recently that a list may not
/// show them yet; they are not inserted again.
pub fn plan(wanted: &[WireRule], listed: &[(String, WireRule)], recent: &[WireRule]) -> RulePlan {
    let wanted: BTreeSet<&WireRule> = wanted.iter().collect();
    let mut kept: BTreeSet<&WireRule> = BTreeSet::new();
    let mut plan = RulePlan::default();
    let mut listed: Vec<&(String, WireRule)> = listed.iter().collect();
    listed.sort();
    for (id, rule) in listed {
        // A rule the manifest lacks, or a second copy of one it has, goes.
        if wanted.contains(rule) && kept.insert(rule) {
            continue;
        }
        plan.delete.push((id.clone(), rule.clone()));
    }
    plan.insert = wanted
        .into_iter()
        .filter(|rule| !kept.contains(rule) && !recent.contains(rule))
        .cloned()
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(port: &str, cidr: &str) -> WireRule {
        WireRule {
            direction: "ingress".into(),
            ip_version: "ipv4".into(),
            protocol: "tcp".into(),
            port_min: port.into(),
            port_max: port.into(),
            remote_type: "cidr".into(),
            remote_value: cidr.into(),
            label: String::new(),
        }
    }

    fn listed(rules: &[(&str, WireRule)]) -> Vec<(String, WireRule)> {
        rules
            .iter()
            .map(|(id, rule)| ((*id).to_owned(), rule.clone()))
            .collect()
    }

    #[test]
    fn a_new_group_gets_every_rule_once() {
        let wanted = [rule("22", "10.0.0.0/8"), rule("443", "0.0.0.0/0")];
        let plan = plan(&[wanted.clone(), wanted.clone()].concat(), &[], &[]);
        assert!(plan.delete.is_empty());
        assert_eq!(plan.insert.len(), 2, "a rule listed twice is one rule");
    }

    #[test]
    fn an_edited_rule_is_one_delete_and_one_insert() {
        let have = listed(&[
            ("1", rule("22", "10.0.0.0/8")),
            ("2", rule("80", "0.0.0.0/0")),
        ]);
        let wanted = [rule("22", "10.0.0.0/8"), rule("8080", "0.0.0.0/0")];
        let plan = plan(&wanted, &have, &[]);
        assert_eq!(plan.delete, [("2".to_owned(), rule("80", "0.0.0.0/0"))]);
        assert_eq!(plan.insert, [rule("8080", "0.0.0.0/0")]);
    }

    #[test]
    fn rules_added_by_hand_and_copies_are_deleted() {
        let have = listed(&[
            ("1", rule("22", "10.0.0.0/8")),
            ("2", rule("22", "10.0.0.0/8")),
            ("3", rule("3306", "0.0.0.0/0")),
        ]);
        let plan = plan(&[rule("22", "10.0.0.0/8")], &have, &[]);
        let deleted: Vec<&str> = plan.delete.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(deleted, ["2", "3"]);
        assert!(plan.insert.is_empty());
    }

    #[test]
    fn in_sync_is_nothing_and_a_recent_insert_is_not_repeated() {
        let have = listed(&[("1", rule("22", "10.0.0.0/8"))]);
        assert!(plan(&[rule("22", "10.0.0.0/8")], &have, &[]).is_empty());
        let lagging = plan(
            &[rule("443", "0.0.0.0/0")],
            &[],
            &[rule("443", "0.0.0.0/0")],
        );
        assert!(lagging.is_empty(), "inserted moments ago, not listed yet");
    }
}
