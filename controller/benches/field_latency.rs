//! `cargo xtask bench`: the time from a node's report to the balancer's command on the wire, on
//! the wall clock. The European LV feeder's 55 homes on one RS-485 line through a socat
//! pseudo-terminal pair (the emulated slaves holding each frame for its wire time), polled
//! every 5 s by the real master; the live loop's look every 100 ms, the balancer looking each
//! second. One home's demand jumps; measured: from the node's window that shows it to the
//! balancer's command (the wait for its poll, then for the balancer's look), from the command
//! to the node taking it off the wire (the poll under way, then the write), and from there to
//! the master reading the node's word on it (`CONFIRM_S`, behind the cycle's polls).

use std::time::Duration;

use control_core::balance::BalancerSettings;
use control_core::{Instant, Positive, Secs};
use controller::field::nodes::NodesBalancer;
use field::clock::Clock;
use field::config::{Field, HomeCfg, Parity, PollCfg, Transport};
use field::emulated::{EmulatedField, emulate_on};
use field::line::Device;
use field::site::Site;
use field::slave::HomeNode;
use grid_types::Phase;

const HOMES: u8 = 55;
const TRIALS: usize = 5;

fn street(baud: u32) -> Field {
    Field {
        transports: [(
            "street".to_string(),
            Transport::Rtu {
                port: String::new(),
                baud,
                parity: Parity::Even,
                stop_bits: 1,
            },
        )]
        .into(),
        homes: (1..=HOMES)
            .map(|a| HomeCfg {
                name: format!("h{a}"),
                transport: "street".into(),
                address: a,
                dev_eui: String::new(),
            })
            .collect(),
        meters: Vec::new(),
        poll: PollCfg {
            cycle_s: 5.0,
            stale_s: 15.0,
            ..PollCfg::default()
        },
    }
}

/// Every home a fresh node (which has taken no command id yet: each trial's balancer counts
/// from 1 again) on phases A, B, C in turn, drawing 1 kW: balanced within the trigger (19, 18
/// and 18 kW).
fn settle_homes(e: &EmulatedField, now: f64, trial: usize) {
    for k in 0..usize::from(HOMES) {
        let (line, address) = e.line_of(k);
        let mut n = HomeNode::new(k as u32, address as u8, Phase::ALL[k % 3]);
        // Its window counter carries on past the last trial's (a window the master has seen
        // before is not fresh).
        for _ in 0..2 * (trial + 1) {
            n.set_measurement(now, 230.0, 1e3 / 230.0, 1e3, 0.0, 50.0);
        }
        line.attach(address, Device::Node(n));
    }
}

fn median(mut x: Vec<f64>) -> f64 {
    x.sort_by(f64::total_cmp);
    x[x.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let settings = BalancerSettings {
        interval: Secs::lit(1.0),
        smoothing: Secs::lit(0.5),
        min_dwell: Secs::lit(0.0),
        min_coverage: Positive::new(0.5).expect("positive"),
        max_moves_per_hour: 1000,
        max_moves_per_home_per_day: 1000,
        ..BalancerSettings::default()
    };
    let names: Vec<String> = (1..=HOMES).map(|a| format!("h{a}")).collect();
    println!(
        "{:>6} {:>26} {:>26} {:>26}",
        "baud", "report -> command, s", "command -> node, ms", "node -> confirmed, s"
    );
    // `cargo test --all-targets` runs this too (without --bench): one trial at one rate.
    let full = std::env::args().any(|a| a == "--bench");
    let (trials, bauds) = if full {
        (TRIALS, vec![9600, 19200])
    } else {
        (1, vec![19200])
    };
    for baud in bauds {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::wall();
        let e = emulate_on(&street(baud), dir.path(), clock.clone(), 1.0)
            .await
            .unwrap();
        let site = Site::start_on(&e.field, clock.clone()).await.unwrap();
        let (mut to_cmd, mut to_node, mut to_confirm) = (vec![], vec![], vec![]);
        for trial in 0..trials {
            // A cycle for the balanced homes to be read, then a new balancer hears them for
            // another before one home (on A) jumps to 12 kW.
            settle_homes(&e, clock.now(), trial);
            tokio::time::sleep(Duration::from_secs(6)).await;
            let mut b = NodesBalancer::new(settings.clone(), &names);
            let quiet_until = clock.now() + 6.0;
            while clock.now() < quiet_until {
                let now = Instant::from_secs_f64(clock.now());
                b.handle_homes(now, &site.homes());
                let moves = b.tick(now, &mut vec![], &mut vec![]);
                assert!(moves.is_empty(), "balanced homes moved: {moves:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let k = 3 * trial;
            let measured = clock.now();
            e.node(k, |n| {
                n.set_measurement(measured, 230.0, 12e3 / 230.0, 12e3, 0.0, 50.0)
            });
            let (home, id, commanded) = loop {
                let now = clock.now();
                let homes = site.homes();
                assert!(homes[k].is_some(), "home {k} never read");
                b.handle_homes(Instant::from_secs_f64(now), &homes);
                let moves = b.tick(Instant::from_secs_f64(now), &mut vec![], &mut vec![]);
                if let Some(&(home, id, to)) = moves.first() {
                    site.command(home, id, to);
                    break (home, id, now);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            // The node's own clock stamps the write: the same wall clock as the site's.
            let taken = loop {
                if let Some(Some(t)) = e.node(home, |n| n.commanded_at)
                    && t >= commanded
                {
                    break t;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            let confirmed = loop {
                if site.homes()[home].is_some_and(|h| h.report.last_command == id) {
                    break clock.now();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            to_cmd.push(commanded - measured);
            to_node.push(1e3 * (taken - commanded));
            to_confirm.push(confirmed - taken);
        }
        let cell = |x: &[f64], unit: &str| {
            let max = x.iter().copied().fold(0.0, f64::max);
            format!("median {:.2} max {:.2} {unit}", median(x.to_vec()), max)
        };
        println!(
            "{baud:>6} {:>26} {:>26} {:>26}",
            cell(&to_cmd, ""),
            cell(&to_node, ""),
            cell(&to_confirm, "")
        );
    }
}
