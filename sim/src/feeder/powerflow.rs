//! Three-phase unbalanced power flow on a radial feeder: a backward/forward sweep over the
//! branch two-ports, loads as current injections re-evaluated each sweep, each sweep's result
//! mixed with the last ones' (`accel`), warm-started from the previous solution, with voltage
//! regulators moving taps between solutions.

use num_complex::Complex64 as C64;

use super::FeederError;
use super::load_model::{generator_current, load_current};
use super::model::{Feeder, split_terminal};
use super::network::{self, GROUND, Kind, MAX_NODES, Network, Shunt};
use super::{reduce, transformer};

mod accel;
mod control;
mod lateral;
mod ops;

pub use lateral::{Head, Lateral, rephase};

use ops::{
    Op, Passed, change_bits, fill_passed, general_child_current, line_forward, ops, passing_buses,
};

/// Solved state of a feeder, kept between time steps.
pub struct PowerFlow {
    feeder: Feeder,
    net: Network,
    v: Vec<C64>,
    j: Vec<C64>,
    /// 1 / line-to-neutral base volts, per node.
    inv_base: Vec<f64>,
    /// Power per load at the current time (multiplier applied), W + j var per phase.
    load_s: Vec<C64>,
    /// Each load's own factor on top of its shape (a load step).
    load_scale: Vec<f64>,
    /// Output per generator at the current time (shape applied), W + j var per phase.
    gen_s: Vec<C64>,
    /// Each generator's shape (index into `Feeder::load_shapes`).
    gen_shape: Vec<Option<usize>>,
    /// The minute of the run the load shapes and time controls were last read at.
    minute: f64,
    /// Source EMF as a fraction of its rating.
    source_pu: f64,
    /// Largest change of any node voltage (pu) between sweeps that counts as converged.
    pub tolerance: f64,
    pub max_iterations: usize,
    /// Regulator taps (steps from neutral), per regulator.
    taps: Vec<i32>,
    /// Each regulator's transformer (index into `Feeder::transformers`).
    reg_transformer: Vec<usize>,
    /// Each capacitor control's bank (index into `Feeder::capacitors`) and the line element it
    /// reads (none while the line is open).
    cap_controlled: Vec<(usize, Option<usize>)>,
    /// Each load's shape (index into `Feeder::load_shapes`).
    shape_of: Vec<Option<usize>>,
    /// The branches in sweep order, flattened for speed: plain lines of up to three conductors
    /// inline, every general branch's two-port in `coef`.
    ops: Vec<Op>,
    coef: Vec<C64>,
    /// The buses the sweep passes over, filled in once it has converged, and for each bus the
    /// line out of it if it is one.
    passed: Vec<Passed>,
    passing: Vec<Option<usize>>,
    /// The fixed shunts (never ground at `a`), to ground and between two nodes, and the
    /// indices of the others into `Network::shunts`.
    fixed_to_ground: Vec<(u32, C64)>,
    fixed_between: Vec<(u32, u32, C64)>,
    varying: Vec<u32>,
    /// Each load's shunt phases (indices into `Network::shunts`).
    load_shunts: Vec<Vec<usize>>,
    /// Every bus with nodes 1, 2 and 3, source EMF excluded, and those nodes' indices.
    abc_buses: Vec<(usize, [usize; 3])>,
    /// What the last sweeps of this solution tell of its slow modes.
    accel: accel::Anderson,
}

/// What one call to `solve` did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Solved {
    pub iterations: usize,
    pub tap_changes: usize,
    /// Capacitor banks switched by their controls.
    pub switchings: usize,
}

/// What a load sees and draws in the present solution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadState {
    /// The node of its bus its (first) phase is on: 1, 2 or 3 for A, B, C.
    pub node: usize,
    /// Voltage across its (first) phase, pu of the bus's base.
    pub v_pu: f64,
    /// Power drawn over all its phases, W + j var.
    pub s: C64,
}

/// One node's voltage to ground.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeVoltage {
    pub bus: String,
    pub node: usize,
    pub volts: C64,
    pub pu: f64,
}

impl PowerFlow {
    pub fn new(feeder: &Feeder) -> Result<Self, FeederError> {
        let mut net = network::compile(feeder)?;
        reduce::reduce_all(&mut net)?;
        let n = net.n_nodes;
        let mut pf = PowerFlow {
            feeder: feeder.clone(),
            v: vec![C64::new(0.0, 0.0); n],
            j: vec![C64::new(0.0, 0.0); n],
            inv_base: vec![0.0; n],
            load_s: feeder.loads.iter().map(|l| l.va_per_phase()).collect(),
            load_scale: vec![1.0; feeder.loads.len()],
            gen_s: feeder.generators.iter().map(|g| g.va_per_phase()).collect(),
            gen_shape: shape_indices(
                feeder,
                feeder
                    .generators
                    .iter()
                    .map(|g| ("generator", &g.name, &g.shape)),
            )?,
            minute: 0.0,
            source_pu: 1.0,
            tolerance: 1e-6,
            max_iterations: 100,
            taps: vec![],
            reg_transformer: vec![],
            cap_controlled: vec![],
            ops: vec![],
            coef: vec![],
            passed: vec![],
            passing: vec![],
            fixed_to_ground: vec![],
            fixed_between: vec![],
            varying: vec![],
            load_shunts: vec![vec![]; feeder.loads.len()],
            abc_buses: vec![],
            accel: Default::default(),
            shape_of: shape_indices(
                feeder,
                feeder.loads.iter().map(|l| ("load", &l.name, &l.shape)),
            )?,
            net,
        };
        (pf.reg_transformer, pf.taps) = regulated_windings(feeder)?;
        pf.cap_controlled = control::resolve_cap_controls(feeder, &pf.net)?;
        pf.passing = passing_buses(&pf.net);
        (pf.ops, pf.coef, pf.passed) = ops(&pf.net, &pf.passing);
        for (k, s) in pf.net.shunts.iter().enumerate() {
            match s.of {
                Shunt::Fixed if s.b == GROUND => pf.fixed_to_ground.push((s.a as u32, s.y)),
                Shunt::Fixed => pf.fixed_between.push((s.a as u32, s.b as u32, s.y)),
                Shunt::Load(l) => {
                    pf.load_shunts[l].push(k);
                    pf.varying.push(k as u32);
                }
                _ => pf.varying.push(k as u32),
            }
        }
        pf.abc_buses = (1..pf.net.buses.len())
            .filter_map(|b| {
                let bus = &pf.net.buses[b];
                let at = |n: usize| Some(bus.offset + bus.nodes.iter().position(|&x| x == n)?);
                Some((b, [at(1)?, at(2)?, at(3)?]))
            })
            .collect();
        pf.no_load();
        pf.assign_bases();
        Ok(pf)
    }

    /// Scale every load by its load shape at `minute` (OpenDSS's count: minute m is point m).
    pub fn set_minute(&mut self, minute: f64) {
        self.minute = minute;
        for i in 0..self.feeder.loads.len() {
            self.refresh_load(i);
        }
        for (i, g) in self.feeder.generators.iter().enumerate() {
            let shape = self.gen_shape[i].map(|k| &self.feeder.load_shapes[k]);
            self.gen_s[i] = g.va_per_phase() * shape.map_or(1.0, |sh| sh.at_minute(minute));
        }
    }

    /// Multiply one load's demand by `factor` (on top of its load shape) from now on.
    pub fn set_load_scale(&mut self, load: usize, factor: f64) {
        self.load_scale[load] = factor;
        self.refresh_load(load);
    }

    /// A load's power at the present minute and scale.
    fn refresh_load(&mut self, i: usize) {
        let l = &self.feeder.loads[i];
        let base = l.va_per_phase() * self.load_scale[i];
        self.load_s[i] = match self.shape_of[i].map(|k| &self.feeder.load_shapes[k]) {
            None => base,
            Some(sh) if sh.use_actual => {
                let kw = sh.at_minute(self.minute);
                let q_per_p = if l.kw != 0.0 { l.kvar / l.kw } else { 0.0 };
                C64::new(kw, kw * q_per_p) * 1000.0 / l.phases as f64 * self.load_scale[i]
            }
            Some(sh) => base * sh.at_minute(self.minute),
        };
    }

    /// Set the source EMF to `pu` of its rating (0 is an outage upstream).
    pub fn set_source_pu(&mut self, pu: f64) {
        self.source_pu = pu;
        for k in 0..self.net.emf.len() {
            self.v[k] = self.net.emf[k] * pu;
        }
    }

    /// Move a single-phase load to another node of its bus (a phase selector).
    pub fn set_load_node(&mut self, load: usize, node: usize) -> Result<(), FeederError> {
        let l = &self.feeder.loads[load];
        let to_ground = self
            .net
            .shunts
            .iter()
            .filter(|s| s.of == Shunt::Load(load))
            .all(|s| s.b == GROUND);
        if l.phases != 1 || !to_ground {
            return Err(FeederError::Model(format!(
                "load {}: only a single-phase load wired phase to neutral has a phase selector",
                l.name
            )));
        }
        let (bus, _) = super::model::split_terminal(&l.bus).map_err(FeederError::Model)?;
        let b = self.net.bus_index[&bus];
        let g = self.net.node(b, node).ok_or_else(|| {
            FeederError::Model(format!("load {}: bus {bus} has no node {node}", l.name))
        })?;
        for s in self
            .net
            .shunts
            .iter_mut()
            .filter(|s| s.of == Shunt::Load(load))
        {
            s.a = g;
        }
        Ok(())
    }

    /// Fix a regulator's tap (steps from neutral) and stop it from moving.
    pub fn set_tap(&mut self, regulator: &str, tap: i32) -> Result<(), FeederError> {
        let r = self
            .feeder
            .regulators
            .iter()
            .position(|r| r.name.eq_ignore_ascii_case(regulator))
            .ok_or_else(|| FeederError::Model(format!("no regulator `{regulator}`")))?;
        self.feeder.regulators[r].enabled = false;
        self.apply_taps(&[(r, tap)])
    }

    pub fn taps(&self) -> &[i32] {
        &self.taps
    }

    /// Moves regulators to taps (steps from neutral, within their range), then reduces each
    /// branch they sit in once (a bank of three single-phase regulators that move together
    /// shares one) and writes its two-port into the sweep's coefficients in place.
    fn apply_taps(&mut self, moves: &[(usize, i32)]) -> Result<(), FeederError> {
        let mut changed = Vec::with_capacity(moves.len());
        for &(r, tap) in moves {
            let reg = &self.feeder.regulators[r];
            let m = reg.max_taps.max(0);
            let tap = tap.clamp(-m, m);
            self.taps[r] = tap;
            let tname = reg.transformer.to_ascii_lowercase();
            let w = reg.winding - 1;
            let step = reg.tap_step;
            let ti = self.reg_transformer[r];
            self.feeder.transformers[ti].windings[w].tap = 1.0 + tap as f64 * step;
            let e = self.net.transformer_element[&tname];
            self.net.elements[e].y =
                transformer::transformer_y(&self.feeder.transformers[ti], &tname)?;
            changed.push(e);
        }
        let mut in_place = true;
        for k in 0..self.net.branches.len() {
            if self.net.branches[k]
                .elements
                .iter()
                .any(|e| changed.contains(e))
            {
                reduce::reduce_branch(&mut self.net, k)?;
                in_place &= ops::refresh_general(&self.net, k, &self.ops, &mut self.coef);
            }
        }
        if !in_place {
            (self.ops, self.coef, self.passed) = ops(&self.net, &self.passing);
        }
        Ok(())
    }

    /// Voltages with every load and capacitor off.
    fn no_load(&mut self) {
        self.v.iter_mut().for_each(|v| *v = C64::new(0.0, 0.0));
        self.set_source_pu(self.source_pu);
        self.j.iter_mut().for_each(|j| *j = C64::new(0.0, 0.0));
        self.forward();
        fill_passed(&self.passed, &mut self.v, &mut self.j);
    }

    /// Each bus takes the listed base nearest its no-load line-to-line voltage.
    fn assign_bases(&mut self) {
        let bases = &self.feeder.voltage_bases_kv;
        for (bi, b) in self.net.buses.iter_mut().enumerate() {
            let vmax = (0..b.nodes.len())
                .map(|k| self.v[b.offset + k].norm())
                .fold(0.0, f64::max);
            let kv = vmax * 3f64.sqrt() / 1000.0;
            b.kv_base = if bi == 0 {
                self.feeder.source.kv
            } else if bases.is_empty() || kv == 0.0 {
                kv
            } else {
                bases
                    .iter()
                    .copied()
                    .min_by(|a, c| (a - kv).abs().total_cmp(&(c - kv).abs()))
                    .unwrap_or(kv)
            };
            for k in 0..b.nodes.len() {
                self.inv_base[b.offset + k] = if b.kv_base > 0.0 {
                    3f64.sqrt() / (b.kv_base * 1000.0)
                } else {
                    0.0
                };
            }
        }
    }

    /// Solve the present time point from the previous solution, moving regulator taps until
    /// every enabled regulator is within its band. After a failure the state restarts from the
    /// no-load voltages, so one bad point does not poison the next warm start.
    pub fn solve(&mut self) -> Result<Solved, FeederError> {
        let r = self.try_solve();
        if r.is_err() {
            self.no_load();
        }
        r
    }

    fn try_solve(&mut self) -> Result<Solved, FeederError> {
        let mut solved = Solved {
            iterations: 0,
            tap_changes: 0,
            switchings: 0,
        };
        for _ in 0..32 {
            solved.iterations += self.sweep_to_convergence()?;
            let (taps, switchings) = self.control()?;
            if taps + switchings == 0 {
                return Ok(solved);
            }
            solved.tap_changes += taps;
            solved.switchings += switchings;
        }
        Err(FeederError::ControlsHunting {
            changes: solved.tap_changes + solved.switchings,
        })
    }

    fn sweep_to_convergence(&mut self) -> Result<usize, FeederError> {
        let mut delta = f64::INFINITY;
        self.accel.reset();
        for it in 1..=self.max_iterations {
            self.backward();
            self.accel.before(&self.v);
            delta = self.forward();
            if !delta.is_finite() {
                break;
            }
            if delta <= self.tolerance {
                fill_passed(&self.passed, &mut self.v, &mut self.j);
                return Ok(it);
            }
            self.accel.after(&mut self.v, &self.inv_base, delta);
        }
        Err(FeederError::NotConverged {
            iterations: self.max_iterations,
            mismatch_pu: delta,
        })
    }

    /// Currents drawn at every node (shunts), summed toward the source.
    fn backward(&mut self) {
        let j = &mut self.j;
        j.iter_mut().for_each(|x| *x = C64::new(0.0, 0.0));
        // Fixed admittances first, in tight loops of their own: they are most of the shunts
        // (line charging at every bus) and never change.
        for &(a, y) in &self.fixed_to_ground {
            j[a as usize] += y * self.v[a as usize];
        }
        for &(a, b, y) in &self.fixed_between {
            let i = y * (self.v[a as usize] - self.v[b as usize]);
            j[a as usize] += i;
            j[b as usize] -= i;
        }
        for &k in &self.varying {
            let s = &self.net.shunts[k as usize];
            let va = if s.a == GROUND {
                C64::new(0.0, 0.0)
            } else {
                self.v[s.a]
            };
            let vb = if s.b == GROUND {
                C64::new(0.0, 0.0)
            } else {
                self.v[s.b]
            };
            let i = match s.of {
                Shunt::Load(l) => load_current(s, &self.feeder.loads[l], self.load_s[l], va - vb),
                Shunt::Generator(g) => {
                    generator_current(s, &self.feeder.generators[g], self.gen_s[g], va - vb)
                }
                Shunt::Fixed | Shunt::Capacitor(_) => s.y * (va - vb),
            };
            if s.a != GROUND {
                j[s.a] += i;
            }
            if s.b != GROUND {
                j[s.b] -= i;
            }
        }
        for op in self.ops.iter().rev() {
            let br = match op {
                &Op::Line { n, p, c, .. } => {
                    for k in 0..n as usize {
                        let jc = j[c as usize + k];
                        j[p[k] as usize] += jc;
                    }
                    continue;
                }
                &Op::Balanced { p, c, .. } => {
                    for k in 0..3 {
                        let jc = j[c as usize + k];
                        j[p[k] as usize] += jc;
                    }
                    continue;
                }
                Op::General(g) => {
                    let (p, np, c, nc) = g.nodes();
                    let m = g.two_port(&self.coef);
                    let jc = general_child_current(j, &self.v, c, nc, m.yg);
                    for r in 0..np {
                        let mut s = C64::new(0.0, 0.0);
                        for (t, x) in m.t[r * nc..(r + 1) * nc].iter().zip(&jc) {
                            s += t * x;
                        }
                        for k in 0..np {
                            s += m.yoc[r * np + k] * self.v[p + k];
                        }
                        j[p + r] += s;
                    }
                    continue;
                }
                Op::Branch(k) => &self.net.branches[*k],
            };
            let (p, c) = (&self.net.buses[br.parent], &self.net.buses[br.child]);
            if let Kind::Series { pmap, .. } = &br.kind {
                for (k, &m) in pmap.iter().enumerate() {
                    let jc = j[c.offset + k];
                    j[p.offset + m] += jc;
                }
            }
        }
    }

    /// Voltages from the source outward; returns the largest change in pu.
    fn forward(&mut self) -> f64 {
        let mut worst = 0u64;
        for op in &self.ops {
            let br = match op {
                &Op::Line { n, p, c, at } => {
                    let (c, z) = (c as usize, &self.coef[at as usize..]);
                    let (v, j, b) = (&mut self.v, &self.j, &self.inv_base);
                    let d = match n {
                        3 => line_forward::<3, false>(v, j, b, &p, c, z),
                        2 => line_forward::<2, false>(v, j, b, &p, c, z),
                        _ => line_forward::<1, false>(v, j, b, &p, c, z),
                    };
                    worst = worst.max(d);
                    continue;
                }
                &Op::Balanced { p, c, at } => {
                    let (v, j, b) = (&mut self.v, &self.j, &self.inv_base);
                    let z = &self.coef[at as usize..];
                    worst = worst.max(line_forward::<3, true>(v, j, b, &p, c as usize, z));
                    continue;
                }
                Op::General(g) => {
                    let (p, np, c, nc) = g.nodes();
                    let m = g.two_port(&self.coef);
                    let jc = general_child_current(&self.j, &self.v, c, nc, m.yg);
                    let mut new = [C64::new(0.0, 0.0); MAX_NODES];
                    for (r, x) in new.iter_mut().enumerate().take(nc) {
                        let mut s = C64::new(0.0, 0.0);
                        for k in 0..np {
                            s += m.a[r * np + k] * self.v[p + k];
                        }
                        for (b, x) in m.b[r * nc..(r + 1) * nc].iter().zip(&jc) {
                            s -= b * x;
                        }
                        *x = s;
                    }
                    (c, nc, new)
                }
                Op::Branch(k) => {
                    let br = &self.net.branches[*k];
                    let (p, c) = (&self.net.buses[br.parent], &self.net.buses[br.child]);
                    let nc = c.nodes.len();
                    let mut new = [C64::new(0.0, 0.0); MAX_NODES];
                    if let Kind::Series { pmap, z } = &br.kind {
                        for r in 0..nc {
                            let mut s = self.v[p.offset + pmap[r]];
                            for k in 0..nc {
                                s -= z[r * nc + k] * self.j[c.offset + k];
                            }
                            new[r] = s;
                        }
                    }
                    (c.offset, nc, new)
                }
            };
            let (c, nc, new) = br;
            for (r, &x) in new.iter().enumerate().take(nc) {
                let g = c + r;
                worst = worst.max(change_bits(x, self.v[g], self.inv_base[g]));
                self.v[g] = x;
            }
        }
        f64::from_bits(worst).sqrt()
    }

    /// Every node's voltage to ground, source EMF excluded; dead buses read zero.
    pub fn voltages(&self) -> impl Iterator<Item = NodeVoltage> + '_ {
        self.net.buses.iter().skip(1).flat_map(move |b| {
            b.nodes.iter().enumerate().map(move |(k, &n)| {
                let v = self.v[b.offset + k];
                NodeVoltage {
                    bus: b.name.clone(),
                    node: n,
                    volts: v,
                    pu: v.norm() * self.inv_base[b.offset + k],
                }
            })
        })
    }

    /// One bus's node voltages (node number, volts), or `None` for an unknown bus.
    pub fn bus_voltages(&self, bus: &str) -> Option<Vec<(usize, C64)>> {
        self.per_node(bus, |g| self.v[g])
    }

    /// Per-unit magnitudes of one bus's nodes.
    pub fn bus_pu(&self, bus: &str) -> Option<Vec<(usize, f64)>> {
        self.per_node(bus, |g| self.v[g].norm() * self.inv_base[g])
    }

    /// The current entering each node of a bus from its parent branch (node number, A).
    pub fn bus_inflow(&self, bus: &str) -> Option<Vec<(usize, C64)>> {
        self.per_node(bus, |g| self.j[g])
    }

    /// `f` of each node of a bus (by its index in the solution), with the node number.
    fn per_node<T>(&self, bus: &str, f: impl Fn(usize) -> T) -> Option<Vec<(usize, T)>> {
        let b = &self.net.buses[self.bus_index(bus)?];
        Some(
            b.nodes
                .iter()
                .enumerate()
                .map(|(k, &n)| (n, f(b.offset + k)))
                .collect(),
        )
    }

    fn bus_index(&self, bus: &str) -> Option<usize> {
        self.net.bus_index.get(&bus.to_ascii_lowercase()).copied()
    }

    /// How many buses the feeder has, the source's internal EMF not counted.
    pub fn bus_count(&self) -> usize {
        self.net.buses.len() - 1
    }

    /// Phase voltages of a bus with nodes 1, 2 and 3, in that order.
    pub fn bus_abc(&self, bus: &str) -> Option<[C64; 3]> {
        let b = self.bus_index(bus)?;
        let k = self.abc_buses.binary_search_by_key(&b, |x| x.0).ok()?;
        Some(self.abc_buses[k].1.map(|g| self.v[g]))
    }

    /// Every bus with nodes 1, 2 and 3 and its phase voltages, source EMF excluded.
    pub fn three_phase_buses(&self) -> impl Iterator<Item = (&str, [C64; 3])> + '_ {
        self.abc_buses
            .iter()
            .map(|(b, g)| (self.net.buses[*b].name.as_str(), g.map(|g| self.v[g])))
    }

    /// For each load, the primary phase (1, 2 or 3) it draws from through a single-phase
    /// service transformer (a split-phase home behind its center-tapped unit), if the first
    /// transformer on its way to the source is one whose primary takes one phase.
    pub fn service_phases(&self) -> Vec<Option<usize>> {
        let net = &self.net;
        let mut up = vec![usize::MAX; net.buses.len()];
        for (k, br) in net.branches.iter().enumerate() {
            up[br.child] = k;
        }
        let transformer = net.transformer_mask();
        let primary_phase = |br: &network::Branch| -> Option<usize> {
            let (bus, k) = self.node_of(net.one_parent_node(br)?);
            Some(net.buses[bus].nodes[k]).filter(|n| (1..=3).contains(n))
        };
        self.load_shunts
            .iter()
            .map(|shunts| {
                let s = &net.shunts[*shunts.first()?];
                let (mut bus, _) = self.node_of(if s.a == GROUND { s.b } else { s.a });
                while let Some(br) = net.branches.get(up[bus]) {
                    if br.elements.iter().any(|&e| transformer[e]) {
                        return primary_phase(br);
                    }
                    bus = br.parent;
                }
                None
            })
            .collect()
    }

    /// The secondary bus of every transformer that is not a regulator, once each: where the
    /// homes' feeders start.
    pub fn head_buses(&self) -> Vec<String> {
        let f = self.feeder();
        let regulated: Vec<String> = f
            .regulators
            .iter()
            .map(|r| r.transformer.to_ascii_lowercase())
            .collect();
        let mut out: Vec<String> = Vec::new();
        for t in &f.transformers {
            if regulated.contains(&t.name.to_ascii_lowercase()) {
                continue;
            }
            let Some(w) = t.windings.get(1) else { continue };
            let Ok((bus, _)) = split_terminal(&w.bus) else {
                continue;
            };
            if self.bus_inflow(&bus).is_some() && !out.contains(&bus) {
                out.push(bus);
            }
        }
        out
    }

    pub fn feeder(&self) -> &Feeder {
        &self.feeder
    }

    /// A load's node, voltage and power in the present solution.
    pub fn load_state(&self, load: usize) -> LoadState {
        let volt = |g: usize| {
            if g == GROUND {
                C64::new(0.0, 0.0)
            } else {
                self.v[g]
            }
        };
        let mut out = LoadState {
            node: 0,
            v_pu: 0.0,
            s: C64::new(0.0, 0.0),
        };
        for sh in self.load_shunts[load].iter().map(|&k| &self.net.shunts[k]) {
            let v = volt(sh.a) - volt(sh.b);
            let i = load_current(sh, &self.feeder.loads[load], self.load_s[load], v);
            out.s += v * i.conj();
            if out.node == 0 {
                let (bus, k) = self.node_of(sh.a);
                out.node = self.net.buses[bus].nodes[k];
                // A phase-to-phase load is rated on the line-to-line voltage.
                let ll = if sh.b == GROUND { 1.0 } else { 3f64.sqrt() };
                out.v_pu = v.norm() * self.inv_base[sh.a] / ll;
            }
        }
        out
    }

    /// The bus and the position within it of a global node index.
    fn node_of(&self, g: usize) -> (usize, usize) {
        let b = self
            .net
            .buses
            .partition_point(|b| b.offset <= g)
            .saturating_sub(1);
        (b, g - self.net.buses[b].offset)
    }

    /// Line-to-line kV base of a bus.
    pub fn kv_base(&self, bus: &str) -> Option<f64> {
        Some(self.net.buses[self.bus_index(bus)?].kv_base)
    }

    /// Complex power the source delivers into its bus (W + j var).
    pub fn source_power(&self) -> C64 {
        let br = &self.net.branches[0];
        let c = &self.net.buses[br.child];
        (0..c.nodes.len())
            .map(|k| self.v[c.offset + k] * self.j[c.offset + k].conj())
            .sum()
    }
}

/// Each element's shape (index into `Feeder::load_shapes`); one it names but the feeder lacks
/// is an error that says which.
fn shape_indices<'a>(
    f: &Feeder,
    elements: impl Iterator<Item = (&'a str, &'a String, &'a Option<String>)>,
) -> Result<Vec<Option<usize>>, FeederError> {
    elements
        .map(|(what, name, shape)| match shape.as_deref() {
            None => Ok(None),
            Some(s) => f
                .load_shape_index(s)
                .map(Some)
                .ok_or_else(|| FeederError::Model(format!("{what} {name}: no load shape `{s}`"))),
        })
        .collect()
}

/// Each regulator's transformer and its present tap (steps from neutral).
fn regulated_windings(f: &Feeder) -> Result<(Vec<usize>, Vec<i32>), FeederError> {
    f.regulators
        .iter()
        .map(|r| {
            let ti = f
                .transformers
                .iter()
                .position(|t| t.name.eq_ignore_ascii_case(&r.transformer))
                .ok_or_else(|| {
                    FeederError::Model(format!(
                        "regulator {}: no transformer `{}`",
                        r.name, r.transformer
                    ))
                })?;
            let t = &f.transformers[ti];
            let w = t.windings.get(r.winding.wrapping_sub(1)).ok_or_else(|| {
                FeederError::Model(format!(
                    "regulator {}: transformer {} has no winding {}",
                    r.name, t.name, r.winding
                ))
            })?;
            Ok((ti, ((w.tap - 1.0) / r.tap_step).round() as i32))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(|v| v.into_iter().unzip())
}
