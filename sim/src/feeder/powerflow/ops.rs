//! The sweep's ops: each branch flattened for speed, plain lines inline and every general
//! branch's two-port in one array in sweep order, so that a sweep streams through them.

use num_complex::Complex64 as C64;

use crate::feeder::network::{Kind, MAX_NODES, Network};

/// One branch of the sweep.
pub(super) enum Op {
    /// A line of `n` ≤ 3 conductors: parent node of each child node, first child node, and
    /// where its impedance (n × n, row by row) starts in `PowerFlow::coef`. Small, so that the
    /// sweep streams through the ops.
    Line { n: u8, p: [u32; 3], c: u32, at: u32 },
    /// A three-conductor line whose impedance has one self and one mutual term (a cable given
    /// by its sequence impedances, as most are): `at` holds self − mutual, then mutual, so its
    /// drop takes four products instead of nine.
    Balanced { p: [u32; 3], c: u32, at: u32 },
    /// A branch through a transformer or of parallel elements.
    General(GeneralOp),
    /// Any other branch, by index.
    Branch(usize),
}

/// A node's change between sweeps, squared in pu, as the bits of the (non-negative) float:
/// they order as the numbers do, a NaN above them all, and an integer max costs less than a
/// float one in the sweep's inner loop.
#[inline(always)]
pub(super) fn change_bits(new: C64, old: C64, inv_base: f64) -> u64 {
    ((new - old).norm_sqr() * inv_base * inv_base).to_bits()
}

/// A line's child voltages from its parent's, less its drop; the largest change (squared, in
/// pu, as `change_bits`). `z` as `drops` takes it.
#[inline(always)]
pub(super) fn line_forward<const N: usize, const BALANCED: bool>(
    v: &mut [C64],
    j: &[C64],
    inv_base: &[f64],
    p: &[u32; 3],
    c: usize,
    z: &[C64],
) -> u64 {
    let mut jc = [C64::new(0.0, 0.0); N];
    jc.copy_from_slice(&j[c..c + N]);
    let d = drops::<N, BALANCED>(z, &jc);
    let mut worst = 0u64;
    for r in 0..N {
        let x = v[p[r] as usize] - d[r];
        let g = c + r;
        worst = worst.max(change_bits(x, v[g], inv_base[g]));
        v[g] = x;
    }
    worst
}

/// A line's drop on each conductor for currents `jc`: `z` is its N × N impedance, row by row,
/// or if `BALANCED` its self − mutual and mutual terms (see `Op::Balanced`).
#[inline(always)]
fn drops<const N: usize, const BALANCED: bool>(z: &[C64], jc: &[C64; N]) -> [C64; N] {
    let mut d = [C64::new(0.0, 0.0); N];
    if BALANCED {
        let common = z[1] * jc.iter().sum::<C64>();
        for (d, i) in d.iter_mut().zip(jc) {
            *d = z[0] * i + common;
        }
    } else {
        for (r, d) in d.iter_mut().enumerate() {
            for (z, i) in z[N * r..N * (r + 1)].iter().zip(jc) {
                *d += z * i;
            }
        }
    }
    d
}

/// A three-by-three impedance of one self and one mutual term, as self − mutual and mutual.
fn balanced(z: &[C64]) -> Option<[C64; 2]> {
    let [s, m, m2, m3, s2, m5, m6, m7, s3] = *z else {
        return None;
    };
    ([s2, s3] == [s, s] && [m2, m3, m5, m6, m7] == [m; 5]).then(|| [s - m, m])
}

/// A general branch: its parent's and child's first nodes and node counts, and where its
/// two-port starts in `PowerFlow::coef`: A (nc × np), B (nc × nc), T (np × nc), Y_oc (np × np)
/// and, if it has one, the ground stand-in (nc × nc).
#[derive(Clone, Copy)]
pub(super) struct GeneralOp {
    p: u32,
    np: u8,
    c: u32,
    nc: u8,
    at: u32,
    stand_in: bool,
}

/// A general branch's two-port, in place.
pub(super) struct TwoPort<'a> {
    pub(super) a: &'a [C64],
    pub(super) b: &'a [C64],
    pub(super) t: &'a [C64],
    pub(super) yoc: &'a [C64],
    pub(super) yg: Option<&'a [C64]>,
}

impl GeneralOp {
    /// Parent's first node and node count, child's first node and node count.
    pub(super) fn nodes(&self) -> (usize, usize, usize, usize) {
        (
            self.p as usize,
            self.np as usize,
            self.c as usize,
            self.nc as usize,
        )
    }

    pub(super) fn two_port<'a>(&self, coef: &'a [C64]) -> TwoPort<'a> {
        let (np, nc) = (self.np as usize, self.nc as usize);
        let (a, rest) = coef[self.at as usize..].split_at(nc * np);
        let (b, rest) = rest.split_at(nc * nc);
        let (t, rest) = rest.split_at(np * nc);
        let (yoc, rest) = rest.split_at(np * np);
        TwoPort {
            a,
            b,
            t,
            yoc,
            yg: self.stand_in.then(|| &rest[..nc * nc]),
        }
    }
}

/// The sweep's ops and their coefficients, and the buses it passes over.
/// `passing` is `passing_buses`' answer: the tree's shape, which a tap change leaves alone.
pub(super) fn ops(net: &Network, passing: &[Option<usize>]) -> (Vec<Op>, Vec<C64>, Vec<Passed>) {
    let mut coef = Vec::new();
    let mut passed = Vec::new();
    let mut ops = Vec::with_capacity(net.branches.len());
    for (k, br) in net.branches.iter().enumerate() {
        let (pb, cb) = (&net.buses[br.parent], &net.buses[br.child]);
        let op = match &br.kind {
            // Inside a chain: the chain's first line carries it.
            Kind::Series { .. } if passing[br.parent].is_some() => continue,
            Kind::Series { pmap, z } if (1..=3).contains(&pmap.len()) => {
                let (mut pmap, mut z, mut end, mut into) = (pmap.clone(), z.clone(), br.child, k);
                let first = passed.len();
                while let Some(out) = passing[end] {
                    passed.push(Passed::new(net, into, out));
                    let Kind::Series { pmap: next, z: zn } = &net.branches[out].kind else {
                        unreachable!("a passing bus leads on by a plain line");
                    };
                    (pmap, z) = in_series(&pmap, &z, next, zn);
                    (end, into) = (net.branches[out].child, out);
                }
                reach_end(&mut passed[first..], net.buses[end].offset);
                let at = coef.len() as u32;
                let mut p = [0; 3];
                for (k, &m) in pmap.iter().enumerate() {
                    p[k] = (pb.offset + m) as u32;
                }
                let c = net.buses[end].offset as u32;
                match balanced(&z) {
                    Some(b) => {
                        coef.extend_from_slice(&b);
                        Op::Balanced { p, c, at }
                    }
                    None => {
                        coef.extend_from_slice(&z);
                        let n = pmap.len() as u8;
                        Op::Line { n, p, c, at }
                    }
                }
            }
            Kind::General { a, b, t, yoc, yg } => {
                let at = coef.len();
                for m in [a, b, t, yoc, yg] {
                    coef.extend_from_slice(m);
                }
                Op::General(GeneralOp {
                    p: pb.offset as u32,
                    np: pb.nodes.len() as u8,
                    c: cb.offset as u32,
                    nc: cb.nodes.len() as u8,
                    at: at as u32,
                    stand_in: !yg.is_empty(),
                })
            }
            Kind::Series { .. } => Op::Branch(k),
        };
        ops.push(op);
    }
    (ops, coef, passed)
}

/// Rewrites, in place, the two-port of general branch `k` after its elements changed (a tap):
/// false when the sweep has no such op for it, and must be rebuilt.
pub(super) fn refresh_general(net: &Network, k: usize, ops: &[Op], coef: &mut [C64]) -> bool {
    let Kind::General { a, b, t, yoc, yg } = &net.branches[k].kind else {
        return false;
    };
    let c = net.buses[net.branches[k].child].offset as u32;
    let Some(op) = ops.iter().find_map(|o| match o {
        Op::General(g) if g.c == c => Some(g),
        _ => None,
    }) else {
        return false;
    };
    if op.stand_in == yg.is_empty() {
        return false;
    }
    let mut at = op.at as usize;
    for m in [a, b, t, yoc, yg] {
        coef[at..at + m.len()].copy_from_slice(m);
        at += m.len();
    }
    true
}

/// A bus the sweep passes over: nothing hangs on it and one plain line leads on from it, so
/// the lines into and out of it act as one impedance (their sum) and its voltage and current
/// follow from the solution once it has converged. Most buses of a street are such points
/// along a cable (701 of the European LV feeder's 906), and the sweep then runs over a
/// quarter of its lines.
pub(super) struct Passed {
    /// The bus's first node, its node count and the parent node of each.
    c: u32,
    n: u8,
    p: [u32; 3],
    /// The impedance of the line into it (n × n, row by row), or if `balanced` its self −
    /// mutual and mutual terms (see `Op::Balanced`).
    z: [C64; 9],
    balanced: bool,
    /// The first node and node count of the bus at the chain's end, and the node of this bus
    /// each of its nodes is fed through.
    end: u32,
    nn: u8,
    map: [u8; 3],
}

/// A chain's passed buses told where it ends: each one's current is the end's.
fn reach_end(chain: &mut [Passed], end: usize) {
    let Some(last) = chain.len().checked_sub(1) else {
        return;
    };
    for k in (0..last).rev() {
        let (before, after) = chain.split_at_mut(k + 1);
        let (ps, on) = (&mut before[k], &after[0]);
        // `on.map` names `on`'s nodes; its line's parent nodes are ours.
        for m in 0..on.nn as usize {
            ps.map[m] = (on.p[on.map[m] as usize] - ps.c) as u8;
        }
        ps.nn = on.nn;
    }
    for ps in chain {
        ps.end = end as u32;
    }
}

impl Passed {
    /// The bus between lines `into` and `out`.
    fn new(net: &Network, into: usize, out: usize) -> Self {
        let into = &net.branches[into];
        let b = &net.buses[into.child];
        let (Kind::Series { pmap, z }, Kind::Series { pmap: on, .. }) =
            (&into.kind, &net.branches[out].kind)
        else {
            unreachable!("a passed bus sits between plain lines");
        };
        let parent = &net.buses[into.parent];
        let mut ps = Passed {
            c: b.offset as u32,
            n: pmap.len() as u8,
            p: [0; 3],
            z: [C64::new(0.0, 0.0); 9],
            balanced: false,
            end: 0,
            nn: on.len() as u8,
            map: [0; 3],
        };
        for (k, &m) in pmap.iter().enumerate() {
            ps.p[k] = (parent.offset + m) as u32;
        }
        if let Some(b) = balanced(z) {
            ps.z[..2].copy_from_slice(&b);
            ps.balanced = true;
        } else {
            ps.z[..z.len()].copy_from_slice(z);
        }
        for (k, &m) in on.iter().enumerate() {
            ps.map[k] = m as u8;
        }
        ps
    }
}

/// For each bus, the line out of it if the sweep passes over it.
pub(super) fn passing_buses(net: &Network) -> Vec<Option<usize>> {
    let plain = |k: usize| matches!(&net.branches[k].kind, Kind::Series { pmap, .. } if (1..=3).contains(&pmap.len()));
    let mut out: Vec<Vec<usize>> = vec![vec![]; net.buses.len()];
    let mut into = vec![None; net.buses.len()];
    for (k, br) in net.branches.iter().enumerate() {
        out[br.parent].push(k);
        into[br.child] = Some(k);
    }
    let hung = net.hung_buses();
    (0..net.buses.len())
        .map(|b| {
            into[b].filter(|&k| plain(k))?;
            let lines_in_and_out = out[b].len() == 1 && plain(out[b][0]);
            (lines_in_and_out && !hung[b]).then(|| out[b][0])
        })
        .collect()
}

/// Two lines in series through a bus with nothing on it: the parent node of each far node, and
/// the impedance seen from the parent (the near line's, between the nodes the far line
/// continues, plus the far line's).
fn in_series(pmap: &[usize], z: &[C64], next: &[usize], zn: &[C64]) -> (Vec<usize>, Vec<C64>) {
    let (n, m) = (pmap.len(), next.len());
    let p = next.iter().map(|&k| pmap[k]).collect();
    let mut sum = zn.to_vec();
    for r in 0..m {
        for k in 0..m {
            sum[r * m + k] += z[next[r] * n + next[k]];
        }
    }
    (p, sum)
}

/// The voltages and currents of the buses the sweep passed over, from the solution: each
/// bus's current is its chain's end's, and its voltage its parent's less its line's drop.
pub(super) fn fill_passed(passed: &[Passed], v: &mut [C64], j: &mut [C64]) {
    for ps in passed {
        match (ps.n, ps.balanced) {
            (3, true) => fill_one::<3, true>(ps, v, j),
            (3, false) => fill_one::<3, false>(ps, v, j),
            (2, _) => fill_one::<2, false>(ps, v, j),
            _ => fill_one::<1, false>(ps, v, j),
        }
    }
}

/// One passed bus: no change measured, as the sweep does not judge convergence here.
#[inline(always)]
fn fill_one<const N: usize, const BALANCED: bool>(ps: &Passed, v: &mut [C64], j: &mut [C64]) {
    let (c, end) = (ps.c as usize, ps.end as usize);
    let mut jc = [C64::new(0.0, 0.0); N];
    for k in 0..ps.nn as usize {
        jc[ps.map[k] as usize] += j[end + k];
    }
    j[c..c + N].copy_from_slice(&jc);
    let d = drops::<N, BALANCED>(&ps.z, &jc);
    for r in 0..N {
        v[c + r] = v[ps.p[r] as usize] - d[r];
    }
}

/// What a general branch's child draws, less its ground stand-in's share (which the branch's
/// B already carries).
#[inline(always)]
pub(super) fn general_child_current(
    j: &[C64],
    v: &[C64],
    c: usize,
    nc: usize,
    yg: Option<&[C64]>,
) -> [C64; MAX_NODES] {
    let mut out = [C64::new(0.0, 0.0); MAX_NODES];
    out[..nc].copy_from_slice(&j[c..c + nc]);
    if let Some(yg) = yg {
        for (r, x) in out.iter_mut().enumerate().take(nc) {
            for k in 0..nc {
                *x -= yg[r * nc + k] * v[c + k];
            }
        }
    }
    out
}
