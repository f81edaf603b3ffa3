//! Every scenario in `scenarios/` must hold its expectations, and its summary and its report's
//! tables must match the reviewed snapshots. `GRIDTWIN_SCENARIOS=a,b` limits the run (used by `cargo xtask scenario`).

use std::path::{Path, PathBuf};

use controller::run::{self, summary};
use controller::scenario::{self, BackendKind};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let only: Option<Vec<String>> = std::env::var("GRIDTWIN_SCENARIOS")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().trim_end_matches(".ron").to_string())
                .collect()
        });
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .filter(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            only.as_ref().is_none_or(|o| o.contains(&stem))
        })
        .collect();
    files.sort();
    if let Some(o) = &only {
        assert_eq!(files.len(), o.len(), "unknown scenario among {o:?}");
    }
    files
}

#[test]
fn every_scenario_holds_and_matches_its_snapshot() {
    let files = scenario_files();
    assert!(files.len() >= 8 || std::env::var("GRIDTWIN_SCENARIOS").is_ok());
    let mut failed = Vec::new();
    for f in &files {
        let l = scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        // The report's tables, from the plain run directory (a Pi's) streamed as the run goes
        // and read back as `gridtwin report` reads it.
        let dir =
            std::env::temp_dir().join(format!("gridtwin-scenario-{}-{name}", std::process::id()));
        let mut plain = run::output::PlainFiles;
        let mut tapes = run::Tapes::to(&dir, &mut plain);
        let r = run::recorded(&l, &mut tapes, |_| {});
        let text = summary::render(&r);
        if !r.passed() {
            failed.push(format!("{}:\n{text}", f.display()));
        }
        r.write(&l, &dir, tapes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let rec = reports::Recording::read(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let report = reports::Report::of(&rec).unwrap();
        energies_agree(&name, &r, &report.summary);
        let tables = report.markdown(&rec);
        let _ = std::fs::remove_dir_all(&dir);
        insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(name.clone(), text);
            insta::assert_snapshot!(format!("{name}-report"), tables);
        });
    }
    assert!(
        failed.is_empty(),
        "scenarios failed:\n{}",
        failed.join("\n")
    );
}

/// The report's energies, read back from the recorded registers, against the run's own
/// accumulators (kept apart from the recording).
fn energies_agree(name: &str, r: &run::Run, s: &reports::Summary) {
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{name}: {what}: report {a}, run {b}"
        );
    };
    match &r.site {
        run::SiteRun::Pdu(p) => {
            for (load, kwh) in &p.energy_kwh {
                let reported = match load.as_str() {
                    "main" => s.fact("energy from the main"),
                    "backup" => s.fact("energy from the backup"),
                    _ => s
                        .loads
                        .iter()
                        .find(|l| &l.name == load)
                        .map(|l| l.energy_kwh),
                };
                close(reported.unwrap(), *kwh, load);
            }
        }
        run::SiteRun::Feeder(f) => {
            close(
                s.fact("energy at the source").unwrap(),
                f.source_kwh,
                "source",
            );
            let homes: f64 = s.loads.iter().map(|l| l.energy_kwh).sum();
            close(homes, f.load_kwh, "loads");
        }
    }
}

#[test]
fn the_same_scenario_gives_a_byte_identical_event_log() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/backup_overload_shedding.ron");
    let l = scenario::load(&f).unwrap();
    let log = || {
        let r = run::run(&l, |_| {});
        let mut out = Vec::new();
        for e in &r.events {
            serde_json::to_writer(&mut out, e).unwrap();
            out.push(b'\n');
        }
        (out, r.events.len())
    };
    let (a, n) = log();
    let (b, _) = log();
    assert!(n > 10, "a log worth comparing");
    assert_eq!(a, b);
}

/// The controller's own metering of sampled waveforms (ideal sensors) must make the same
/// decisions as the phasor readings: every scenario gives the same events, each kind of each
/// subject in the same order, each within one nominal cycle, and still holds its expectations.
fn waveform_fidelity_gives_the_phasor_events(rate: f64) {
    use controller::scenario::format::Fidelity;
    let mut failed = Vec::new();
    for f in scenario_files() {
        let mut l = scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        let Some(spec) = l.pdu() else { continue };
        // Meters on a line give RMS values whatever the twin's fidelity.
        if l.scenario.fidelity != Fidelity::Phasor || l.backend == BackendKind::EmulatedMeters {
            continue;
        }
        // The waveform synthesizer draws one line; the loader refuses a split-phase panel at it.
        if spec.service != sim::pdu::Service::SinglePhase {
            continue;
        }
        let cycle = 1.0 / spec.nominal_hz;
        let phasor = run::run(&l, |_| {});
        l.scenario.fidelity = Fidelity::Waveform(sim::WaveformSpec {
            sample_rate: rate,
            ..Default::default()
        });
        let wave = run::run(&l, |_| {});
        let name = format!("{} at {rate}/s", f.display());
        if !wave.passed() {
            failed.push(format!("{name}:\n{}", summary::render(&wave)));
        }
        // What happened to what; measured values in the payload may differ.
        let key = |e: &control_core::Event| format!("{} {}", e.kind.name(), e.subject);
        // Each subject's events of each kind in the same order, each within a cycle (events of
        // different kinds a step apart may swap: a power-quality event ends on the metered RMS
        // of a part-recovered cycle, a step before the source is seen back).
        let streams = |r: &run::Run| {
            let mut m = std::collections::BTreeMap::<String, Vec<f64>>::new();
            for e in &r.events {
                m.entry(key(e)).or_default().push(e.t);
            }
            m
        };
        let (ps, ws) = (streams(&phasor), streams(&wave));
        let same = ps.len() == ws.len()
            && ps.iter().zip(&ws).all(|((ka, ta), (kb, tb))| {
                ka == kb
                    && ta.len() == tb.len()
                    && ta
                        .iter()
                        .zip(tb)
                        .all(|(a, b)| (a - b).abs() <= cycle + 1e-9)
            });
        if !same {
            let show = |r: &run::Run| {
                r.events
                    .iter()
                    .map(|e| format!("  {:.3} {}", e.t, key(e)))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            failed.push(format!(
                "{name}: events differ\nphasor:\n{}\nwaveform:\n{}",
                show(&phasor),
                show(&wave)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn waveform_fidelity_at_3200_per_second_gives_the_phasor_events() {
    waveform_fidelity_gives_the_phasor_events(3200.0);
}

#[test]
fn waveform_fidelity_at_1800_per_second_gives_the_phasor_events() {
    waveform_fidelity_gives_the_phasor_events(1800.0);
}
