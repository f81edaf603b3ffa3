//! A feeder's head and its single-phase laterals as the solution sees them. A lateral is a line
//! that leaves a three-phase bus on one phase, with everything below it; moving its tap to
//! another phase of the bus (re-phasing) is how a utility balances a feeder, and which ones to
//! move is `gridtwin rephase`.

use num_complex::Complex64 as C64;

use super::PowerFlow;
use crate::feeder::model::{Feeder, split_terminal};
use crate::feeder::network::Shunt;

/// Where the feeder's phases are balanced: the first bus below the source at which it branches
/// or anything hangs (below the substation transformer and its regulators), and what enters it.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub bus: String,
    /// Power into each phase (nodes 1, 2, 3), W + j var.
    pub s: [C64; 3],
    /// Current into each phase, A.
    pub amps: [f64; 3],
}

/// One single-phase lateral.
#[derive(Debug, Clone, PartialEq)]
pub struct Lateral {
    /// The line that taps it, and the three-phase bus it taps.
    pub line: String,
    pub bus: String,
    /// The phase it is tapped on: 1, 2 or 3.
    pub phase: usize,
    /// Power into it at its tap, W + j var.
    pub s: C64,
    /// The current into it, as the head carries it (referred to the head's voltage base: the
    /// same amperes unless a transformer lies between), A.
    pub amps: f64,
    /// Loads below it.
    pub loads: usize,
    /// Only lines and regulators lie between its tap and the head, so that moving it moves its
    /// power from one phase of the head to another (behind a delta-wye transformer it would
    /// not).
    pub movable: bool,
}

impl PowerFlow {
    /// The head, if the feeder has one with three phases.
    pub fn head(&self) -> Option<Head> {
        let b = self.head_bus()?;
        let bus = &self.net.buses[b];
        let mut head = Head {
            bus: bus.name.clone(),
            s: [C64::new(0.0, 0.0); 3],
            amps: [0.0; 3],
        };
        for p in 0..3 {
            let g = bus.offset + bus.nodes.iter().position(|&n| n == p + 1)?;
            head.s[p] = self.v[g] * self.j[g].conj();
            head.amps[p] = self.j[g].norm();
        }
        Some(head)
    }

    fn head_bus(&self) -> Option<usize> {
        let net = &self.net;
        let mut out = vec![0usize; net.buses.len()];
        let mut next = vec![None; net.buses.len()];
        for br in &net.branches {
            out[br.parent] += 1;
            next[br.parent] = Some(br.child);
        }
        let hung = net.hung_buses();
        let mut b = next[0]?;
        while out[b] == 1 && !hung[b] {
            b = next[b]?;
        }
        let nodes = &net.buses[b].nodes;
        (1..=3).all(|n| nodes.contains(&n)).then_some(b)
    }

    /// Every single-phase lateral, in the feeder's order.
    pub fn laterals(&self) -> Vec<Lateral> {
        let net = &self.net;
        let Some(head) = self.head_bus() else {
            return vec![];
        };
        let head_base = self.inv_base[net.buses[head].offset];
        let transformer = net.transformer_mask();
        let mut regulator = vec![false; net.elements.len()];
        for &t in &self.reg_transformer {
            let name = self.feeder.transformers[t].name.to_ascii_lowercase();
            regulator[net.transformer_element[&name]] = true;
        }
        // Branches run breadth-first from the source: a parent is settled before its child.
        let mut below_head = vec![false; net.buses.len()];
        let mut clear = vec![false; net.buses.len()];
        below_head[head] = true;
        clear[head] = true;
        let mut lateral_of = vec![None; net.buses.len()];
        let mut laterals = vec![];
        for br in &net.branches {
            let (p, c) = (br.parent, br.child);
            if !below_head[p] {
                continue;
            }
            below_head[c] = true;
            clear[c] = clear[p] && br.elements.iter().all(|&e| !transformer[e] || regulator[e]);
            lateral_of[c] = lateral_of[p];
            let (pb, cb) = (&net.buses[p], &net.buses[c]);
            let three = (1..=3).all(|n| pb.nodes.contains(&n));
            let Some(line) = br.elements[..]
                .first()
                .and_then(|&e| net.elements[e].name.strip_prefix("line "))
            else {
                continue;
            };
            let Some(g) = net.one_parent_node(br) else {
                continue;
            };
            let phase = pb.nodes[g - pb.offset];
            if !three || cb.nodes.len() != 1 || !(1..=3).contains(&phase) {
                continue;
            }
            lateral_of[c] = Some(laterals.len());
            laterals.push(Lateral {
                line: line.to_string(),
                bus: pb.name.clone(),
                phase,
                s: self.v[g] * self.j[cb.offset].conj(),
                amps: self.j[cb.offset].norm() * head_base / self.inv_base[g],
                loads: 0,
                movable: clear[p],
            });
        }
        let node_bus = net.node_buses();
        for shunts in &self.load_shunts {
            let Some(&k) = shunts.first() else { continue };
            let s = &net.shunts[k];
            debug_assert!(matches!(s.of, Shunt::Load(_)));
            if let Some(l) = lateral_of[node_bus[s.a]] {
                laterals[l].loads += 1;
            }
        }
        laterals
    }
}

/// Move a lateral: its line's terminal on `bus` to `phase` of that bus.
pub fn rephase(f: &mut Feeder, line: &str, bus: &str, phase: usize) -> Result<(), String> {
    if !(1..=3).contains(&phase) {
        return Err(format!("line {line}: phase {phase} is not 1, 2 or 3"));
    }
    let l = f
        .lines
        .iter_mut()
        .find(|l| l.name.eq_ignore_ascii_case(line))
        .ok_or_else(|| format!("no line {line}"))?;
    for terminal in [&mut l.bus1, &mut l.bus2] {
        let (name, nodes) = split_terminal(terminal)?;
        if name.eq_ignore_ascii_case(bus) {
            if nodes.len() > 1 {
                return Err(format!(
                    "line {line}: `{terminal}` is not a one-phase tap on {bus}"
                ));
            }
            *terminal = format!("{name}.{phase}");
            return Ok(());
        }
    }
    Err(format!("line {line} does not end on bus {bus}"))
}
