//! A site's recorded row in the one schema of `record::schema`: the batch run's series and the
//! live service's store take the same channels, in the same units, filled here.

use grid_types::Readings;
use record::schema::{self, Channel};

use super::feeder_loop::current_unbalance_pct;
use super::{FeederLoop, PduLoop};

impl PduLoop {
    /// The channels of `row`, in its order.
    pub fn channels(&self) -> Vec<Channel> {
        let mut c = schema::pdu_channels(self.names());
        if self.split_phase() {
            c.extend(schema::leg_channels());
        }
        c
    }

    /// One row: `r` (the twin's truth in a batch run, the meters' readings live), the
    /// contactors, the controller's states and the energy registers `energy_j` (J: the loads,
    /// then main and backup).
    pub fn row(&self, r: &Readings, energy_j: &[f64], out: &mut Vec<f64>) {
        let ctl = self.controller();
        let b = |x: bool| f64::from(u8::from(x));
        // The twin's contactors and generator; on a real site, the controller's view of them.
        let (main_closed, backup_closed, running) = match self.pdu() {
            Some(pdu) => (
                pdu.main_closed(),
                pdu.backup_closed(),
                pdu.backup_state() != sim::source::GenState::Stopped,
            ),
            None => {
                let s = ctl.status();
                (s.main_closed, s.backup_closed, s.backup_available)
            }
        };
        let n = r.loads.len();
        // The twin's harmonics; a real site's meters measure none.
        let thd = self.pdu().map(sim::Pdu::thd);
        let load_thd = |i: usize| thd.as_ref().map_or(f64::NAN, |t| t.loads[i]);
        out.clear();
        for (s, j, closed) in [
            (&r.main, energy_j[n], main_closed),
            (&r.backup, energy_j[n + 1], backup_closed),
        ] {
            out.extend([s.v, s.hz, s.i, s.p, s.q, j, b(closed)]);
        }
        out.extend([
            r.bus_v,
            r.bus_hz,
            r.loads.iter().map(|l| l.p).sum(),
            b(running),
            // The source whose contactor feeds the bus.
            if main_closed {
                1.0
            } else if backup_closed {
                2.0
            } else {
                0.0
            },
            f64::from(ctl.ats_state().code()),
            thd.as_ref().map_or(f64::NAN, |t| t.voltage),
            thd.as_ref().map_or(f64::NAN, |t| t.current),
        ]);
        for (i, l) in r.loads.iter().enumerate() {
            let s = l.p.hypot(l.q);
            out.extend([
                l.v,
                l.i,
                l.p,
                l.q,
                if s > 1e-9 { l.p / s } else { f64::NAN },
                load_thd(i),
                b(self.relay_closed(i)),
                f64::from(ctl.load_status(i).code()),
                energy_j[i],
            ]);
        }
        if self.split_phase() {
            let legs = r.legs.unwrap_or_default();
            for k in 0..2 {
                out.extend([legs.v[k], legs.i[k], legs.p[k], legs.q[k]]);
            }
            out.push(legs.neutral_i);
        }
    }
}

impl FeederLoop {
    /// The channels of `row`, in its order.
    pub fn channels(&self) -> Vec<Channel> {
        crate::channels::feeder(self.pf(), &self.homes)
    }

    /// One row of the last solved step with the energy registers `energy_j` (J: each home,
    /// then the source); nothing before the first solve.
    pub fn row(&self, energy_j: &[f64], out: &mut Vec<f64>) {
        out.clear();
        let Some(step) = self.last_step() else {
            return;
        };
        let v = step.loads.iter().map(|x| x.1);
        out.extend([
            step.source.re,
            step.source.im,
            energy_j[self.homes.len()],
            step.worst_vuf.1,
            v.clone().fold(f64::INFINITY, f64::min),
            v.fold(f64::NEG_INFINITY, f64::max),
        ]);
        for ((i, residual), nodes) in step.heads.iter().zip(&self.head_nodes) {
            // Aligned with the channels: a node missing from this solution reads NaN.
            out.extend(nodes.iter().map(|n| {
                i.iter()
                    .find(|a| a.0 == *n)
                    .map_or(f64::NAN, |a| a.1.norm())
            }));
            out.extend([*residual, current_unbalance_pct(i)]);
        }
        for (i, &(node, v_pu, s)) in step.loads.iter().enumerate() {
            out.extend([
                v_pu,
                s.re,
                s.im,
                self.phase_code(i, node) as f64,
                energy_j[i],
            ]);
        }
    }

    /// Home `i`'s phase as `schema::PHASES` labels it, on `node`: a split-phase home's is
    /// the primary phase its service transformer takes.
    pub fn phase_code(&self, i: usize, node: usize) -> usize {
        match self.service[i] {
            Some(p) => p,
            None if self.single_phase(i) => node.min(3),
            None => 4,
        }
    }

    /// Whether load `i` sits on one phase and neutral of the three-phase network, as a home
    /// with a phase selector does.
    pub fn single_phase(&self, i: usize) -> bool {
        self.single[i]
    }
}
