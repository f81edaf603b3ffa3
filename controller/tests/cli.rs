//! The CLI's contract: exit codes and error messages that say where and what.

use std::path::Path;
use std::process::{Command, Output};

fn gridtwin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridtwin"))
        .args(args)
        .output()
        .expect("runs")
}

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

const GOOD: &str = r#"Scenario(
    name: "t",
    duration: 10.0,
    grid: Pdu(
        main: (kind: Utility),
        backup: (kind: Generator(rating_kw: 5.0)),
        loads: [
            (name: "a", model: ConstantPower(watts: 500.0, pf: 1.0)),
            (name: "b", model: ConstantPower(watts: 500.0, pf: 1.0)),
        ],
    ),
    controller: (loads: { "a": (priority: 1) }),
    timeline: [(at: 5.0, do: Operator(Off("a")))],
)
"#;

/// Write `text` to a temporary scenario file and `gridtwin check` it.
fn check_text(tag: &str, text: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("gridtwin-cli-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("s.ron");
    std::fs::write(&f, text).unwrap();
    let out = gridtwin(&["check", f.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn a_valid_scenario_checks_ok() {
    let (code, err) = check_text("good", GOOD);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_false_expectation_makes_run_exit_1_and_says_which() {
    let out_dir = std::env::temp_dir().join(format!("gridtwin-fail-{}", std::process::id()));
    let out = gridtwin(&[
        "run",
        &data("failing.ron"),
        "--out",
        out_dir.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("expectation failed: transfer within 1 s after 10 s"),
        "{err}"
    );
    assert!(
        out_dir.join("events.jsonl").exists(),
        "the run is still written"
    );
}

#[test]
fn negative_delay_is_reported_at_its_position() {
    let text = GOOD.replace(
        r#"controller: (loads: { "a": (priority: 1) }),"#,
        "controller: (ats: (transfer_delay: -2.0)),",
    );
    let (code, err) = check_text("neg", &text);
    assert_eq!(code, 2);
    assert!(err.contains("s.ron:12:"), "{err}");
    assert!(
        err.contains("expected a duration in seconds >= 0, found -2"),
        "{err}"
    );
}

#[test]
fn unknown_load_in_timeline_is_reported_at_its_name() {
    let text = GOOD.replace(r#"Off("a")"#, r#"Off("kettle")"#);
    let (code, err) = check_text("unknown", &text);
    assert_eq!(code, 2);
    // Line 13, the column of "kettle".
    let col = text.lines().nth(12).unwrap().find("\"kettle\"").unwrap() + 1;
    assert!(
        err.contains(&format!("s.ron:13:{col}: unknown load \"kettle\"")),
        "{err}"
    );
}

#[test]
fn a_requires_cycle_is_rejected() {
    let text = GOOD.replace(
        r#"{ "a": (priority: 1) }"#,
        r#"{ "a": (requires: ["b"]), "b": (requires: ["a"]) }"#,
    );
    let (code, err) = check_text("cycle", &text);
    assert_eq!(code, 2);
    assert!(err.contains("s.ron:12:"), "{err}");
    assert!(err.contains("cycle: a -> b -> a"), "{err}");
}

#[test]
fn malformed_ron_gets_line_and_column() {
    let text = GOOD.replace("duration: 10.0,", "duration: 10.0,,");
    let (code, err) = check_text("syntax", &text);
    assert_eq!(code, 2);
    assert!(err.contains("s.ron:3:"), "{err}");
}

#[test]
fn bad_time_of_day_is_reported() {
    let text = GOOD.replace(
        r#"{ "a": (priority: 1) }"#,
        r#"{ "a": (schedules: [Daily(on: "25:00", off: "06:00")]) }"#,
    );
    let (code, err) = check_text("tod", &text);
    assert_eq!(code, 2);
    assert!(err.contains("s.ron:12:"), "{err}");
    assert!(err.contains("time of day"), "{err}");
}

#[test]
fn missing_file_is_bad_input() {
    let out = gridtwin(&["check", "/nonexistent/x.ron"]);
    assert_eq!(out.status.code(), Some(2));
}
