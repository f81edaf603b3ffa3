//! A field file's devices emulated, for `--emulated` and the tests: each serial transport a
//! line behind a socat pseudo-terminal pair, each TCP gateway a listener on localhost, every
//! home node and meter the file lists a register-exact slave on it. The returned field file
//! is the same with its ports and addresses pointed at the emulation.

use std::collections::BTreeMap;
use std::path::Path;

use grid_types::Phase;
use tokio_serial::SerialPortBuilderExt;

use crate::config::{Field, Transport};
use crate::line::{Device, Line, PtyPair};
use crate::meter::{MeterKind, MeterReading, PhaseReading};
use crate::slave::{HomeNode, Meter};

pub struct EmulatedField {
    pub field: Field,
    /// Each transport's line, by name: to feed the devices and inject faults.
    pub lines: BTreeMap<String, Line>,
    _pairs: Vec<PtyPair>,
}

/// Emulate `f` (inside a tokio runtime: the lines are served by tasks); pseudo-terminals are
/// made in `dir`. Each home starts on phases A, B, C in turn at 230 V and 1 kW; each meter reads
/// 230 V and 2 kW a phase.
pub async fn emulate(f: &Field, dir: &Path) -> Result<EmulatedField, String> {
    let mut field = f.clone();
    let mut lines = BTreeMap::new();
    let mut pairs = Vec::new();
    for (name, t) in field.transports.iter_mut() {
        let line = Line::new(t.baud(), t.bits_per_char());
        match t {
            Transport::Rtu { port, baud, .. } => {
                let d = dir.join(name);
                std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                let pair = PtyPair::open(&d)?;
                let far = tokio_serial::new(pair.slaves.to_string_lossy(), *baud)
                    .open_native_async()
                    .map_err(|e| format!("{}: {e}", pair.slaves.display()))?;
                tokio::spawn(line.clone().serve_rtu(far));
                *port = pair.master.to_string_lossy().into();
                pairs.push(pair);
            }
            Transport::Tcp { address, .. } => {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| format!("a gateway's listener: {e}"))?;
                *address = l.local_addr().map_err(|e| e.to_string())?.to_string();
                tokio::spawn(line.clone().serve_tcp(l));
            }
        }
        lines.insert(name.clone(), line);
    }
    for (k, h) in f.homes.iter().enumerate() {
        let mut node = HomeNode::new(10_000 + k as u32, h.address, Phase::ALL[k % 3]);
        node.set_measurement(0.0, 230.0, 1000.0 / 230.0, 1000.0, 0.0, 50.0);
        lines[&h.transport].attach(h.address, Device::Node(node));
    }
    for m in &f.meters {
        let mut meter = Meter::new(m.kind, m.address);
        let phases = if m.kind == MeterKind::Sdm630 { 3 } else { 1 };
        meter.set_reading(
            0.0,
            MeterReading {
                phases: vec![
                    PhaseReading {
                        v: 230.0,
                        i: 2000.0 / 230.0,
                        p: 2000.0,
                        q: Some(0.0),
                        pf: 1.0
                    };
                    phases
                ],
                hz: 50.0,
                neutral_a: Some(0.0),
                ..Default::default()
            },
        );
        lines[&m.transport].attach(m.address, Device::Meter(meter));
    }
    Ok(EmulatedField {
        field,
        lines,
        _pairs: pairs,
    })
}
