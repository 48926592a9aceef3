//! `lunanode-operator plan` on the demo: every example applied and Ready, then a one-line edit.
//! The plan prints the one call the operator then makes, and the simulator's counters show
//! that call and no other; an unedited plan prints no change, and a plan makes no call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use lunanode_operator::api::{
    common::{ManagedResource, READY, is_condition_true},
    volume::LunaVolume,
};
use support::{processes::binary, world::World};

/// Every kind the examples hold, for `kubectl wait`.
const KINDS: &str = "lunavm,lunavolume,lunafloatingip,lunanetwork,lunaloadbalancer,lunadnszone,lunasshkey,lunasecuritygroup,lunastartupscript,lunaimage,lunavolumesnapshot,lunadynamicrecord,lunaemaildomain,lunaemailuser,lunaemailalias,lunamonitorcontact,lunamonitorcheck,lunasnapshotschedule";

fn kubectl(world: &World, args: &[&str]) -> String {
    let output = Command::new("kubectl")
        .args(["--kubeconfig"])
        .arg(&support::control_plane().kubeconfig)
        .args(["-n", &world.ns])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `plan -f folder -n NS --detailed-exitcode` against the cluster: its output and exit code.
fn plan(world: &World, folder: &Path) -> (String, i32) {
    plan_with(world, folder, &[])
}

/// [`plan`] with more arguments.
fn plan_with(world: &World, folder: &Path, args: &[&str]) -> (String, i32) {
    let output = Command::new(binary())
        .args(["plan", "--detailed-exitcode", "-n", &world.ns, "-f"])
        .arg(folder)
        .args(args)
        .env("KUBECONFIG", &support::control_plane().kubeconfig)
        .env("LUNANODE_ENDPOINT", world.sim.endpoint())
        .env("LUNANODE_API_ID", &world.account.0)
        .env("LUNANODE_API_KEY", &world.account.1)
        .env("LUNANODE_ALLOW_INSECURE_ENDPOINT", "true")
        .env("LUNANODE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("WARN") && !stderr.contains("ERROR"),
        "plan logged a problem: {stderr}"
    );
    (stdout, output.status.code().unwrap_or(-1))
}

/// The examples, less the credentials Secret (the world has its own), copied into a folder.
fn examples(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    let examples = support::repo_root().join("examples");
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".yaml") || name == "credentials-secret.yaml" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(folder.path().join(&name), edit(&name, text)).unwrap();
    }
    folder
}

/// The object lines of a plan (`Kind ns/name: verdict ...`), by object, with their call lines.
fn objects(plan: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let mut objects: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut last = None;
    for line in plan.lines() {
        if let Some(call) = line.strip_prefix("    ") {
            let object: &String = last.as_ref().unwrap();
            objects.get_mut(object).unwrap().1.push(call.to_owned());
        } else if let Some((object, verdict)) = line.split_once(": ") {
            if line.starts_with("Plan: ") {
                continue;
            }
            objects.insert(object.to_owned(), (verdict.to_owned(), Vec::new()));
            last = Some(object.to_owned());
        }
    }
    objects
}

#[tokio::test]
async fn a_one_line_edit_plans_the_one_call_the_operator_then_makes() {
    let world = World::setup("plan", 'p')
        .wait(Duration::from_secs(240))
        .start()
        .await;
    // The demo: every example applied, every object Ready.
    let unedited = examples(|_, text| text);
    kubectl(&world, &["apply", "-f", unedited.path().to_str().unwrap()]);
    kubectl(
        &world,
        &[
            "wait",
            "--for=condition=Ready",
            KINDS,
            "--all",
            "--timeout=300s",
        ],
    );

    // The schedule's first snapshot, made by the schedule after the wait began, too.
    kubectl(
        &world,
        &[
            "wait",
            "--for=condition=Ready",
            "lunavolumesnapshot,lunaimage",
            "--all",
            "--timeout=300s",
        ],
    );

    // Unedited: every object in sync, nothing to do, exit 0, and not one write made.
    let before = world.sim.writes().await;
    let (output, code) = plan(&world, unedited.path());
    let listed = objects(&output);
    assert!(listed.len() >= 20, "{output}");
    for (object, (verdict, calls)) in &listed {
        assert!(
            verdict.starts_with("in sync") || verdict.starts_with("no cloud call"),
            "{object}: {verdict}\n{output}"
        );
        assert!(calls.is_empty(), "{object}: {calls:?}");
    }
    assert!(
        output.contains("Plan: 0 to create, 0 to update,")
            && output.contains(" 0 refused, 0 failed"),
        "{output}"
    );
    assert_eq!(code, 0, "{output}");

    // One line edited: the volume grows from 20 to 30 GB.
    let edited = examples(|name, text| {
        if name == "volume.yaml" {
            let grown = text.replacen("size: 20", "size: 30", 1);
            assert_ne!(grown, text, "volume.yaml holds size: 20");
            grown
        } else {
            text
        }
    });
    let (output, code) = plan(&world, edited.path());
    println!("{output}");
    assert_eq!(code, 2, "a change: exit 2\n{output}");
    let listed = objects(&output);
    let changed: Vec<(&String, &(String, Vec<String>))> = listed
        .iter()
        .filter(|(_, (verdict, _))| {
            !verdict.starts_with("in sync") && !verdict.starts_with("no cloud call")
        })
        .collect();
    assert_eq!(changed.len(), 1, "{output}");
    let (object, (verdict, calls)) = changed[0];
    assert_eq!(
        object,
        &format!("LunaVolume {}/web-1-data", world.ns),
        "{output}"
    );
    assert!(verdict.starts_with("update"), "{output}");
    assert_eq!(calls.len(), 1, "{output}");
    let call = &calls[0];
    assert!(call.starts_with("volume extend "), "{output}");
    assert!(call.contains(" size=30"), "{output}");
    assert!(
        output.contains("Plan: 0 to create, 1 to update,"),
        "{output}"
    );
    // A bigger plan for the VM: its resize, and what it adds to the monthly bill.
    let upsized = examples(|name, text| {
        if name == "vm.yaml" {
            text.replacen("plan: m.2", "plan: m.4", 1)
        } else {
            text
        }
    });
    let (output, code) = plan(&world, upsized.path());
    println!("{output}");
    assert_eq!(code, 2, "{output}");
    let listed = objects(&output);
    let (verdict, calls) = &listed[&format!("LunaVM {}/web-1", world.ns)];
    assert!(verdict.starts_with("update"), "{output}");
    assert!(
        calls[0].starts_with("vm resize ") && calls[0].contains("m.4"),
        "{output}"
    );
    assert!(
        calls.iter().any(|line| line.starts_with("cost: +$")),
        "{output}"
    );
    assert!(output.contains("\nCost: +$"), "{output}");
    // Two files left out, with --prune: their objects' deletions, as the operator would make
    // them (the floating IP is detached first, and released on a later pass).
    let fewer = examples(|_, text| text);
    for file in ["monitor.yaml", "floatingip.yaml"] {
        std::fs::remove_file(fewer.path().join(file)).unwrap();
    }
    let (output, code) = plan_with(&world, fewer.path(), &["--prune"]);
    println!("{output}");
    assert_eq!(code, 2, "{output}");
    let listed = objects(&output);
    let (verdict, calls) = &listed[&format!("LunaMonitorCheck {}/web-1-ssh", world.ns)];
    assert!(verdict.starts_with("delete"), "{output}");
    assert_eq!(calls.len(), 1, "{output}");
    assert!(calls[0].starts_with("monitor check-remove "), "{output}");
    let (verdict, calls) = &listed[&format!("LunaFloatingIP {}/web-1-public", world.ns)];
    assert!(verdict.starts_with("delete"), "{output}");
    assert!(calls[0].starts_with("vm floatingip-delete "), "{output}");
    // A schedule's snapshot was made by the schedule, not applied: never pruned.
    assert!(!output.contains("web-1-data-daily-"), "{output}");
    assert!(output.contains(" 3 to delete, "), "{output}");
    // Four plans made reads only.
    assert_eq!(world.sim.writes().await, before, "a plan writes nothing");

    // Applied: the operator makes exactly the planned call, and no other write.
    kubectl(
        &world,
        &[
            "apply",
            "-f",
            edited.path().join("volume.yaml").to_str().unwrap(),
        ],
    );
    world
        .until::<LunaVolume>("web-1-data", "grown to 30 GB and Ready", |volume| {
            let size = volume.status.as_ref().and_then(|status| {
                status
                    .at_provider
                    .as_ref()
                    .and_then(|provider| provider.size)
            });
            size == Some(30)
                && is_condition_true(volume.conditions(), READY)
                && volume.observed_generation() == volume.metadata.generation
        })
        .await;
    let after = world.sim.writes().await;
    let made: BTreeMap<String, u64> = after
        .iter()
        .map(|(action, count)| {
            (
                action.clone(),
                count - before.get(action).copied().unwrap_or(0),
            )
        })
        .filter(|(_, count)| *count > 0)
        .collect();
    let planned: BTreeMap<String, u64> = [("volume/extend".to_owned(), 1)].into();
    assert_eq!(made, planned, "the calls made are the calls planned");
    // And once made, the plan has nothing left to do.
    let (output, code) = plan(&world, edited.path());
    assert_eq!(code, 0, "{output}");

    // The same binary as a kubectl plugin: the VM's tree, and why the volume is as it is.
    let plugins = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(binary(), plugins.path().join("kubectl-lunanode")).unwrap();
    let path = format!(
        "{}:{}",
        plugins.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let plugin = |args: &[&str]| {
        let output = Command::new("kubectl")
            .arg("lunanode")
            .args(args)
            .args(["-n", &world.ns])
            .env("PATH", &path)
            .env("KUBECONFIG", &support::control_plane().kubeconfig)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(
            output.status.success(),
            "kubectl lunanode {args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let tree = plugin(&["tree", "lvm/web-1"]);
    println!("{tree}");
    for expected in [
        &format!("LunaVM {}/web-1: Ready (id ", world.ns),
        "  uses LunaSSHKey deploy (spec.sshKeyRef): Ready (id ",
        "  uses LunaSecurityGroup web (spec.securityGroupRefs): Ready",
        "  uses LunaStartupScript web-boot (spec.startupScriptRefs): Ready",
        "    uses Secret web-boot (spec.contentFrom.secretKeyRef): exists",
        "  uses Secret lunanode-credentials (spec.credentialsSecretRef",
        "  writes Secret web-1-connection (spec.writeConnectionSecretToRef): exists",
        "  used by LunaVolume web-1-data (spec.attachTo.vmRef): Ready",
        "  used by LunaFloatingIP web-1-public (spec.attachTo.vmRef): Ready",
        "    used by LunaVolumeSnapshot web-1-data-snap (spec.volumeRef): Ready",
    ] {
        assert!(tree.contains(expected), "{expected:?} in\n{tree}");
    }
    // Each user once, with every field that names the VM; the shared credentials once.
    assert_eq!(
        tree.matches("used by LunaDnsZone example-com (").count(),
        1,
        "{tree}"
    );
    assert_eq!(
        tree.matches("uses Secret lunanode-credentials").count(),
        1,
        "{tree}"
    );
    let why = plugin(&["why", "lunavolume/web-1-data"]);
    println!("{why}");
    assert!(why.contains("Ready        True"), "{why}");
    assert!(why.contains("Update Extended: extended volume "), "{why}");
    assert!(why.contains(" to 30 GB"), "{why}");
}
