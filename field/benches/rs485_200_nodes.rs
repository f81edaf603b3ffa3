//! `cargo xtask bench`: 200 home nodes on one RS-485 line, the Pi's master (tokio-modbus over
//! tokio-serial) reading every report through a socat pseudo-terminal pair at 9600 and 19200
//! baud, the emulated slaves holding each reply for its time on the wire. The first full poll
//! cycle against the twin's RS-485 link model (`sim::link::rs485`), and the CPU the process
//! (master and emulated slaves together) spent per second of it.

use std::time::{Duration, Instant};

mod common;

use common::cpu_s;
use field::config::{Field, HomeCfg, Parity, PollCfg, Transport};
use field::home_node as map;
use field::site::Site;
use sim::link::rs485::{Rs485Link, Rs485Spec};

const HOMES: u8 = 200;

fn field(baud: u32) -> Field {
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
            cycle_s: 3600.0,
            ..PollCfg::default()
        },
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for baud in [9600, 19200] {
        let dir = tempfile::tempdir().unwrap();
        let e = field::emulated::emulate(&field(baud), dir.path())
            .await
            .unwrap();
        let (wall, cpu) = (Instant::now(), cpu_s());
        let site = Site::start(&e.field).await.unwrap();
        while site.homes().iter().any(Option::is_none) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_s() - cpu);
        let model = Rs485Link::<()>::new(Rs485Spec::modbus(baud, usize::from(HOMES)), 1)
            .poll_cycle_s(2 * usize::from(map::REPORT_LEN));
        let (requests, _) = site.traffic();
        println!(
            "RS-485, {HOMES} home nodes at {baud} baud 8E1: a full poll cycle ({requests} reads of \
             {} registers) took {wall:.2} s; the link model predicts {model:.2} s ({:+.1} %); \
             CPU {:.1} % of one core",
            map::REPORT_LEN,
            (wall / model - 1.0) * 100.0,
            cpu / wall * 100.0
        );
    }
}
