//! `gridtwin field selftest`: every device the field file lists, identified and read once on
//! its transport, as a pass/fail table.

use std::time::Duration;

use crate::config::{Field, Measures};
use crate::home_node as map;
use crate::master::{LinkError, Master};
use crate::meter::MeterKind;

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    /// `TRANSPORT:ADDRESS`.
    pub at: String,
    pub pass: bool,
    pub detail: String,
}

/// A request tried `1 + retries` times.
async fn retried<T, F>(retries: u32, mut f: F) -> Result<T, LinkError>
where
    F: AsyncFnMut() -> Result<T, LinkError>,
{
    let mut last = f().await;
    for _ in 0..retries {
        if last.is_ok() {
            break;
        }
        last = f().await;
    }
    last
}

async fn home(m: &mut Master, address: u8, retries: u32) -> Result<String, String> {
    let id = retried(retries, async || {
        m.read_input(address, map::REG_IDENTITY, map::IDENTITY_LEN)
            .await
    })
    .await
    .map_err(|e| format!("identity: {e}"))?;
    let id = map::decode_identity(&id).map_err(|e| e.to_string())?;
    let r = retried(retries, async || {
        m.read_input(address, map::REG_REPORT, map::REPORT_LEN)
            .await
    })
    .await
    .map_err(|e| format!("report: {e}"))?;
    let r = map::decode_report(&r).map_err(|e| e.to_string())?;
    let phase = r.phase.map_or("none".to_string(), |p| format!("{p:?}"));
    let selector = if id.selector {
        "selector"
    } else {
        "no selector"
    };
    let mut faults = Vec::new();
    if r.status & map::ST_SELECTOR_FAULT != 0 {
        faults.push("selector fault");
    }
    if r.status & map::ST_SENSOR_FAULT != 0 {
        faults.push("sensor fault");
    }
    let detail = format!(
        "node {}.{} serial {}, {selector}; phase {phase}, {:.1} V {:.2} A {:.2} kW",
        id.firmware.0,
        id.firmware.1,
        id.serial,
        r.v,
        r.i,
        r.p / 1e3
    );
    if faults.is_empty() {
        Ok(detail)
    } else {
        Err(format!("{detail}; {}", faults.join(", ")))
    }
}

async fn meter(
    m: &mut Master,
    kind: MeterKind,
    address: u8,
    retries: u32,
) -> Result<String, String> {
    let mut blocks = Vec::new();
    for b in kind.blocks() {
        let r = retried(retries, async || {
            m.read_input(address, b.start, b.count).await
        })
        .await
        .map_err(|e| format!("registers {:#06x}+{}: {e}", b.start, b.count))?;
        blocks.push(r);
    }
    let refs: Vec<&[u16]> = blocks.iter().map(|b| b.as_slice()).collect();
    let r = kind.decode(&refs).map_err(|e| e.to_string())?;
    let volts: Vec<String> = r.phases.iter().map(|p| format!("{:.1}", p.v)).collect();
    let kw: f64 = r.phases.iter().map(|p| p.p).sum::<f64>() / 1e3;
    Ok(format!(
        "{kind:?}: {} V, {kw:.2} kW, {:.2} Hz, {:.1} kWh imported",
        volts.join("/"),
        r.hz,
        r.import_kwh
    ))
}

/// The LoRaWAN homes: each heard within `stale_s` (its reports come when it sends them).
async fn heard(f: &Field) -> Vec<Check> {
    let lora: Vec<&String> = f
        .transports
        .iter()
        .filter(|(_, t)| t.is_lora())
        .map(|(n, _)| n)
        .collect();
    let homes: Vec<_> = f
        .homes
        .iter()
        .filter(|h| lora.contains(&&h.transport))
        .cloned()
        .collect();
    if homes.is_empty() {
        return Vec::new();
    }
    let only = Field {
        transports: f
            .transports
            .iter()
            .filter(|(n, _)| lora.contains(n))
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect(),
        homes: homes.clone(),
        meters: Vec::new(),
        poll: f.poll,
    };
    let seen = match crate::site::Site::start(&only).await {
        Ok(site) => {
            while site.now() < f.poll.stale_s && site.homes().iter().any(Option::is_none) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            site.homes()
        }
        Err(_) => vec![None; homes.len()],
    };
    homes
        .iter()
        .zip(seen)
        .map(|(h, s)| {
            let r = s
                .map(|s| s.report)
                .ok_or_else(|| format!("no uplink from {} within {} s", h.dev_eui, f.poll.stale_s));
            let r = r.map(|r| {
                let phase = r.phase.map_or("none".to_string(), |p| format!("{p:?}"));
                format!(
                    "heard {}: phase {phase}, {:.1} V {:.2} A {:.2} kW",
                    h.dev_eui,
                    r.v,
                    r.i,
                    r.p / 1e3
                )
            });
            Check {
                name: h.name.clone(),
                at: format!("{}:{}", h.transport, h.dev_eui),
                pass: r.is_ok(),
                detail: r.unwrap_or_else(|e| e),
            }
        })
        .collect()
}

/// Every device of `f`, one transport after another.
pub async fn run(f: &Field) -> Vec<Check> {
    let timeout = Duration::from_millis(u64::from(f.poll.timeout_ms));
    let mut checks = heard(f).await;
    for (tname, t) in f.transports.iter().filter(|(_, t)| !t.is_lora()) {
        let homes: Vec<_> = f.homes.iter().filter(|h| &h.transport == tname).collect();
        let meters: Vec<_> = f.meters.iter().filter(|m| &m.transport == tname).collect();
        let mut master = Master::open(t, timeout).await;
        for h in homes {
            let result = match &mut master {
                Ok(m) => home(m, h.address, f.poll.retries).await,
                Err(e) => Err(e.to_string()),
            };
            checks.push(check(&h.name, tname, h.address, result));
        }
        for mc in meters {
            let result = match &mut master {
                Ok(m) => meter(m, mc.kind, mc.address, f.poll.retries)
                    .await
                    .map(|d| match &mc.measures {
                        Measures::Transformer => format!("{d} (the transformer)"),
                        Measures::Circuit(c) => format!("{d} ({c})"),
                    }),
                Err(e) => Err(e.to_string()),
            };
            checks.push(check(&mc.name, tname, mc.address, result));
        }
    }
    checks
}

fn check(name: &str, transport: &str, address: u8, r: Result<String, String>) -> Check {
    let (pass, detail) = match r {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    Check {
        name: name.to_string(),
        at: format!("{transport}:{address}"),
        pass,
        detail,
    }
}

/// The checks as a table.
pub fn table(checks: &[Check]) -> String {
    let w = |f: &dyn Fn(&Check) -> usize| checks.iter().map(f).max().unwrap_or(0);
    let (wn, wa) = (w(&|c| c.name.len()).max(6), w(&|c| c.at.len()).max(2));
    let mut out = format!("{:wn$}  {:wa$}  result  detail\n", "device", "at");
    for c in checks {
        let r = if c.pass { "pass" } else { "FAIL" };
        out.push_str(&format!(
            "{:wn$}  {:wa$}  {r:6}  {}\n",
            c.name, c.at, c.detail
        ));
    }
    let passed = checks.iter().filter(|c| c.pass).count();
    out.push_str(&format!("{passed} of {} pass\n", checks.len()));
    out
}
