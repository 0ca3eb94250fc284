//! The demo page in a real browser: headless Chromium, driven by playwright-core
//! (`tests/browser/demo.mjs`), against the real binary. `scripts/browser-setup`
//! installs both; the test fails rather than skips when they are missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::Workdir;

#[test]
fn demo_page_logs_in_refreshes_survives_reloads_and_logs_out() {
    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        script_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run scripts/browser-setup"
    );
    let work = Workdir::new("browser");
    work.add_user("browser-user", "browser password", "me:read");
    let server = work.serve();

    let output = Command::new("node")
        .arg(script_dir.join("demo.mjs"))
        .args([&server.origin(), "browser-user", "browser password"])
        .current_dir(&script_dir)
        .output()
        .expect("node is needed for the browser test");
    assert!(
        output.status.success(),
        "browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
