//! The feeder compiled for solving: buses and their nodes, the tree of branches seen from the
//! source, each branch reduced to the two-port matrices a backward/forward sweep needs, and the
//! shunt elements (loads, capacitors) hung on nodes.
//!
//! Every series element is first written as its primitive admittance over its conductors (as
//! OpenDSS does), so one code path serves lines, every transformer connection and banks of
//! single-phase units; a branch is all elements between one pair of buses.

use std::collections::HashMap;
use std::f64::consts::PI;

use nalgebra::DMatrix;
use num_complex::Complex64 as C64;

use super::FeederError;
use super::model::{Conn, Feeder, split_terminal};
use super::transformer::transformer_y;

/// Node index of ground: not a variable.
pub const GROUND: usize = usize::MAX;
/// Most nodes one bus may have.
pub const MAX_NODES: usize = 8;

#[derive(Debug, Clone)]
pub struct Bus {
    pub name: String,
    /// Node numbers (1, 2, 3, 4 …), sorted.
    pub nodes: Vec<usize>,
    /// Index of the first node in the solution vector.
    pub offset: usize,
    /// Line-to-line kV base (0 until assigned).
    pub kv_base: f64,
}

/// A branch from `parent` to `child`: V_c = A·V_p − B·J_c and J_p += T·J_c + Y_oc·V_p,
/// where J is the current a bus draws (into its shunts and subtree).
#[derive(Debug, Clone)]
pub struct Branch {
    pub parent: usize,
    pub child: usize,
    pub kind: Kind,
    /// Series elements that make up this branch (indices into `Network::elements`).
    pub elements: Vec<usize>,
    /// What holds its child to ground from below (`reduce::ground_admittances`).
    pub ground_y: C64,
}

#[derive(Debug, Clone)]
pub enum Kind {
    /// A plain series impedance between matching nodes: A = T = identity (through `pmap`,
    /// the parent node feeding each child node), Y_oc = 0, B = Z.
    Series { pmap: Vec<usize>, z: Vec<C64> },
    /// V_c = A·V_p − B·(J_c − Y_g·V_c), J_p += T·(J_c − Y_g·V_c) + Y_oc·V_p. `yg` is empty
    /// unless the child floats (a delta winding with no ground of its own): then it stands
    /// for the child subtree's admittance to ground, added to Y_cc so that B exists and
    /// taken back out through the child's voltage, exact once converged.
    General {
        a: Vec<C64>,
        b: Vec<C64>,
        t: Vec<C64>,
        yoc: Vec<C64>,
        yg: Vec<C64>,
    },
}

/// A series element as conductors (global node index or `GROUND`) and their admittance.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub buses: [usize; 2],
    /// Conductors of terminal 1 then terminal 2.
    pub conductors: Vec<usize>,
    pub n1: usize,
    pub y: DMatrix<C64>,
    /// A line or series reactor: its series impedance, conductor by conductor.
    pub z: Option<DMatrix<C64>>,
    /// A line's shunt admittance at each end, carried by the sweep as shunts on its buses; kept
    /// here for what a meter at its terminal reads.
    pub shunt: Option<DMatrix<C64>>,
}

/// What a shunt phase belongs to (indices into the feeder's lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shunt {
    /// A fixed admittance: line charging, a reactor.
    Fixed,
    Load(usize),
    Capacitor(usize),
    Generator(usize),
}

/// One phase of a shunt element: a two-terminal admittance or load between nodes `a` and `b`.
#[derive(Debug, Clone, Copy)]
pub struct ShuntPhase {
    pub a: usize,
    pub b: usize,
    pub of: Shunt,
    /// Rated voltage across the element, volts.
    pub vbase: f64,
    /// Admittance: a capacitor's (zero while it is switched off) or a fixed one's, or a load's
    /// at its rating (which only tells how a floating system is held to ground; the sweep uses
    /// the load's model); zero for a generator.
    pub y: C64,
}

#[derive(Debug, Clone)]
pub struct Network {
    pub buses: Vec<Bus>,
    pub bus_index: HashMap<String, usize>,
    pub n_nodes: usize,
    /// Bus 0 is the source's internal EMF; branches are in breadth-first order from it.
    pub branches: Vec<Branch>,
    pub elements: Vec<Element>,
    pub shunts: Vec<ShuntPhase>,
    /// The source EMF on the nodes of bus 0.
    pub emf: Vec<C64>,
    /// Transformer name → element index.
    pub transformer_element: HashMap<String, usize>,
}

impl Network {
    /// Whether each element (by index) is a transformer.
    pub fn transformer_mask(&self) -> Vec<bool> {
        let mut mask = vec![false; self.elements.len()];
        for &e in self.transformer_element.values() {
            mask[e] = true;
        }
        mask
    }

    /// The bus of each node.
    pub fn node_buses(&self) -> Vec<usize> {
        let mut out = vec![0; self.n_nodes];
        for (b, bus) in self.buses.iter().enumerate() {
            out[bus.offset..bus.offset + bus.nodes.len()].fill(b);
        }
        out
    }

    /// Whether each bus has a shunt (a load, capacitor, generator or line charging) on a node.
    pub fn hung_buses(&self) -> Vec<bool> {
        let node_bus = self.node_buses();
        let mut hung = vec![false; self.buses.len()];
        for s in &self.shunts {
            for g in [s.a, s.b].into_iter().filter(|&g| g != GROUND) {
                hung[node_bus[g]] = true;
            }
        }
        hung
    }

    /// The one node of its parent a branch takes (a single-phase line, or a single-phase
    /// transformer's primary wired to ground), if it takes one.
    pub fn one_parent_node(&self, br: &Branch) -> Option<usize> {
        let [e] = br.elements[..] else { return None };
        let e = &self.elements[e];
        let near = if e.buses[0] == br.parent {
            &e.conductors[..e.n1]
        } else {
            &e.conductors[e.n1..]
        };
        let mut live = near.iter().copied().filter(|&g| g != GROUND);
        let g = live.next()?;
        live.next().is_none().then_some(g)
    }

    pub fn node(&self, bus: usize, node: usize) -> Option<usize> {
        let b = &self.buses[bus];
        b.nodes
            .iter()
            .position(|&n| n == node)
            .map(|k| b.offset + k)
    }
}

/// Node numbers per conductor: those given, then phases 1.., then ground for the rest.
fn conductor_nodes(given: &[usize], phases: usize, conductors: usize) -> Vec<usize> {
    (0..conductors)
        .map(|k| match given.get(k) {
            Some(&n) => n,
            None if k < phases => k + 1,
            None => 0,
        })
        .collect()
}

struct Builder {
    buses: Vec<Bus>,
    index: HashMap<String, usize>,
}

impl Builder {
    fn bus(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.buses.push(Bus {
            name: name.to_string(),
            nodes: vec![],
            offset: 0,
            kv_base: 0.0,
        });
        self.index.insert(name.to_string(), self.buses.len() - 1);
        self.buses.len() - 1
    }

    /// Register a terminal: its bus and the node of each conductor (0 = ground).
    fn terminal(
        &mut self,
        what: &str,
        spec: &str,
        phases: usize,
        conductors: usize,
    ) -> Result<(usize, Vec<usize>), FeederError> {
        let (name, given) =
            split_terminal(spec).map_err(|m| FeederError::Model(format!("{what}: {m}")))?;
        if given.len() > conductors {
            return Err(FeederError::Model(format!(
                "{what}: terminal `{spec}` lists {} nodes for {conductors} conductors",
                given.len()
            )));
        }
        let nodes = conductor_nodes(&given, phases, conductors);
        let b = self.bus(&name);
        for &n in &nodes {
            if n != 0 && !self.buses[b].nodes.contains(&n) {
                self.buses[b].nodes.push(n);
            }
        }
        Ok((b, nodes))
    }
}

fn mat(rows: &[Vec<f64>], n: usize, what: &str) -> Result<DMatrix<f64>, FeederError> {
    if rows.len() != n || rows.iter().any(|r| r.len() != n) {
        return Err(FeederError::Model(format!("{what}: matrix is not {n}×{n}")));
    }
    Ok(DMatrix::from_fn(n, n, |i, j| rows[i][j]))
}

fn invert(m: &DMatrix<C64>, what: &str) -> Result<DMatrix<C64>, FeederError> {
    m.clone()
        .try_inverse()
        .filter(|i| i.iter().all(|x| x.is_finite()))
        .ok_or_else(|| FeederError::Model(format!("{what}: singular impedance")))
}

/// Sequence impedances → phase matrix.
pub fn sequence_to_phase(z1: C64, z0: C64, n: usize) -> DMatrix<C64> {
    let (s, m) = ((2.0 * z1 + z0) / 3.0, (z0 - z1) / 3.0);
    DMatrix::from_fn(n, n, |i, j| if i == j { s } else { m })
}

/// The feeder as buses, elements, shunts and the tree from the source; each branch still to be
/// reduced to its two-port (`reduce::reduce_branch`).
pub fn compile(f: &Feeder) -> Result<Network, FeederError> {
    let mut bld = Builder {
        buses: vec![],
        index: HashMap::new(),
    };
    // Bus 0: the source EMF, three nodes.
    bld.buses.push(Bus {
        name: String::new(),
        nodes: vec![1, 2, 3],
        offset: 0,
        kv_base: f.source.kv,
    });
    let mut elements = Vec::new();
    let w = 2.0 * PI * f.frequency_hz;

    // Source impedance from the EMF to the source bus.
    {
        let (b, nodes) = bld.terminal("source", &f.source.bus, 3, 3)?;
        let z1 = C64::new(f.source.z1.r, f.source.z1.x);
        let z0 = C64::new(f.source.z0.r, f.source.z0.x);
        let z = sequence_to_phase(z1, z0, 3);
        let y = invert(&z, "source")?;
        let mut conductors = vec![1, 2, 3];
        conductors.extend(nodes);
        elements.push(Element {
            name: "source".into(),
            buses: [0, b],
            conductors,
            n1: 3,
            y: two_port(&y),
            z: Some(z),
            shunt: None,
        });
    }

    let codes: HashMap<String, usize> = f
        .line_codes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.to_ascii_lowercase(), i))
        .collect();
    let mut line_shunts = Vec::new();
    for l in &f.lines {
        let what = format!("line {}", l.name);
        let code = codes
            .get(&l.code.to_ascii_lowercase())
            .map(|&i| &f.line_codes[i])
            .ok_or_else(|| FeederError::Model(format!("{what}: no line code `{}`", l.code)))?;
        let n = code.phases;
        let (b1, n1) = bld.terminal(&what, &l.bus1, n, n)?;
        let (b2, n2) = bld.terminal(&what, &l.bus2, n, n)?;
        if !l.closed {
            continue;
        }
        let r = mat(&code.r_ohm_per_km, n, &what)?;
        let x = mat(&code.x_ohm_per_km, n, &what)?;
        let z = DMatrix::from_fn(n, n, |i, j| C64::new(r[(i, j)], x[(i, j)]) * l.length_km);
        let y = invert(&z, &what)?;
        let shunt = if code.c_nf_per_km.is_empty() {
            None
        } else {
            let c = mat(&code.c_nf_per_km, n, &what)?;
            let yc = DMatrix::from_fn(n, n, |i, j| {
                C64::new(0.0, w * c[(i, j)] * 1e-9 * l.length_km / 2.0)
            });
            (yc.iter().any(|v| v.norm() > 0.0)).then_some(yc)
        };
        // The π model's shunt halves are shunts on the two buses, so that the line itself is a
        // bare impedance the sweep takes in its fast path.
        if let Some(yc) = &shunt {
            for (b, nodes) in [(b1, &n1), (b2, &n2)] {
                for i in 0..n {
                    line_shunts.push((b, nodes[i], 0, (0..n).map(|j| yc[(i, j)]).sum()));
                    for j in i + 1..n {
                        line_shunts.push((b, nodes[i], nodes[j], -yc[(i, j)]));
                    }
                }
            }
        }
        let mut conductors = n1;
        conductors.extend(n2);
        elements.push(Element {
            name: what,
            buses: [b1, b2],
            conductors,
            n1: n,
            y: two_port(&y),
            z: Some(z),
            shunt,
        });
    }

    let mut transformer_element = HashMap::new();
    for t in &f.transformers {
        let what = format!("transformer {}", t.name);
        // Regulators and taps find a transformer by name, and read its winding's conductors.
        if transformer_element.contains_key(&t.name.to_ascii_lowercase()) {
            return Err(FeederError::Model(format!("{what}: named twice")));
        }
        if t.phases == 0 {
            return Err(FeederError::Model(format!("{what}: no phases")));
        }
        let n = t.windings.len();
        if !(n == 2 || n == 3 && same_bus(&t.windings[1].bus, &t.windings[2].bus)) {
            return Err(FeederError::Model(format!(
                "{what}: {n} windings; two are modelled, or three whose second and third share a \
                 bus (a center-tapped unit)"
            )));
        }
        let nc = t.phases + 1;
        let (b1, c1) = bld.terminal(&what, &t.windings[0].bus, t.phases, nc)?;
        let mut conductors = c1;
        let mut b2 = b1;
        for w in &t.windings[1..] {
            let (b, c) = bld.terminal(&what, &w.bus, t.phases, nc)?;
            b2 = b;
            conductors.extend(c);
        }
        let y = transformer_y(t, &what)?;
        transformer_element.insert(t.name.to_ascii_lowercase(), elements.len());
        elements.push(Element {
            name: what,
            buses: [b1, b2],
            conductors,
            n1: nc,
            y,
            z: None,
            shunt: None,
        });
    }

    // A series reactor is a bare impedance between its buses, phase by phase.
    let series = |r: &super::model::Reactor| {
        r.bus2
            .as_deref()
            .filter(|b2| !same_bus(&r.bus1, b2))
            .map(|b2| b2.to_string())
    };
    let reactor_z = |r: &super::model::Reactor, what: &str| {
        let z = C64::new(r.r_ohm, r.x_ohm);
        if r.phases == 0 || !z.is_finite() || z.norm() == 0.0 {
            return Err(FeederError::Model(format!(
                "{what}: needs phases and a non-zero, finite impedance"
            )));
        }
        Ok(z)
    };
    for r in &f.reactors {
        let what = format!("reactor {}", r.name);
        let z = reactor_z(r, &what)?;
        let Some(bus2) = series(r) else { continue };
        let n = r.phases;
        let (b1, n1) = bld.terminal(&what, &r.bus1, n, n)?;
        let (b2, n2) = bld.terminal(&what, &bus2, n, n)?;
        let z = DMatrix::from_diagonal_element(n, n, z);
        let y = invert(&z, &what)?;
        let mut conductors = n1;
        conductors.extend(n2);
        elements.push(Element {
            name: what,
            buses: [b1, b2],
            conductors,
            n1: n,
            y: two_port(&y),
            z: Some(z),
            shunt: None,
        });
    }

    // Shunts: registered now so that their nodes exist; resolved to global nodes below.
    let mut raw_shunts = Vec::new();
    // A load's or generator's phases across its bus's nodes, each rated `vbase`.
    let mut shunt_element =
        |what: String, bus: &str, conn, phases, kv, of, y: &dyn Fn(f64) -> C64| {
            let (conds, vbase) = shunt_terminal(conn, phases, kv);
            let (b, nodes) = bld.terminal(&what, bus, phases, conds)?;
            if vbase.is_nan() || vbase <= 0.0 {
                return Err(FeederError::Model(format!("{what}: kV must be positive")));
            }
            for (x, yy) in phase_pairs(conn, phases) {
                raw_shunts.push((b, nodes[x], nodes[yy], of, vbase, y(vbase)));
            }
            Ok(())
        };
    for (i, l) in f.loads.iter().enumerate() {
        let y = |vbase: f64| l.va_per_phase().conj() / (vbase * vbase);
        let what = format!("load {}", l.name);
        shunt_element(what, &l.bus, l.conn, l.phases, l.kv, Shunt::Load(i), &y)?;
    }
    for (i, g) in f.generators.iter().enumerate() {
        let what = format!("generator {}", g.name);
        let none = |_| C64::new(0.0, 0.0);
        shunt_element(
            what,
            &g.bus,
            g.conn,
            g.phases,
            g.kv,
            Shunt::Generator(i),
            &none,
        )?;
    }
    for (i, c) in f.capacitors.iter().enumerate() {
        let what = format!("capacitor {}", c.name);
        let (conds, vbase) = shunt_terminal(c.conn, c.phases, c.kv);
        let (b, nodes) = bld.terminal(&what, &c.bus, c.phases, conds)?;
        let y = capacitor_y(c, vbase);
        for (x, yy) in phase_pairs(c.conn, c.phases) {
            raw_shunts.push((b, nodes[x], nodes[yy], Shunt::Capacitor(i), vbase, y));
        }
    }

    // A shunt reactor from each node of bus1 to the matching node of bus2 (ground unless
    // given: a grounding reactor names the neutral and node 0).
    for r in f.reactors.iter().filter(|r| series(r).is_none()) {
        let what = format!("reactor {}", r.name);
        let y = 1.0 / reactor_z(r, &what)?;
        let (b, from) = bld.terminal(&what, &r.bus1, r.phases, r.phases)?;
        let to = match &r.bus2 {
            Some(b2) => bld.terminal(&what, b2, r.phases, r.phases)?.1,
            None => vec![0; r.phases],
        };
        for (&x, &yy) in from.iter().zip(&to) {
            raw_shunts.push((b, x, yy, Shunt::Fixed, 0.0, y));
        }
    }

    for (b, x, y, yy) in line_shunts {
        raw_shunts.push((b, x, y, Shunt::Fixed, 0.0, yy));
    }

    // Number the nodes.
    let mut offset = 0;
    for b in &mut bld.buses {
        if b.nodes.len() > MAX_NODES {
            return Err(FeederError::Model(format!(
                "bus {} has {} nodes; at most {MAX_NODES}",
                b.name,
                b.nodes.len()
            )));
        }
        if !b.name.is_empty() {
            b.nodes.sort_unstable();
        }
        b.offset = offset;
        offset += b.nodes.len();
    }
    let buses = bld.buses;
    let global = |bus: usize, node: usize| -> usize {
        if node == 0 {
            GROUND
        } else {
            let b = &buses[bus];
            b.offset + b.nodes.iter().position(|&n| n == node).expect("registered")
        }
    };
    // Conductors were bus node numbers until now; from here they index the solution vector.
    for e in &mut elements {
        let n1 = e.n1;
        for (k, c) in e.conductors.iter_mut().enumerate() {
            *c = global(e.buses[usize::from(k >= n1)], *c);
        }
    }
    let mut shunts: Vec<ShuntPhase> = Vec::with_capacity(raw_shunts.len());
    // Fixed admittances (line charging, reactors) between the same two nodes are one shunt.
    let mut fixed: HashMap<(usize, usize), usize> = HashMap::new();
    for (b, x, y, of, vbase, yy) in raw_shunts.into_iter().filter(|r| r.1 != r.2) {
        let (ga, gb) = (global(b, x), global(b, y));
        // Ground, when it is an end, is `b`.
        let (ga, gb) = if ga == GROUND { (gb, ga) } else { (ga, gb) };
        if of == Shunt::Fixed {
            let key = (ga.min(gb), ga.max(gb));
            if let Some(&k) = fixed.get(&key) {
                shunts[k].y += yy;
                continue;
            }
            fixed.insert(key, shunts.len());
        }
        shunts.push(ShuntPhase {
            a: ga,
            b: gb,
            of,
            vbase,
            y: yy,
        });
    }

    let branches = tree(&buses, &elements)?;
    let emf = (0..3)
        .map(|k| {
            C64::from_polar(
                f.source.pu * f.source.kv * 1000.0 / 3f64.sqrt(),
                (f.source.angle_deg - 120.0 * k as f64).to_radians(),
            )
        })
        .collect();
    Ok(Network {
        bus_index: bld.index,
        n_nodes: offset,
        buses,
        branches,
        elements,
        shunts,
        emf,
        transformer_element,
    })
}

/// A shunt element's conductor count and the rated volts across each of its phases: a
/// polyphase delta has no neutral conductor, a polyphase wye is rated line-to-line.
fn shunt_terminal(conn: Conn, phases: usize, kv: f64) -> (usize, f64) {
    match conn {
        Conn::Delta if phases > 1 => (phases, kv * 1000.0),
        Conn::Wye if phases > 1 => (phases + 1, kv * 1000.0 / 3f64.sqrt()),
        _ => (phases + 1, kv * 1000.0),
    }
}

/// Conductor pairs each phase of a shunt element sits across.
fn phase_pairs(conn: Conn, phases: usize) -> Vec<(usize, usize)> {
    match conn {
        Conn::Wye => (0..phases).map(|k| (k, phases)).collect(),
        Conn::Delta if phases == 1 => vec![(0, 1)],
        Conn::Delta => (0..phases).map(|k| (k, (k + 1) % phases)).collect(),
    }
}

/// A series admittance between two terminals: [[Y, −Y], [−Y, Y]].
fn two_port(y: &DMatrix<C64>) -> DMatrix<C64> {
    let n = y.nrows();
    let mut p = DMatrix::zeros(2 * n, 2 * n);
    for i in 0..n {
        for j in 0..n {
            p[(i, j)] = y[(i, j)];
            p[(n + i, n + j)] = y[(i, j)];
            p[(i, n + j)] = -y[(i, j)];
            p[(n + i, j)] = -y[(i, j)];
        }
    }
    p
}

/// Orient the bus graph from the source: breadth-first, one branch per parent–child pair
/// (parallel elements between the same two buses join one branch). A loop is an error.
fn tree(buses: &[Bus], elements: &[Element]) -> Result<Vec<Branch>, FeederError> {
    let mut adj: Vec<Vec<usize>> = vec![vec![]; buses.len()];
    for (k, e) in elements.iter().enumerate() {
        if e.buses[0] == e.buses[1] {
            return Err(FeederError::Model(format!(
                "{}: both ends on bus {}",
                e.name, buses[e.buses[0]].name
            )));
        }
        adj[e.buses[0]].push(k);
        adj[e.buses[1]].push(k);
    }
    let mut parent: Vec<Option<usize>> = vec![None; buses.len()];
    let mut seen = vec![false; buses.len()];
    seen[0] = true;
    let mut queue = std::collections::VecDeque::from([0usize]);
    let mut branches: Vec<Branch> = Vec::new();
    let mut branch_of: HashMap<(usize, usize), usize> = HashMap::new();
    while let Some(b) = queue.pop_front() {
        for &k in &adj[b] {
            let e = &elements[k];
            let other = if e.buses[0] == b {
                e.buses[1]
            } else {
                e.buses[0]
            };
            if parent[b] == Some(other) {
                // Parallel element back to the parent: already in that branch.
                continue;
            }
            if let Some(&br) = branch_of.get(&(b, other)) {
                if !branches[br].elements.contains(&k) {
                    branches[br].elements.push(k);
                }
                continue;
            }
            if seen[other] {
                return Err(FeederError::Model(format!(
                    "{} closes a loop at bus {}; only radial feeders are solved",
                    e.name, buses[other].name
                )));
            }
            seen[other] = true;
            parent[other] = Some(b);
            branch_of.insert((b, other), branches.len());
            branches.push(Branch {
                parent: b,
                child: other,
                kind: Kind::Series {
                    pmap: vec![],
                    z: vec![],
                },
                elements: vec![k],
                ground_y: C64::new(0.0, 0.0),
            });
            queue.push_back(other);
        }
    }
    // Buses not reached (behind an open switch) stay at zero volts.
    Ok(branches)
}

/// A capacitor phase's admittance across `vbase` volts: nothing while it is switched off.
pub fn capacitor_y(c: &super::model::Capacitor, vbase: f64) -> C64 {
    if c.closed {
        C64::new(0.0, c.kvar * 1000.0 / c.phases as f64 / (vbase * vbase))
    } else {
        C64::new(0.0, 0.0)
    }
}

/// Whether two terminal specs name one bus (`b.1.0` and `b.0.2` do).
fn same_bus(a: &str, b: &str) -> bool {
    let name = |s: &str| split_terminal(s).map(|(n, _)| n.to_ascii_lowercase()).ok();
    name(a) == name(b)
}
