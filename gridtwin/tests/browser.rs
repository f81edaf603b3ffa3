//! The control center in a real browser: `web/tests/control_center.mjs` drives Debian's
//! Chromium with Playwright against `gridtwin serve`. `cargo xtask ci` installs both (apt's
//! chromium, npm's playwright-core); without them this test fails and says how to get them.

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

#[test]
fn log_in_watch_switch_edit_a_schedule_and_export_in_chromium() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists() && web.join("node_modules/playwright-core").exists(),
        "the browser test needs Chromium ({chromium}) and playwright-core: \
         `apt-get install chromium` and `npm ci --prefix gridtwin/web` (cargo xtask ci does both)"
    );
    let data = common::scratch("browser");
    common::add_user(&data, "admin", "admin");
    let (server, _) = Server::start(&data, 20.0);
    let shot = std::env::temp_dir().join("gridtwin-control-center.png");
    let out = Command::new("node")
        .current_dir(&web)
        .arg("tests/control_center.mjs")
        .arg(format!("http://{}/", server.addr))
        .args(["admin", common::PASSWORD])
        .arg(&shot)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("browser: all passed"), "{log}");
    server.stop();
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn the_served_uplot_is_the_npm_package_s_build() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(web.join("package-lock.json")).unwrap())
            .unwrap();
    let locked = lock["packages"]["node_modules/uplot"]["version"]
        .as_str()
        .unwrap();
    let package: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(web.join("node_modules/uplot/package.json"))
            .expect("npm ci --prefix gridtwin/web (cargo xtask ci runs it)"),
    )
    .unwrap();
    assert_eq!(package["version"], locked);
    for f in ["uPlot.iife.min.js", "uPlot.min.css"] {
        let npm = std::fs::read(web.join("node_modules/uplot/dist").join(f)).unwrap();
        let served = std::fs::read(web.join("assets/vendor").join(f)).unwrap();
        assert!(
            npm == served,
            "{f} differs from uplot {locked}: cargo xtask web-assets"
        );
    }
}
