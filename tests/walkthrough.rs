//! The newcomer's script `examples/api-walkthrough.sh` works as written: the simulator starts,
//! `api vm create` makes a VM, and `api vm info` shows it going from BUILD to Online.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn the_api_walkthrough_shows_build_then_online() {
    let output = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/api-walkthrough.sh"
        ))
        .env("LUNANODE_OPERATOR", env!("CARGO_BIN_EXE_lunanode-operator"))
        .env("BUILD_SECONDS", "3")
        .env("LUNANODE_LOG", "warn")
        .output()
        .expect("run the walkthrough");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let build = stdout.find(" BUILD ip=-").expect("a BUILD line");
    let online = stdout.find(" Online ip=").expect("an Online line");
    assert!(build < online, "BUILD comes before Online:\n{stdout}");
    assert!(
        stdout.contains("\"vms\""),
        "vm list printed the VM:\n{stdout}"
    );
}
