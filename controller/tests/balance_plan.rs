//! The phase-balancing planner against brute force, and its constraints for all inputs.

use control_core::balance::{Home, Plan, plan};
use grid_types::Phase;
use proptest::prelude::*;

/// The objective in exact integers, independently of the planner: 3 × the largest deviation of
/// a phase total from the mean (milliwatts), and the number of homes moved.
fn score(homes: &[Home], phases: &[Phase]) -> (i64, usize) {
    let mut p = [0i64; 3];
    for (h, ph) in homes.iter().zip(phases) {
        p[*ph as usize] += (h.kw * 1e6).round() as i64;
    }
    let t: i64 = p.iter().sum();
    let d3 = p.iter().map(|x| (3 * x - t).abs()).max().unwrap();
    let moves = homes
        .iter()
        .zip(phases)
        .filter(|(h, p)| h.phase != **p)
        .count();
    (d3, moves)
}

/// Every assignment of the movable homes within the budget; the best (deviation, moves).
fn brute_force(homes: &[Home], budget: Option<usize>) -> (i64, usize) {
    let movable: Vec<usize> = (0..homes.len()).filter(|&i| homes[i].movable).collect();
    let mut phases: Vec<Phase> = homes.iter().map(|h| h.phase).collect();
    let mut best = (i64::MAX, usize::MAX);
    for code in 0..3usize.pow(movable.len() as u32) {
        let mut c = code;
        for &i in &movable {
            phases[i] = Phase::ALL[c % 3];
            c /= 3;
        }
        let s = score(homes, &phases);
        if budget.is_some_and(|b| s.1 > b) {
            continue;
        }
        best = best.min(s);
    }
    best
}

fn home(i: usize, phase: u8, watts: i32, movable: bool) -> Home {
    Home {
        id: format!("h{i}"),
        phase: Phase::ALL[phase as usize],
        kw: watts as f64 / 1000.0,
        movable,
    }
}

/// Up to `movable` movable homes (some exporting) and a few fixed ones, total positive.
fn instance(max_movable: usize) -> impl Strategy<Value = Vec<Home>> {
    (
        prop::collection::vec((0u8..3, -1500i32..9000), 1..=max_movable),
        prop::collection::vec((0u8..3, 0i32..9000), 0..4),
    )
        .prop_map(|(m, f)| {
            let mut homes: Vec<Home> = m
                .into_iter()
                .enumerate()
                .map(|(i, (p, w))| home(i, p, w, true))
                .collect();
            let n = homes.len();
            homes.extend(
                f.into_iter()
                    .enumerate()
                    .map(|(i, (p, w))| home(n + i, p, w, false)),
            );
            homes
        })
        .prop_filter("total load must be positive", |h| {
            h.iter().map(|x| x.kw).sum::<f64>() > 0.01
        })
}

fn check_plan(homes: &[Home], budget: Option<usize>, p: &Plan) {
    assert!(budget.is_none_or(|b| p.moves.len() <= b), "over budget");
    for m in &p.moves {
        assert!(
            homes[m.home].movable,
            "moved fixed home {}",
            homes[m.home].id
        );
        assert_eq!(m.from, homes[m.home].phase);
        assert_eq!(p.phases[m.home], m.to);
        assert_ne!(m.from, m.to);
    }
    let moved = homes
        .iter()
        .zip(&p.phases)
        .filter(|(h, x)| h.phase != **x)
        .count();
    assert_eq!(moved, p.moves.len(), "moves list and phases disagree");
    let mut after = [0.0; 3];
    for (h, x) in homes.iter().zip(&p.phases) {
        after[*x as usize] += h.kw;
    }
    for (k, (got, want)) in p.after_kw.iter().zip(after).enumerate() {
        assert!((got - want).abs() < 1e-6, "after_kw {k}");
    }
    assert!(
        p.unbalance_after <= p.unbalance_before + 1e-12,
        "made it worse"
    );
    assert!(
        p.lower_bound <= p.unbalance_after + 1e-12,
        "bound above the plan"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    /// Up to 12 movable homes: the plan is the brute-force optimum, unlimited and with budgets.
    #[test]
    fn optimal_against_brute_force(homes in instance(12), budget in prop::option::of(0usize..5)) {
        let p = plan(&homes, budget).unwrap();
        check_plan(&homes, budget, &p);
        prop_assert!(p.optimal, "search was cut off on {} homes", homes.len());
        prop_assert_eq!(score(&homes, &p.phases), brute_force(&homes, budget));
    }

    /// Any size: never over budget, never a fixed home, never worse than doing nothing.
    #[test]
    fn respects_budget_and_fixed_homes(
        homes in instance(120),
        budget in prop::option::of(0usize..20),
    ) {
        let p = plan(&homes, budget).unwrap();
        check_plan(&homes, budget, &p);
    }
}

#[test]
fn one_move_balances_a_simple_street() {
    // A: 3 + 3 kW, B: 3 kW, C: nothing. Moving either A home to C makes it perfect.
    let homes = vec![
        home(0, 0, 3000, true),
        home(1, 0, 3000, true),
        home(2, 1, 3000, true),
    ];
    let p = plan(&homes, None).unwrap();
    assert_eq!(p.moves.len(), 1);
    assert_eq!(p.moves[0].to, Phase::C);
    assert_eq!(p.unbalance_before, 1.0);
    assert_eq!(p.unbalance_after, 0.0);
    assert!(p.optimal);
}

#[test]
fn zero_budget_changes_nothing() {
    let homes = vec![home(0, 0, 5000, true), home(1, 0, 1000, true)];
    let p = plan(&homes, Some(0)).unwrap();
    assert!(p.moves.is_empty());
    assert_eq!(p.unbalance_after, p.unbalance_before);
    // Nothing can move: the bound is the unbalance itself.
    assert_eq!(p.lower_bound, p.unbalance_before);
}

#[test]
fn bad_instances_are_refused_with_the_home() {
    use control_core::balance::PlanError;
    assert_eq!(plan(&[], None), Err(PlanError::Empty));
    let mut h = vec![home(0, 0, 1000, true), home(1, 1, 1000, true)];
    h[1].id = "h0".into();
    assert_eq!(plan(&h, None), Err(PlanError::DuplicateId("h0".into())));
    h[1].id = "h1".into();
    h[1].kw = f64::NAN;
    assert!(matches!(plan(&h, None), Err(PlanError::BadKw { id, .. }) if id == "h1"));
    h[1].kw = -2.0;
    assert!(matches!(plan(&h, None), Err(PlanError::NotPositive(_))));
}
