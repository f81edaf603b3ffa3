//! Phase balancing at the transformer: the planner that picks phase moves, and the balancer
//! that gathers the home nodes' reports and decides when to act on them.

pub mod plan;

pub use plan::{Home, Move, Plan, PlanError, plan};
