//! The Raspberry Pi's build, run as a user runs it: built without the default features (no
//! polars, no PostgreSQL client, no Bevy), it must still run a scenario (writing its recording as
//! plain files and saying how to get the report), check one, test the emulated bench and serve a
//! PDU and a feeder; the default build must then turn that plain run directory into a report.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{cargo, executables, root, run};

/// `default` is the default build's binary (its report engine reads what the Pi wrote).
pub fn check(default: &Path) -> Result<(), String> {
    let tmp = std::env::temp_dir().join("gridtwin-ci-pi");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    // The default binary is kept aside: the Pi's build is linked at the same path.
    let reporter = tmp.join("gridtwin-default");
    std::fs::copy(default, &reporter).map_err(|e| format!("{}: {e}", default.display()))?;
    let pi = build()?;
    let scenarios = root().join("scenarios");

    let out = tmp.join("run");
    let o = Command::new(&pi)
        .args(["run", "-q"])
        .arg(scenarios.join("outage_generator_start.ron"))
        .arg("--out")
        .arg(&out)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() || !stdout.contains("no report in this build") {
        return Err(format!(
            "the Pi's `gridtwin run`: {}\n{stdout}{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    for f in ["meta.json", "series.csv", "events.jsonl", "summary.txt"] {
        if !out.join(f).exists() {
            return Err(format!("the Pi's run directory has no {f}"));
        }
    }
    if out.join("report.html").exists() || out.join("site.parquet").exists() {
        return Err("the Pi's build wrote a report: it has no report engine".into());
    }
    let mut c = Command::new(&reporter);
    c.arg("report").arg(&out);
    run("gridtwin report (default build) of the Pi's run", c)?;
    if !out.join("report.html").exists() {
        return Err("gridtwin report wrote no report.html from the Pi's run".into());
    }

    let mut c = Command::new(&pi);
    c.arg("check").arg(scenarios.join("feeder_lv_day.ron"));
    run("the Pi's gridtwin check", c)?;
    let mut c = Command::new(&pi);
    c.args(["hil", "selftest", "--emulated", "--yes"]);
    run("the Pi's gridtwin hil selftest --emulated", c)?;
    for scenario in ["outage_generator_start.ron", "feeder_lv_day.ron"] {
        serves(&pi, &scenarios.join(scenario), &tmp.join(scenario))?;
    }
    eprintln!("    the Pi's build runs, checks, tests its bench and serves; its run is reported");
    Ok(())
}

/// Builds the Pi's binary; its path.
fn build() -> Result<PathBuf, String> {
    eprintln!("==> cargo build (the Pi's build)");
    let out = cargo()
        .args([
            "build",
            "-p",
            "gridtwin",
            "--bin",
            "gridtwin",
            "--no-default-features",
            "--features",
            "rpi",
            "--message-format=json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err("the Pi's build failed".into());
    }
    // `--bin gridtwin`: the one executable built.
    executables(&String::from_utf8_lossy(&out.stdout))
        .pop()
        .ok_or_else(|| "the Pi's build named no executable".into())
}

/// `serve` starts on the scenario and says where it serves; then it is stopped.
fn serves(pi: &Path, scenario: &Path, data: &Path) -> Result<(), String> {
    let mut child = Command::new(pi)
        .arg("serve")
        .arg(scenario)
        .args(["--listen", "127.0.0.1:0", "--speed", "10", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut served = false;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains(" on http://") => {
                served = true;
                break;
            }
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if served {
        Ok(())
    } else {
        Err(format!(
            "the Pi's gridtwin serve {} did not start",
            scenario.display()
        ))
    }
}
