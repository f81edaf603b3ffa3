//! Project automation: `cargo xtask scenario [NAME...]`, `cargo xtask ci`, `cargo xtask tidy`,
//! `cargo xtask bench`,
//! `cargo xtask fuzz NAME [--minutes M | --cmin]`, `cargo xtask viz NAME [ARGS]`, `cargo xtask web-assets`.

mod pi;
mod tidy;
mod window;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("scenario") => scenario(&args[1..]),
        Some("ci") => ci(),
        Some("tidy") => tidy::tidy(&root()),
        Some("bench") => bench(),
        Some("fuzz") if args.len() > 1 => fuzz(&args[1], &args[2..]),
        Some("web-assets") => web_assets(),
        Some("viz") if args.len() > 1 => viz(&args[1], &args[2..]),
        Some("window") => window_only(),
        Some("firmware") => firmware(),
        _ => {
            eprintln!(
                "usage: cargo xtask scenario [NAME...] | ci | tidy | bench | fuzz NAME [--minutes M | --cmin] | viz NAME [ARGS] | window | firmware | web-assets"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// The features the workspace is built and tested with: the window too.
const WORKSPACE_FEATURES: &str = "gridtwin/viz";

/// CI's test command, which every build here repeats so that they all share one build.
const WORKSPACE_TESTS: [&str; 5] = [
    "test",
    "--workspace",
    "--all-targets",
    "--features",
    WORKSPACE_FEATURES,
];

/// Cargo, without what `cargo run` told xtask about itself: ring's build script reruns when
/// `CARGO_PKG_NAME` or `CARGO_MANIFEST_DIR` change, and polars depends on ring, so a build from
/// here would otherwise never share polars with a build from the shell (or another checkout).
fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_PKG_")
            || k.starts_with("CARGO_MANIFEST_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "OUT_DIR",
            ]
            .contains(&k.as_ref())
        {
            c.env_remove(k.as_ref());
        }
    }
    c
}

fn run(what: &str, mut c: Command) -> Result<(), String> {
    eprintln!("==> {what}");
    let status = c.status().map_err(|e| format!("{what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Runs a test command, echoing its output and adding up its `test result:` lines.
fn run_tests(what: &str, mut c: Command, totals: &mut (u64, u64)) -> Result<(), String> {
    eprintln!("==> {what}");
    let mut child = c
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let out = child.stdout.take().expect("piped");
    for line in BufReader::new(out).lines() {
        let line = line.map_err(|e| e.to_string())?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let num = |key: &str| {
                rest.split(';')
                    .find_map(|p| p.trim().strip_suffix(key).map(str::trim))
                    .and_then(|n| n.rsplit(' ').next()?.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            totals.0 += num(" passed");
            totals.1 += num(" failed");
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Every scenario (or those named) with its snapshot, through the scenarios test.
fn scenario(names: &[String]) -> Result<(), String> {
    let mut c = cargo();
    c.args(["test", "-p", "controller", "--test", "scenarios"]);
    c.env("GRIDTWIN_SCENARIOS", names.join(","));
    run("scenarios", c)
}

/// The browser side's npm packages (uPlot, playwright-core), as locked.
fn npm_ci() -> Result<(), String> {
    let web = root().join("gridtwin/web");
    let mut npm = Command::new("npm");
    npm.current_dir(&web)
        .args(["ci", "--no-audit", "--no-fund"]);
    run("npm ci (gridtwin/web)", npm)
}

/// Copy uPlot's build from the npm package into the served assets (after changing its version
/// in gridtwin/web/package.json).
fn web_assets() -> Result<(), String> {
    npm_ci()?;
    let web = root().join("gridtwin/web");
    for f in ["uPlot.iife.min.js", "uPlot.min.css"] {
        std::fs::copy(
            web.join("node_modules/uplot/dist").join(f),
            web.join("assets/vendor").join(f),
        )
        .map_err(|e| format!("{f}: {e}"))?;
    }
    std::fs::copy(
        web.join("node_modules/uplot/LICENSE"),
        web.join("assets/vendor/LICENSE-uPlot"),
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// `cargo xtask viz NAME [ARGS]`: the scenario `scenarios/NAME.ron` in the window.
fn viz(name: &str, extra: &[String]) -> Result<(), String> {
    build_as_ci()?;
    let mut c = Command::new(gridtwin_binary());
    c.arg("viz")
        .arg(root().join("scenarios").join(format!("{name}.ron")))
        .args(extra);
    run(&format!("gridtwin viz {name}"), c)
}

/// The workspace built as `ci` builds it, tests included: their dev-dependencies take part in
/// feature resolution, so a plain `cargo build` or `cargo run -p gridtwin` would compile much of
/// the workspace again.
fn build_as_ci() -> Result<(), String> {
    let mut build = cargo();
    build.args(WORKSPACE_TESTS).arg("--no-run");
    run("cargo test --no-run (with the window)", build)
}

/// The measurement node's firmware: `firmware/build/node.hex` built by its Makefile, and its
/// flash and RAM against the ATmega328P's 32 KiB and 2 KiB.
fn firmware() -> Result<(), String> {
    let dir = root().join("firmware");
    let mut make = Command::new("make");
    make.arg("-C").arg(&dir);
    run("make (firmware)", make)?;
    let elf = dir.join("build/node.elf");
    let out = Command::new("avr-size")
        .arg("-A")
        .arg(&elf)
        .output()
        .map_err(|e| format!("avr-size: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let section = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    let (code, data, bss) = (section(".text"), section(".data"), section(".bss"));
    let flash = code + data;
    let ram = data + bss;
    println!("{}", dir.join("build/node.hex").display());
    println!(
        "flash {flash} B of 32768 ({:.1} %), with the 512 B Optiboot bootloader {:.1} %",
        flash as f64 / 327.68,
        (flash + 512) as f64 / 327.68
    );
    println!(
        "RAM   {ram} B of 2048 ({:.1} %) static; the stack has the other {} B",
        ram as f64 / 20.48,
        2048u64.saturating_sub(ram)
    );
    if flash + 512 > 32768 || ram > 1536 {
        return Err("the firmware no longer fits an ATmega328P with room for its stack".into());
    }
    Ok(())
}

/// Debian packages, installed (as root, or with sudo) when `present` says they are missing.
fn apt_install(present: bool, packages: &[&str]) -> Result<(), String> {
    if present {
        return Ok(());
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let sudo = |args: &[&str]| {
        let mut c = if root_user {
            Command::new(args[0])
        } else {
            let mut c = Command::new("sudo");
            c.arg(args[0]);
            c
        };
        c.args(&args[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run("apt-get update", sudo(&["apt-get", "update", "-qq"]))?;
    let mut install = vec!["apt-get", "install", "-y", "-qq"];
    install.extend_from_slice(packages);
    run(
        &format!("apt-get install {}", packages.join(" ")),
        sudo(&install),
    )
}

/// What the browser test needs: Debian's Chromium (installed as root when missing) and
/// playwright-core from npm; what the window test needs: Xvfb and Mesa's Vulkan; and the
/// servers the MQTT and fleet tests start: Mosquitto and PostgreSQL.
fn browser_prerequisites() -> Result<(), String> {
    apt_install(Path::new("/usr/bin/chromium").exists(), &["chromium"])?;
    // The MQTT tests' broker.
    apt_install(
        Path::new("/usr/sbin/mosquitto").exists(),
        &["mosquitto", "mosquitto-clients"],
    )?;
    // The fleet tests' database, and the TLS test's certificates.
    let postgres = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|v| v.path().join("bin/postgres").exists());
    apt_install(postgres, &["postgresql"])?;
    apt_install(Path::new("/usr/bin/openssl").exists(), &["openssl"])?;
    // The notification tests' SMTP server.
    apt_install(
        Path::new("/usr/lib/python3/dist-packages/aiosmtpd").exists(),
        &["python3-aiosmtpd"],
    )?;
    // The export test's independent Excel reader.
    apt_install(
        Path::new("/usr/lib/python3/dist-packages/openpyxl").exists(),
        &["python3-openpyxl"],
    )?;
    // The fault record test's independent COMTRADE reader, from PyPI (Debian has none).
    apt_install(
        Path::new("/usr/lib/python3/dist-packages/pip").exists(),
        &["python3-pip"],
    )?;
    let pylib = root().join("gridtwin/tests/pylib");
    if !pylib.join("comtrade.py").exists() {
        let mut pip = Command::new("/usr/bin/python3");
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--root-user-action=ignore", "--target"])
        .arg(&pylib)
        .arg("comtrade==0.2.0");
        run("pip install comtrade (gridtwin/tests/pylib)", pip)?;
    }
    // The field tests' serial lines: a pseudo-terminal pair between master and slaves.
    apt_install(Path::new("/usr/bin/socat").exists(), &["socat"])?;
    // The node firmware's compiler and library, and the simulator it runs in under test.
    apt_install(
        Path::new("/usr/bin/avr-gcc").exists()
            && Path::new("/usr/lib/avr/include/avr/io.h").exists()
            && Path::new("/usr/include/simavr/sim_avr.h").exists(),
        &["gcc-avr", "avr-libc", "simavr", "libsimavr-dev"],
    )?;
    apt_install(
        Path::new("/usr/bin/xvfb-run").exists()
            && Path::new("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json").exists(),
        &window::PACKAGES,
    )?;
    if !root()
        .join("gridtwin/web/node_modules/playwright-core")
        .exists()
    {
        npm_ci()?;
    }
    Ok(())
}

/// The executables a build reports in cargo's `--message-format=json`.
fn executables(json: &str) -> Vec<PathBuf> {
    json.split("\"executable\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(PathBuf::from))
        .collect()
}

/// Removes every executable in the target's `deps` that this build no longer produces. Each edit
/// of a crate links its test binaries anew under a new hash and cargo never deletes the old ones;
/// a CI cache reused across runs would otherwise grow until the disk is full.
fn prune_stale_executables() {
    let mut list = cargo();
    list.args(WORKSPACE_TESTS)
        .args(["--no-run", "--quiet", "--message-format=json"]);
    let Ok(out) = list.stderr(Stdio::null()).output() else {
        return;
    };
    let current = executables(&String::from_utf8_lossy(&out.stdout));
    // Binaries are reported at their uplifted path, a hard link to the file in deps.
    use std::os::unix::fs::MetadataExt;
    let inodes: std::collections::HashSet<u64> = current
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| m.ino()))
        .collect();
    let Some(deps) = current.iter().find_map(|p| {
        let dir = p.parent()?;
        dir.ends_with("deps").then(|| dir.to_path_buf())
    }) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(&deps) else {
        return;
    };
    let mut freed = 0;
    for e in entries.flatten() {
        let path = e.path();
        // Executables are the only files in deps with no extension: `NAME-HASH`.
        if path.extension().is_some() {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_file() && !inodes.contains(&meta.ino()) && std::fs::remove_file(&path).is_ok() {
            freed += meta.len();
        }
    }
    eprintln!("==> pruned {} MB of superseded executables", freed >> 20);
}

fn ci() -> Result<(), String> {
    browser_prerequisites()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run("cargo fmt --check", fmt)?;
    eprintln!("==> tidy");
    tidy::tidy(&root())?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--features",
        WORKSPACE_FEATURES,
        "--",
        "-D",
        "warnings",
    ]);
    run("cargo clippy -D warnings", clippy)?;
    firmware()?;
    // The Raspberry Pi's build (no report engine, no fleet database, no window) builds on any
    // machine; it only opens its buses on a Pi.
    let mut rpi = cargo();
    rpi.args([
        "clippy",
        "-p",
        "gridtwin",
        "--no-default-features",
        "--features",
        "rpi",
        "--",
        "-D",
        "warnings",
    ]);
    run("cargo clippy (the Pi's build)", rpi)?;
    let mut totals = (0, 0);
    let mut test = cargo();
    // CI must never accept a changed snapshot silently.
    test.args(WORKSPACE_TESTS).env("INSTA_UPDATE", "no");
    let tested = run_tests("cargo test --workspace", test, &mut totals);
    // The binary the tests built, as every scenario and the window test run it (a `cargo run
    // -p gridtwin` would resolve features anew and rebuild half the workspace).
    let gridtwin = gridtwin_binary();
    let windows = if tested.is_ok() {
        window_tests(&gridtwin)
    } else {
        Ok(())
    };
    // Then every scenario through the CLI, as a user runs it.
    let mut scenarios_ok = 0;
    let mut scenarios_failed = 0;
    if tested.is_ok() {
        let out = std::env::temp_dir().join("gridtwin-ci-runs");
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "ron"))
            .collect();
        files.sort();
        for f in files {
            let stem = f
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let mut c = Command::new(&gridtwin);
            c.args(["run", "-q"])
                .arg(&f)
                .arg("--out")
                .arg(out.join(&stem));
            match run(&format!("gridtwin run {stem}"), c) {
                Ok(()) => scenarios_ok += 1,
                Err(_) => scenarios_failed += 1,
            }
        }
    }
    // Last, since it links the Pi's binary where the default one was.
    let pi = if tested.is_ok() {
        pi::check(&gridtwin)
    } else {
        Ok(())
    };
    prune_stale_executables();
    println!("scenarios: {scenarios_ok} passed, {scenarios_failed} failed");
    println!("tests: {} passed, {} failed", totals.0, totals.1);
    tested?;
    windows?;
    pi?;
    if scenarios_failed > 0 {
        return Err(format!("{scenarios_failed} scenarios failed"));
    }
    Ok(())
}

/// `cargo xtask window`: build with the window, then the window test alone.
fn window_only() -> Result<(), String> {
    build_as_ci()?;
    window_tests(&gridtwin_binary())
}

fn gridtwin_binary() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("debug/gridtwin")
}

/// The window under Xvfb for each of `window::CASES`.
fn window_tests(gridtwin: &Path) -> Result<(), String> {
    let out = std::env::temp_dir().join("gridtwin-ci-windows");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    for case in &window::CASES {
        eprintln!("==> window: {}", case.scenario);
        let fps = window::check(gridtwin, &root().join("scenarios"), &out, case)?;
        eprintln!("    {fps}");
    }
    Ok(())
}

/// One fuzz target (`fuzz/fuzz_targets/NAME.rs`) for M minutes (10 by default) with cargo-fuzz
/// on the nightly toolchain, growing its corpus in `fuzz/corpus/NAME` (commit what it adds;
/// `cargo test` replays it). A crash lands in `fuzz/artifacts/NAME/`: make it a test, then fix.
///
/// `--cmin` instead minimizes the corpus in place (keeps the smallest inputs that cover what
/// the whole corpus covers), the step before a grown corpus is committed; the named seeds and
/// crash inputs stay whatever it says.
fn fuzz(name: &str, args: &[String]) -> Result<(), String> {
    const USAGE: &str = "usage: cargo xtask fuzz NAME [--minutes M] | fuzz NAME --cmin";
    let mut minutes: u64 = 10;
    let mut cmin = false;
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--minutes" => {
                let m = rest.next().ok_or(USAGE)?;
                minutes = m
                    .parse()
                    .map_err(|_| format!("--minutes {m}: a whole number"))?;
            }
            "--cmin" => cmin = true,
            _ => return Err(USAGE.into()),
        }
    }
    let fuzz = root().join("fuzz");
    if !fuzz
        .join("fuzz_targets")
        .join(format!("{name}.rs"))
        .exists()
    {
        return Err(format!("no fuzz target {name}; see fuzz/fuzz_targets/"));
    }
    let has_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        let mut c = Command::new("cargo");
        c.args(["install", "cargo-fuzz", "--locked"]);
        run("cargo install cargo-fuzz", c)?;
    }
    let mut c = Command::new("cargo");
    c.current_dir(&fuzz).env_remove("CARGO_TARGET_DIR");
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_PKG_") || k.starts_with("CARGO_MANIFEST") {
            c.env_remove(k);
        }
    }
    let corpus = fuzz.join("corpus").join(name);
    if cmin {
        // A set cover: fewer files than a plain merge for the same features.
        c.args(["+nightly", "fuzz", "cmin", name])
            .arg(&corpus)
            .args(["--", "-set_cover_merge=1"]);
        let named = named_inputs(&corpus)?;
        run(&format!("cargo fuzz cmin {name}"), c)?;
        return restore_named(&corpus, &named);
    }
    c.args(["+nightly", "fuzz", "run", name])
        .arg(&corpus)
        .args(["--", &format!("-max_total_time={}", minutes * 60)]);
    run(&format!("cargo fuzz run {name} for {minutes} min"), c)
}

/// An I/O error, with the path it was about.
fn at(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// Every file of a corpus, with its bytes.
fn corpus_files(corpus: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(corpus).map_err(at(corpus))? {
        let path = e.map_err(at(corpus))?.path();
        let bytes = std::fs::read(&path).map_err(at(&path))?;
        files.push((path, bytes));
    }
    Ok(files)
}

/// The corpus files not named by their SHA-1 as libFuzzer names its finds: the hand-made seeds
/// and the inputs of fixed crashes. A merge renames or drops them; they are kept as they are.
fn named_inputs(corpus: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>, String> {
    let mut named = corpus_files(corpus)?;
    named.retain(|(path, _)| {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        !(file.len() == 40 && file.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    Ok(named)
}

/// Puts the named inputs back after a merge, and drops the merge's copies of them.
fn restore_named(corpus: &Path, named: &[(PathBuf, Vec<u8>)]) -> Result<(), String> {
    for (path, bytes) in corpus_files(corpus)? {
        if named.iter().any(|(p, b)| *b == bytes && *p != path) {
            std::fs::remove_file(&path).map_err(at(&path))?;
        }
    }
    for (path, bytes) in named {
        std::fs::write(path, bytes).map_err(at(path))?;
    }
    Ok(())
}

fn bench() -> Result<(), String> {
    let benches = [
        (
            "gridtwin",
            "day_run",
            "16-load PDU day, week and year with their reports",
        ),
        ("controller", "measure", "measurement throughput"),
        ("controller", "live_metering", "live 100-circuit metering"),
        ("controller", "balance_plan", "balancing planner, 200 homes"),
        (
            "controller",
            "alerts",
            "alert rules on a 16-load PDU's readings",
        ),
        (
            "controller",
            "field_latency",
            "a node's report to the balancer's command on RS-485",
        ),
        ("sim", "feeder_day", "European LV feeder day of power flows"),
        (
            "sim",
            "feeder_scale",
            "IEEE 123- and 8500-node feeders: import, controls, steps",
        ),
        ("reports", "report", "report of a 24 h, 64-load run"),
        (
            "hil",
            "bus_100_nodes",
            "emulated bus, 100 nodes polled in real time",
        ),
        (
            "field",
            "rs485_200_nodes",
            "200 home nodes on RS-485 through a pty",
        ),
        (
            "field",
            "lora_uplinks",
            "LoRaWAN uplinks through ChirpStack's MQTT",
        ),
        ("gridtwin", "ingest", "storage ingest, durable batches"),
        (
            "gridtwin",
            "http",
            "control center under load (wrk, live clients)",
        ),
        (
            "gridtwin",
            "fleet",
            "100 controllers through MQTT into PostgreSQL",
        ),
    ];
    for (package, bench, what) in benches {
        let mut c = cargo();
        c.args(["bench", "-p", package, "--bench", bench]);
        run(&format!("bench: {what}"), c)?;
    }
    Ok(())
}
