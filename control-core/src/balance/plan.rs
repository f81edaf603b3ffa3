//! The phase-balancing planner: which homes to move to which phase so that the per-phase totals
//! at the transformer are as equal as they can be, within a move budget.
//!
//! Objective (the one `gridtwin balance-plan` documents): the current unbalance
//! u = max_p |P_p − mean| / mean, fewer moves breaking ties. Powers are held as integer
//! milliwatts, so totals are exact and a tie is a real tie rather than a rounding accident; then
//! |P_p − mean| / mean = |3·P_p − T| / T and the whole search runs on integers.
//!
//! The search is a depth-first branch and bound over the movable homes, largest first, started
//! from a local search's answer (best single move or swap until none helps, then undoing moves
//! that are not needed). When it finishes within its node limit the plan is optimal; when it
//! is cut off (large feeders) the best plan found so far stands, with a lower bound beside it.

use grid_types::Phase;
use serde::Serialize;

/// One home as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Home {
    pub id: String,
    pub phase: Phase,
    pub kw: f64,
    /// False for homes that must not move now (fixed, in their dwell time, out of moves today,
    /// or with no fresh reading).
    pub movable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Move {
    /// Index into the instance's homes.
    pub home: usize,
    pub from: Phase,
    pub to: Phase,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Each home's phase after the moves.
    pub phases: Vec<Phase>,
    pub moves: Vec<Move>,
    /// Per-phase totals, kW.
    pub before_kw: [f64; 3],
    pub after_kw: [f64; 3],
    pub unbalance_before: f64,
    pub unbalance_after: f64,
    /// No plan within the budget can do better than this (equal to `unbalance_after` when the
    /// plan is proven optimal).
    pub lower_bound: f64,
    /// The search finished: no plan within the budget has a lower unbalance, nor the same
    /// unbalance with fewer moves.
    pub optimal: bool,
    /// Search nodes visited (for benchmarks).
    pub nodes: u64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("no homes")]
    Empty,
    #[error("home {id:?}: kw {kw} is not a finite power within ±1 GW")]
    BadKw { id: String, kw: f64 },
    #[error("home id {0:?} appears twice")]
    DuplicateId(String),
    #[error(
        "the homes' total is {0} kW; unbalance is relative to the mean phase load, which must be positive"
    )]
    NotPositive(f64),
}

/// Search nodes allowed before the best plan so far is returned as it stands. Enough to prove
/// optimality for a few dozen movable homes; a 200-home feeder stops at it in a few ms.
pub const NODE_LIMIT: u64 = 200_000;

/// Plan moves for `homes` with at most `max_moves` homes changing phase (`None`: any number).
pub fn plan(homes: &[Home], max_moves: Option<usize>) -> Result<Plan, PlanError> {
    let inst = Integer::new(homes)?;
    let budget = max_moves.unwrap_or(usize::MAX);
    // The search starts from the local search's plan and keeps it unless it finds better.
    let mut bb = BranchAndBound::new(&inst, budget, NODE_LIMIT, inst.local_search(budget));
    bb.dfs(0, inst.fixed, 0);

    let mut phases: Vec<Phase> = homes.iter().map(|h| h.phase).collect();
    let mut moves = Vec::new();
    for (m, &i) in inst.movable.iter().enumerate() {
        let to = Phase::ALL[bb.best_assign[m] as usize];
        if to != homes[i].phase {
            phases[i] = to;
            moves.push(Move {
                home: i,
                from: homes[i].phase,
                to,
            });
        }
    }
    let (before, after) = (inst.totals(&inst.orig), inst.totals(&bb.best_assign));
    let u = |d3: i64| d3 as f64 / inst.total as f64;
    let kw = |p: [i64; 3]| p.map(|x| x as f64 / MW_PER_KW as f64);
    let after_d3 = inst.d3(after);
    // Proven by a finished search, or by meeting the bound with a move count that one move
    // fewer could not reach (budget-limited streets often do).
    let bound = inst.lower_bound(budget);
    let fewest = moves.is_empty() || inst.lower_bound(moves.len() - 1) > after_d3;
    let optimal = !bb.cut || (after_d3 <= bound && fewest);
    Ok(Plan {
        phases,
        moves,
        before_kw: kw(before),
        after_kw: kw(after),
        unbalance_before: u(inst.d3(before)),
        unbalance_after: u(after_d3),
        lower_bound: if optimal { u(after_d3) } else { u(bound) },
        optimal,
        nodes: bb.nodes,
    })
}

/// Milliwatts per kilowatt.
const MW_PER_KW: i64 = 1_000_000;
const KW_LIMIT: f64 = 1e6;

/// The instance in integer milliwatts, movable homes largest first.
struct Integer {
    /// Indices of the movable homes, in search order (largest |w| first).
    movable: Vec<usize>,
    /// Movable homes' powers and current phases, in search order.
    w: Vec<i64>,
    orig: Vec<u8>,
    /// Per-phase totals of the homes that cannot move.
    fixed: [i64; 3],
    total: i64,
    /// Sums of the positive and of the negative powers from search position k on.
    suffix_pos: Vec<i64>,
    suffix_neg: Vec<i64>,
}

/// A local-search state: each movable home's phase and its (unbalance, moves) score.
struct Local {
    assign: Vec<u8>,
    score: (i64, usize),
}

impl Integer {
    fn new(homes: &[Home]) -> Result<Self, PlanError> {
        if homes.is_empty() {
            return Err(PlanError::Empty);
        }
        let mut seen = std::collections::HashSet::new();
        let mut w_all = Vec::with_capacity(homes.len());
        for h in homes {
            if !(h.kw.is_finite() && h.kw.abs() <= KW_LIMIT) {
                return Err(PlanError::BadKw {
                    id: h.id.clone(),
                    kw: h.kw,
                });
            }
            if !seen.insert(h.id.as_str()) {
                return Err(PlanError::DuplicateId(h.id.clone()));
            }
            w_all.push((h.kw * MW_PER_KW as f64).round() as i64);
        }
        let total: i64 = w_all.iter().sum();
        if total <= 0 {
            return Err(PlanError::NotPositive(total as f64 / MW_PER_KW as f64));
        }
        let mut movable: Vec<usize> = (0..homes.len()).filter(|&i| homes[i].movable).collect();
        movable.sort_by_key(|&i| std::cmp::Reverse(w_all[i].abs()));
        let mut fixed = [0i64; 3];
        for (i, h) in homes.iter().enumerate().filter(|(_, h)| !h.movable) {
            fixed[h.phase as usize] += w_all[i];
        }
        let w: Vec<i64> = movable.iter().map(|&i| w_all[i]).collect();
        let orig = movable.iter().map(|&i| homes[i].phase as u8).collect();
        let (mut suffix_pos, mut suffix_neg) = (vec![0; w.len() + 1], vec![0; w.len() + 1]);
        for k in (0..w.len()).rev() {
            suffix_pos[k] = suffix_pos[k + 1] + w[k].max(0);
            suffix_neg[k] = suffix_neg[k + 1] + w[k].min(0);
        }
        Ok(Self {
            movable,
            w,
            orig,
            fixed,
            total,
            suffix_pos,
            suffix_neg,
        })
    }

    /// 3 × the largest deviation of a phase from the mean: max_p |3·P_p − T|.
    fn d3(&self, p: [i64; 3]) -> i64 {
        p.iter()
            .map(|&x| (3 * x - self.total).abs())
            .max()
            .unwrap_or(0)
    }

    fn totals(&self, assign: &[u8]) -> [i64; 3] {
        let mut p = self.fixed;
        for (k, &a) in assign.iter().enumerate() {
            p[a as usize] += self.w[k];
        }
        p
    }

    fn moves(&self, assign: &[u8]) -> usize {
        assign
            .iter()
            .zip(&self.orig)
            .filter(|(a, o)| a != o)
            .count()
    }

    /// From no moves, apply the best single move (or, when none helps, the best swap) until
    /// nothing improves within the budget; then undo any move the result does not need.
    /// Improvement is judged on (max deviation, sum of squared deviations) so that the search
    /// keeps moving on the plateaus of the max.
    fn local_search(&self, budget: usize) -> Local {
        let n = self.w.len();
        let mut a = self.orig.clone();
        let mut p = self.totals(&a);
        let mut moved = 0usize;
        let key = |p: &[i64; 3]| {
            let dev = p.map(|x| (3 * x - self.total) as i128);
            (
                dev.iter().map(|d| d.abs()).max().unwrap_or(0),
                dev.iter().map(|d| d * d).sum::<i128>(),
            )
        };
        let mut cur = key(&p);
        loop {
            // The best candidate: its key, then (home, phase) pairs; j is usize::MAX for a
            // single move.
            type Candidate = ((i128, i128), usize, usize, u8, u8);
            let mut best: Option<Candidate> = None;
            let consider = |best: &mut Option<Candidate>, cand: [i64; 3], i, j, ti, tj| {
                let k = key(&cand);
                if k < cur && best.is_none_or(|b| k < b.0) {
                    *best = Some((k, i, j, ti, tj));
                }
            };
            // Cost in moves of putting position i on phase t, given where it is now.
            let delta = |i: usize, from: u8, to: u8| -> isize {
                (to != self.orig[i]) as isize - (from != self.orig[i]) as isize
            };
            for i in 0..n {
                for t in 0..3u8 {
                    if t == a[i] {
                        continue;
                    }
                    let m = (moved as isize + delta(i, a[i], t)) as usize;
                    if m > budget {
                        continue;
                    }
                    let mut c = p;
                    c[a[i] as usize] -= self.w[i];
                    c[t as usize] += self.w[i];
                    consider(&mut best, c, i, usize::MAX, t, 0);
                }
            }
            if best.is_none() {
                for i in 0..n {
                    for j in i + 1..n {
                        let (ai, aj) = (a[i], a[j]);
                        if ai == aj {
                            continue;
                        }
                        let m = (moved as isize + delta(i, ai, aj) + delta(j, aj, ai)) as usize;
                        if m > budget {
                            continue;
                        }
                        let mut c = p;
                        c[ai as usize] += self.w[j] - self.w[i];
                        c[aj as usize] += self.w[i] - self.w[j];
                        consider(&mut best, c, i, j, aj, ai);
                    }
                }
            }
            let Some((_, i, j, ti, tj)) = best else {
                break;
            };
            for (x, t) in [(i, ti), (j, tj)] {
                if x != usize::MAX {
                    moved = (moved as isize + delta(x, a[x], t)) as usize;
                    p[a[x] as usize] -= self.w[x];
                    p[t as usize] += self.w[x];
                    a[x] = t;
                }
            }
            cur = key(&p);
        }
        // Undo moves that do not raise the max deviation, smallest homes first: they are the
        // likeliest to be unneeded.
        let d = self.d3(p);
        for i in (0..n).rev() {
            if a[i] != self.orig[i] {
                let mut c = p;
                c[a[i] as usize] -= self.w[i];
                c[self.orig[i] as usize] += self.w[i];
                if self.d3(c) <= d {
                    p = c;
                    a[i] = self.orig[i];
                }
            }
        }
        let score = (self.d3(p), self.moves(&a));
        Local { assign: a, score }
    }

    /// A bound no plan within the budget can beat (3·deviation units): the homes that cannot
    /// move pin each phase's range, and with a budget of k a phase can shed or gain at most its
    /// k largest candidates.
    fn lower_bound(&self, budget: usize) -> i64 {
        let t = self.total;
        let now = self.totals(&self.orig);
        let mut lb = 0i64;
        for ph in 0..3u8 {
            // Range of the phase's final total when the movable homes may go anywhere.
            let lo = self.fixed[ph as usize] + self.suffix_neg[0];
            let hi = self.fixed[ph as usize] + self.suffix_pos[0];
            lb = lb.max(3 * lo - t).max(t - 3 * hi);
            if budget < self.w.len() {
                // Now: the phase's current total; each move changes it by one home's power.
                let (mut down, mut up): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
                for (k, &w) in self.w.iter().enumerate() {
                    let here = self.orig[k] == ph;
                    // Leaving lowers the total by w; arriving raises it by w.
                    if here {
                        if w > 0 { down.push(w) } else { up.push(-w) }
                    } else if w > 0 {
                        up.push(w)
                    } else {
                        down.push(-w)
                    }
                }
                let top = |mut v: Vec<i64>| {
                    v.sort_unstable_by(|a, b| b.cmp(a));
                    v.iter().take(budget).sum::<i64>()
                };
                let now = now[ph as usize];
                let (min, max) = (now - top(down), now + top(up));
                lb = lb.max(3 * min - t).max(t - 3 * max);
            }
        }
        lb.max(0)
    }
}

struct BranchAndBound<'a> {
    inst: &'a Integer,
    budget: usize,
    limit: u64,
    nodes: u64,
    cut: bool,
    cur: Vec<u8>,
    best: (i64, usize),
    best_assign: Vec<u8>,
}

impl<'a> BranchAndBound<'a> {
    fn new(inst: &'a Integer, budget: usize, limit: u64, start: Local) -> Self {
        Self {
            inst,
            budget,
            limit,
            nodes: 0,
            cut: false,
            cur: inst.orig.clone(),
            best: start.score,
            best_assign: start.assign,
        }
    }

    fn dfs(&mut self, k: usize, p: [i64; 3], moves: usize) {
        self.nodes += 1;
        if self.nodes > self.limit {
            self.cut = true;
            return;
        }
        let inst = self.inst;
        let t = inst.total;
        // Whatever the remaining homes do, each phase ends within [p + negatives, p + positives].
        let (neg, pos) = (inst.suffix_neg[k], inst.suffix_pos[k]);
        let lb = p
            .iter()
            .map(|&x| (3 * (x + neg) - t).max(t - 3 * (x + pos)))
            .max()
            .unwrap_or(0)
            .max(0);
        if lb > self.best.0 || (lb == self.best.0 && moves >= self.best.1) {
            return;
        }
        if k == inst.w.len() {
            // At a leaf the bound is the deviation itself.
            self.best = (lb, moves);
            self.best_assign.clone_from(&self.cur);
            return;
        }
        // Stay first (no move), then the lighter phase first.
        let o = inst.orig[k];
        let (mut x, mut y) = ((o + 1) % 3, (o + 2) % 3);
        if (p[x as usize] > p[y as usize]) == (inst.w[k] >= 0) {
            std::mem::swap(&mut x, &mut y);
        }
        for to in [o, x, y] {
            let m = moves + (to != o) as usize;
            if m > self.budget {
                continue;
            }
            self.cur[k] = to;
            let mut q = p;
            q[to as usize] += inst.w[k];
            self.dfs(k + 1, q, m);
            if self.cut {
                break;
            }
        }
        self.cur[k] = o;
    }
}
