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
/// pu, as `change_bits`).
#[inline(always)]
pub(super) fn line_forward<const N: usize>(
    v: &mut [C64],
    j: &[C64],
    inv_base: &[f64],
    p: &[u32; 3],
    c: usize,
    z: &[C64],
) -> u64 {
    let mut jc = [C64::new(0.0, 0.0); N];
    jc.copy_from_slice(&j[c..c + N]);
    let mut worst = 0u64;
    for r in 0..N {
        let mut x = v[p[r] as usize];
        for k in 0..N {
            x -= z[N * r + k] * jc[k];
        }
        let g = c + r;
        worst = worst.max(change_bits(x, v[g], inv_base[g]));
        v[g] = x;
    }
    worst
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

pub(super) fn ops(net: &Network) -> (Vec<Op>, Vec<C64>) {
    let mut coef = Vec::new();
    let ops = net
        .branches
        .iter()
        .enumerate()
        .map(|(k, br)| {
            let (pb, cb) = (&net.buses[br.parent], &net.buses[br.child]);
            match &br.kind {
                Kind::Series { pmap, z } if (1..=3).contains(&pmap.len()) => {
                    let at = coef.len() as u32;
                    coef.extend_from_slice(z);
                    let mut p = [0; 3];
                    for (k, &m) in pmap.iter().enumerate() {
                        p[k] = (pb.offset + m) as u32;
                    }
                    Op::Line {
                        n: pmap.len() as u8,
                        p,
                        c: cb.offset as u32,
                        at,
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
            }
        })
        .collect();
    (ops, coef)
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
