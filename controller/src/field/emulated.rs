//! The feeder's home nodes on the emulated field (`backend: EmulatedField`): each home a
//! register-exact node (`field::slave::HomeNode`) fed by the twin, on an RS-485 line behind a
//! socat pseudo-terminal pair or behind an emulated ChirpStack publishing to a Mosquitto of its
//! own; the real master and ChirpStack client (`field::site`) hear them, and the balancer acts
//! through `NodesBalancer`, as on a real site. Time is virtual: the run sets the field's clock
//! each second and waits until all that was due has gone over the wire, so a day takes minutes
//! and runs the same every time. A frame takes no wire time here; the bench measures that.

use control_core::{Event, Instant};
use field::clock::VirtualTime;
use field::config::{Field as FieldFile, HomeCfg, Parity, PollCfg, Transport};
use field::emulated::{EmulatedField, emulate_on};
use field::line::Fault;
use field::site::Site;
use grid_types::Phase;
use sim::feeder::PowerFlow;

use super::nodes::{NodesBalancer, site_event};
use super::{
    BalanceRun, Balancing, FieldFault, FieldLink, TICK, describe, homes, lora_per, metered,
};

/// A master's reply timeout on the emulated line, ms: the far end is a local process, but a
/// busy machine must not turn a slow answer into a retry (a run must be the same every time).
const TIMEOUT_MS: u32 = 250;

/// A field that has not done what was due within this (wall time) has lost a message: the
/// run goes on, and counts it.
const STALL: std::time::Duration = std::time::Duration::from_secs(10);

pub struct EmulatedNodes {
    rt: tokio::runtime::Runtime,
    time: VirtualTime,
    site: Site,
    emu: EmulatedField,
    balancer: NodesBalancer,
    /// The feeder load of each home, its name, its voltage base (V).
    loads: Vec<usize>,
    names: Vec<String>,
    volts: Vec<f64>,
    /// Where the twin has each home, as its node last said.
    phases: Vec<Phase>,
    every: f64,
    next_window: Vec<f64>,
    t: f64,
    /// Faults to clear: (when, home or None for the line's own, which).
    clears: Vec<(f64, Option<usize>)>,
    out: BalanceRun,
    _dir: tempfile::TempDir,
}

impl EmulatedNodes {
    /// The field file of the scenario's homes on its link, emulated, and the site started.
    pub fn new(b: &Balancing, pf: &PowerFlow, head: Option<&str>) -> Result<Self, String> {
        let (loads, names) = homes(b, pf)?;
        let every = b.report_every.get();
        let file = field_file(&b.link, &names, every)?;
        let dir = tempfile::tempdir().map_err(|e| format!("a directory for the field: {e}"))?;
        let rt = super::runtime::runtime(None)?;
        let (time, clock) = VirtualTime::new();
        let f = pf.feeder();
        let phases: Vec<Phase> = loads
            .iter()
            .map(|&i| Phase::of_node(pf.load_state(i).node).unwrap_or(Phase::A))
            .collect();
        let (emu, site) = rt.block_on(async {
            let emu = emulate_on(&file, dir.path(), clock.clone(), every).await?;
            // The nodes as the twin has them, before the master first reads them.
            for (k, p) in phases.iter().enumerate() {
                emu.node(k, |n| {
                    n.wired_to(*p);
                    n.switch_s = b.selector.dead_time_s;
                });
            }
            if let FieldLink::Lora {
                per_near, per_far, ..
            } = b.link
            {
                let per = lora_per(per_near, per_far, f, &loads, head);
                for (k, per) in per.into_iter().enumerate() {
                    let (line, address) = emu.line_of(k);
                    line.set_loss(address, per);
                }
            }
            let site = Site::start_on(&emu.field, clock)
                .await
                .map_err(|e| e.to_string())?;
            // Nothing may be published before both ends of the broker listen.
            let lines: Vec<_> = emu.lines.values().cloned().collect();
            let ready = site.settle(0.0, |s| s.subscribed() && lines.iter().all(|l| l.ready()));
            tokio::time::timeout(STALL, ready)
                .await
                .map_err(|_| format!("the emulated field was not up within {STALL:?}"))?;
            Ok::<_, String>((emu, site))
        })?;
        // Windows close in turn across the report interval, whole seconds.
        let n = loads.len() as f64;
        let next_window = (0..loads.len())
            .map(|k| (every * k as f64 / n).floor().max(TICK))
            .collect();
        let out = BalanceRun {
            link: format!("emulated {}", describe(&b.link)),
            homes: loads.len(),
            ..BalanceRun::default()
        };
        Ok(EmulatedNodes {
            rt,
            time,
            site,
            emu,
            balancer: NodesBalancer::new(b.settings.clone(), &names),
            volts: loads.iter().map(|&i| f.loads[i].kv * 1e3).collect(),
            loads,
            names,
            phases,
            every,
            next_window,
            t: 0.0,
            clears: Vec::new(),
            out,
            _dir: dir,
        })
    }

    /// A fault on the field from now (s) for `duration` s (for good when None); `home` by
    /// name (checked by the loader), None for the line's own.
    pub fn inject(
        &mut self,
        now: f64,
        fault: FieldFault,
        home: Option<&str>,
        duration: Option<f64>,
    ) {
        let k = home.and_then(|h| self.names.iter().position(|n| n == h));
        let (line, address) = match k {
            Some(k) => self.emu.line_of(k),
            None => self.emu.line_of(0),
        };
        match fault {
            FieldFault::Silent => line.inject(Fault::Silent { address }),
            FieldFault::Crc { count } => line.inject(Fault::Corrupt { address, count }),
            FieldFault::GatewayDown => line.inject(Fault::GatewayDown),
            FieldFault::Duplicate => line.inject(Fault::Duplicate { address }),
            FieldFault::SelectorFails => {
                if let Some(k) = k {
                    self.emu.node(k, |n| n.fail_next_move = true);
                }
            }
        }
        if let Some(d) = duration {
            let clear = if fault == FieldFault::GatewayDown {
                None
            } else {
                k
            };
            self.clears.push((now + d, clear));
        }
    }

    /// Run the nodes, the field and the balancer up to `until` (s), the homes drawing what the
    /// last power flow gave them. A node's move changes its home's node in `pf`.
    pub fn advance(&mut self, until: f64, pf: &mut PowerFlow, events: &mut Vec<Event>) {
        while self.t + TICK <= until + 1e-9 {
            self.t += TICK;
            let t = self.t;
            self.clear_faults(t);
            self.close_windows(t, pf);
            self.time.set(t);
            self.settle(t);
            let now = Instant::from_secs_f64(t);
            let homes = self.site.homes();
            self.balancer.handle_homes(now, &homes);
            let mut notes = Vec::new();
            let moves = self.balancer.tick(now, events, &mut notes);
            for n in &notes {
                self.out.tally(n);
            }
            for &(k, id, to) in &moves {
                self.site.command(k, id, to);
            }
            if !moves.is_empty() {
                self.settle(t);
            }
            self.follow_selectors(t, pf);
            events.extend(
                self.site
                    .drain_events()
                    .into_iter()
                    .filter_map(|(at, e)| site_event(at, e)),
            );
        }
    }

    /// Wait until the field has done all that was due by `t`.
    fn settle(&mut self, t: f64) {
        let lines: Vec<_> = self.emu.lines.values().cloned().collect();
        let settled = self.site.settle(t, |site| {
            let (heard, queued) = site.messages();
            let (sent, taken) = lines.iter().fold((0, 0), |a, l| {
                let s = l.stats();
                (a.0 + s.uplinks, a.1 + s.downlinks)
            });
            heard >= sent && taken >= queued && lines.iter().all(|l| l.uplinks_done(t))
        });
        if self
            .rt
            .block_on(async { tokio::time::timeout(STALL, settled).await })
            .is_err()
        {
            self.out.stalls += 1;
        }
    }

    fn clear_faults(&mut self, t: f64) {
        let (due, keep) = std::mem::take(&mut self.clears)
            .into_iter()
            .partition(|c| c.0 <= t);
        self.clears = keep;
        for (_, k) in due {
            match k {
                Some(k) => {
                    let (line, address) = self.emu.line_of(k);
                    line.clear_faults(Some(address));
                }
                None => self.emu.lines.values().for_each(|l| l.clear_faults(None)),
            }
        }
    }

    /// Each home whose measurement window closes now takes the twin's values for it.
    fn close_windows(&mut self, t: f64, pf: &PowerFlow) {
        for k in 0..self.loads.len() {
            if self.next_window[k] > t {
                continue;
            }
            self.next_window[k] += self.every;
            let (v, i, s) = metered(pf, self.loads[k], self.volts[k]);
            self.emu
                .node(k, |n| n.set_measurement(t, v, i, s.re, s.im, 50.0));
        }
    }

    /// A node whose selector has moved moves its home in the power flow.
    fn follow_selectors(&mut self, t: f64, pf: &mut PowerFlow) {
        for k in 0..self.loads.len() {
            let Some(Some(p)) = self.emu.node(k, |n| n.report(t).phase) else {
                continue;
            };
            if p != self.phases[k] && pf.set_load_node(self.loads[k], p.node()).is_ok() {
                self.phases[k] = p;
                self.out.moves += 1;
            }
        }
    }

    pub fn finish(self) -> BalanceRun {
        let mut o = self.out;
        o.emulated = true;
        let switches: Vec<u32> = (0..self.names.len())
            .map(|k| self.emu.node(k, |n| n.report(self.t).switches).unwrap_or(0))
            .collect();
        o.most_moves = self
            .names
            .iter()
            .zip(&switches)
            .filter(|x| *x.1 > 0)
            .max_by_key(|x| *x.1)
            .map(|(n, s)| (n.clone(), *s));
        o
    }
}

/// The field file of `names` on `link`: one RS-485 line (addresses 1, 2, ...) or one
/// ChirpStack application (DevEUIs in a block); polled once per report.
fn field_file(link: &FieldLink, names: &[String], every: f64) -> Result<FieldFile, String> {
    let (transport, lora) = match link {
        FieldLink::Rs485 { baud } => {
            if names.len() > 247 {
                return Err(format!(
                    "one RS-485 line takes 247 nodes; the feeder has {} homes",
                    names.len()
                ));
            }
            let t = Transport::Rtu {
                port: "emulated".into(),
                baud: *baud,
                parity: Parity::Even,
                stop_bits: 1,
            };
            (t, false)
        }
        FieldLink::Lora { .. } => {
            let t = Transport::ChirpStack {
                host: "127.0.0.1".into(),
                port: 1883,
                application: "gridtwin".into(),
                tls: false,
                ca: None,
                user: None,
                password_file: None,
            };
            (t, true)
        }
        other => {
            return Err(format!(
                "the emulated field carries RS-485 and LoRa links; {} has no field transport here",
                describe(other)
            ));
        }
    };
    let homes = names
        .iter()
        .enumerate()
        .map(|(k, name)| HomeCfg {
            name: name.clone(),
            transport: "field".into(),
            address: if lora { 0 } else { k as u8 + 1 },
            dev_eui: if lora {
                format!("0004a30b{:08x}", k + 1)
            } else {
                String::new()
            },
        })
        .collect();
    Ok(FieldFile {
        transports: [("field".to_string(), transport)].into(),
        homes,
        meters: Vec::new(),
        poll: PollCfg {
            timeout_ms: TIMEOUT_MS,
            retries: 1,
            lost_after: 3,
            reprobe_max_s: 600.0,
            cycle_s: every,
            // A report may be a window and a poll old.
            stale_s: 2.5 * every,
        },
    })
}
