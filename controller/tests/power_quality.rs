//! Dips, swells and interruptions of the mains in a run, as the controller records them
//! (`scenarios/power_quality_dip_swell_interruption.ron`): each with its depth or peak and its
//! duration to the step. The controller sees one RMS per step (20 ms, a cycle at 50 Hz) and the
//! twin's timeline acts on steps, so a step is the resolution here; on sampled waveforms the
//! detector places the edges within half a cycle (`control_core::pq`'s tests).

use std::path::Path;

use control_core::EventKind;

#[test]
fn a_dip_to_40_percent_for_100_ms_is_recorded_with_its_depth_and_duration() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/power_quality_dip_swell_interruption.ron");
    let l = controller::scenario::load(&path).unwrap();
    let run = controller::run::run(&l, |_| {});
    assert!(run.passed(), "{:?}", run.outcomes);
    let step = 0.02 + 1e-9;
    let mut seen = 0;
    for e in &run.events {
        match e.kind {
            EventKind::VoltageDip {
                residual_pct,
                duration_s,
                ..
            } => {
                // The twin's source sags to 0.4 pu; the bus drop under load is the difference.
                assert!((residual_pct - 40.0).abs() < 1.0, "{e:?}");
                assert!((duration_s - 0.1).abs() <= step, "{e:?}");
                seen += 1;
            }
            EventKind::VoltageSwell {
                peak_pct,
                duration_s,
                ..
            } => {
                assert!((peak_pct - 115.0).abs() < 1.0, "{e:?}");
                assert!((duration_s - 0.3).abs() <= step, "{e:?}");
                seen += 1;
            }
            EventKind::Interruption { duration_s } => {
                assert!((duration_s - 2.0).abs() <= step, "{e:?}");
                seen += 1;
            }
            _ => {}
        }
    }
    assert_eq!(seen, 3);
}
