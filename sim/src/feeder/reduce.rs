//! Each branch reduced to the two-port the sweep runs, and how a child that floats (held to
//! ground only by what hangs below it) is held while the sweep converges.

use nalgebra::DMatrix;
use num_complex::Complex64 as C64;

use super::FeederError;
use super::network::{Element, GROUND, Kind, Network};

/// Reduce every branch, each child's ground admittance found first.
pub fn reduce_all(net: &mut Network) -> Result<(), FeederError> {
    let ground = ground_admittances(net);
    for k in 0..net.branches.len() {
        net.branches[k].ground_y = ground[net.branches[k].child];
        reduce_branch(net, k)?;
    }
    Ok(())
}

/// Build a branch's sweep matrices from the primitive admittances of its elements.
pub fn reduce_branch(net: &mut Network, k: usize) -> Result<(), FeederError> {
    let br = &net.branches[k];
    let (p, c) = (&net.buses[br.parent], &net.buses[br.child]);
    let (np, nc) = (p.nodes.len(), c.nodes.len());
    let what = || {
        format!(
            "branch {} → {}",
            if p.name.is_empty() { "source" } else { &p.name },
            c.name
        )
    };

    // Fast path: one bare line whose conductors pair parent and child nodes one to one.
    if let [e] = br.elements[..] {
        let e = &net.elements[e];
        if let Some(z) = &e.z {
            let n = e.n1;
            let (from_parent, to_child) = if e.buses[0] == br.parent {
                (0, n)
            } else {
                (n, 0)
            };
            let mut pmap = vec![usize::MAX; nc];
            let mut order = vec![usize::MAX; nc];
            let mut ok = n == nc;
            for i in 0..n {
                let (pc, cc) = (e.conductors[from_parent + i], e.conductors[to_child + i]);
                if pc == GROUND || cc == GROUND || cc < c.offset || cc >= c.offset + nc {
                    ok = false;
                    break;
                }
                let slot = cc - c.offset;
                if order[slot] != usize::MAX {
                    ok = false;
                    break;
                }
                order[slot] = i;
                pmap[slot] = pc - p.offset;
            }
            if ok {
                let zz = (0..nc * nc)
                    .map(|ij| z[(order[ij / nc], order[ij % nc])])
                    .collect();
                net.branches[k].kind = Kind::Series { pmap, z: zz };
                return Ok(());
            }
        }
    }

    // General two-port: assemble Y over [parent nodes, child nodes].
    let mut y = DMatrix::<C64>::zeros(np + nc, np + nc);
    let local = |g: usize| -> Option<usize> {
        if g == GROUND {
            None
        } else if g >= p.offset && g < p.offset + np {
            Some(g - p.offset)
        } else if g >= c.offset && g < c.offset + nc {
            Some(np + g - c.offset)
        } else {
            None
        }
    };
    for &ei in &br.elements {
        let e = &net.elements[ei];
        for (i, &gi) in e.conductors.iter().enumerate() {
            let Some(li) = local(gi) else { continue };
            for (j, &gj) in e.conductors.iter().enumerate() {
                let Some(lj) = local(gj) else { continue };
                y[(li, lj)] += e.y[(i, j)];
            }
        }
    }
    let ypp = y.view((0, 0), (np, np)).clone_owned();
    let ypc = y.view((0, np), (np, nc)).clone_owned();
    let ycp = y.view((np, 0), (nc, np)).clone_owned();
    let ycc = y.view((np, np), (nc, nc)).clone_owned();
    let scale = ycc.iter().map(|v| v.norm()).fold(0.0, f64::max);
    let invert = |m: DMatrix<C64>| {
        m.try_inverse()
            .filter(|m| m.iter().all(|v| v.is_finite() && v.norm() * scale < 1e15))
    };
    // A child held to ground more firmly by what hangs below it than through the branch (a
    // delta winding, floating or with only OpenDSS's ppm anti-float conductance) would make
    // the sweep's common mode diverge: the stand-in takes over.
    let ya = br.ground_y;
    let own = ycc.iter().sum::<C64>();
    let mut yg = DMatrix::<C64>::zeros(0, 0);
    let b = match invert(ycc.clone()).filter(|_| own.norm() >= ya.norm()) {
        Some(b) => b,
        None => {
            yg = DMatrix::from_diagonal_element(nc, nc, ya / nc as f64);
            invert(&ycc + &yg)
                .filter(|_| ya.norm() > 0.0)
                .ok_or_else(|| {
                    FeederError::Model(format!(
                        "{}: some node of bus {} has no path to the source through it, and \
                         nothing below it holds it to ground (line capacitance, a grounded \
                         load or capacitor, or a transformer's ppm_antifloat)",
                        what(),
                        c.name
                    ))
                })?
        }
    };
    let a = -(&b * &ycp);
    let t = -(&ypc * &b);
    let yoc = &ypp + &ypc * &a;
    let flat = |m: &DMatrix<C64>| -> Vec<C64> {
        (0..m.nrows())
            .flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)]))
            .collect()
    };
    net.branches[k].kind = Kind::General {
        a: flat(&a),
        b: flat(&b),
        t: flat(&t),
        yoc: flat(&yoc),
        yg: flat(&yg),
    };
    Ok(())
}

/// For every bus, the admittance to ground of everything below it with all its nodes at one
/// voltage, down to the next transformer (behind which the system is grounded on its own
/// terms): line capacitance, every shunt from a node to ground, and what each transformer
/// leaving it draws with nothing below it (an isolating winding's anti-float reactance). One
/// pass from the leaves up.
fn ground_admittances(net: &Network) -> Vec<C64> {
    let transformer = net.transformer_mask();
    let node_bus = net.node_buses();
    let mut total = vec![C64::new(0.0, 0.0); net.buses.len()];
    for s in &net.shunts {
        if s.b == GROUND && s.a != GROUND {
            total[node_bus[s.a]] += s.y;
        }
    }
    // Branches run breadth-first from the source: backwards, a child is settled before its
    // parent.
    for br in net.branches.iter().rev() {
        let mut y = C64::new(0.0, 0.0);
        // A branch of transformers only ends the island; one with a conductor beside them (the
        // IEEE 37-node feeder's jumper on the phase its open-delta regulators share) does not.
        if br.elements.iter().all(|&e| transformer[e]) {
            for &ei in &br.elements {
                y += open_circuit_common_mode(net, &net.elements[ei], br.parent);
            }
        } else {
            for &ei in &br.elements {
                let e = &net.elements[ei];
                let live = || (0..e.conductors.len()).filter(|&i| e.conductors[i] != GROUND);
                for i in live() {
                    for j in live() {
                        y += e.y[(i, j)];
                    }
                }
            }
            y += total[br.child];
        }
        total[br.parent] += y;
    }
    total
}

/// The admittance an element presents to all of `bus`'s nodes raised together, with its other
/// terminal's nodes left open: the Schur complement of its primitive admittance onto the
/// conductors on `bus`, summed. Zero when the open side cannot be eliminated.
fn open_circuit_common_mode(net: &Network, e: &Element, bus: usize) -> C64 {
    let b = &net.buses[bus];
    let on_bus = |g: usize| g != GROUND && (b.offset..b.offset + b.nodes.len()).contains(&g);
    let (near, far): (Vec<usize>, Vec<usize>) = (0..e.conductors.len())
        .filter(|&i| e.conductors[i] != GROUND)
        .partition(|&i| on_bus(e.conductors[i]));
    let pick = |rows: &[usize], cols: &[usize]| {
        DMatrix::from_fn(rows.len(), cols.len(), |r, c| e.y[(rows[r], cols[c])])
    };
    let ynn = pick(&near, &near);
    let oc = if far.is_empty() {
        ynn
    } else {
        match pick(&far, &far).try_inverse() {
            Some(inv) => ynn - pick(&near, &far) * inv * pick(&far, &near),
            None => return C64::new(0.0, 0.0),
        }
    };
    let sum = oc.iter().sum::<C64>();
    if sum.is_finite() {
        sum
    } else {
        C64::new(0.0, 0.0)
    }
}
