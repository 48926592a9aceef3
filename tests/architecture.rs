//! `docs/architecture.md` stays true: its module table names every module of the crate, and only
//! modules that exist.
//!
//! The table is the part of the page between `<!-- modules -->` and `<!-- /modules -->`; each row
//! starts with a module path in backticks, e.g. `` `controller::vm::decide` ``. A new file under
//! `src/` fails this test until the page says what it is for; a removed one fails it until its
//! row goes.
//!
//! `docs/api-coverage.md` names every action of the API catalog once, with the kind that drives
//! it or why none does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

const START: &str = "<!-- modules -->";
const END: &str = "<!-- /modules -->";

/// Every module of the library, as a `::` path relative to the crate root (`src/a/b.rs` and
/// `src/a/b/mod.rs` are both `a::b`; `lib.rs` and `main.rs` are the roots and not listed).
fn modules_in(src: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack: Vec<PathBuf> = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("below src");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            let file = parts.pop().expect("a file name");
            let stem = file.trim_end_matches(".rs");
            if parts.is_empty() && (stem == "lib" || stem == "main") {
                continue;
            }
            if stem != "mod" {
                parts.push(stem.to_owned());
            }
            found.insert(parts.join("::"));
        }
    }
    found
}

/// The module paths the page's table names, in the order written.
fn modules_on_page(page: &str) -> Vec<String> {
    let start = page
        .find(START)
        .expect("docs/architecture.md has a <!-- modules --> table");
    let end = page
        .find(END)
        .expect("docs/architecture.md closes its module table");
    page[start + START.len()..end]
        .lines()
        .filter_map(|line| {
            let row = line.trim().strip_prefix("| `")?;
            Some(row.split('`').next()?.to_owned())
        })
        .collect()
}

#[test]
fn the_architecture_page_lists_every_module_and_only_those() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let listed = modules_on_page(&page);
    let unique: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a module is listed twice: {listed:?}"
    );
    let present = modules_in(&root.join("src"));
    let missing: Vec<_> = present.difference(&unique).collect();
    let stale: Vec<_> = unique.difference(&present).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/architecture.md's module table is out of date.\n  \
         modules it does not describe: {missing:?}\n  rows for modules that do not exist: {stale:?}"
    );
}

#[test]
fn the_module_walk_sees_nested_folders() {
    // The check above is only as good as the walk: it must see a kind's folder.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let present = modules_in(&root.join("src"));
    assert!(present.contains("controller"), "{present:?}");
    assert!(
        present.iter().any(|m| m.matches("::").count() >= 2),
        "{present:?}"
    );
}

#[test]
fn the_api_coverage_page_names_every_action_once() {
    use lunanode_operator::lunanode::actions::ACTIONS;

    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api-coverage.md"))
            .expect("docs/api-coverage.md");
    // The actions a table row names in its first column.
    let mut named: Vec<String> = Vec::new();
    for row in page.lines().filter(|line| line.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or_default();
        named.extend(first.split('`').skip(1).step_by(2).map(str::to_owned));
    }
    let catalog: BTreeSet<String> = ACTIONS.iter().map(|spec| spec.path()).collect();
    let on_page: BTreeSet<String> = named.iter().cloned().collect();
    assert_eq!(
        named.len(),
        on_page.len(),
        "an action named twice: {named:?}"
    );
    let missing: Vec<&String> = catalog.difference(&on_page).collect();
    let unknown: Vec<&String> = on_page.difference(&catalog).collect();
    assert!(
        missing.is_empty(),
        "actions the page does not name: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "rows for no action of the catalog: {unknown:?}"
    );
}
