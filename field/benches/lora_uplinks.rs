//! `cargo xtask bench`: LoRaWAN uplinks handled. An emulated ChirpStack publishes every home's
//! report once a second (ChirpStack v4's JSON, through Debian's Mosquitto); the site takes them
//! through each device's frame counter. Offered against taken per second, and the CPU the
//! process (site and emulated network server together) spent.

use std::time::{Duration, Instant};

mod common;

use common::cpu_s;
use field::config::{Field, HomeCfg, PollCfg, Transport};
use field::site::Site;

fn village(homes: usize) -> Field {
    Field {
        transports: [(
            "lora".to_string(),
            Transport::ChirpStack {
                host: String::new(),
                port: 1883,
                application: "bench".into(),
                tls: false,
                ca: None,
                user: None,
                password_file: None,
            },
        )]
        .into(),
        homes: (0..homes)
            .map(|k| HomeCfg {
                name: format!("h{k}"),
                transport: "lora".into(),
                address: 0,
                dev_eui: format!("{k:016x}"),
            })
            .collect(),
        meters: Vec::new(),
        poll: PollCfg::default(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for homes in [250, 1000, 2000] {
        let dir = tempfile::tempdir().unwrap();
        let e = field::emulated::emulate(&village(homes), dir.path())
            .await
            .unwrap();
        let site = Site::start(&e.field).await.unwrap();
        // Warm up until every home has been heard once.
        let deadline = Instant::now() + Duration::from_secs(20);
        while site.homes().iter().any(Option::is_none) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        const SECONDS: f64 = 5.0;
        let (n0, cpu0, t0) = (site.uplinks(), cpu_s(), Instant::now());
        tokio::time::sleep(Duration::from_secs_f64(SECONDS)).await;
        let (taken, cpu, wall) = (
            site.uplinks() - n0,
            cpu_s() - cpu0,
            t0.elapsed().as_secs_f64(),
        );
        println!(
            "LoRaWAN through ChirpStack's MQTT, {homes} homes reporting each second: {:.0} \
             uplinks/s taken of {homes} offered, CPU {:.0} % of one core",
            taken as f64 / wall,
            cpu / wall * 100.0
        );
    }
}
