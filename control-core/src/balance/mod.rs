//! Phase balancing at the transformer: the planner that picks phase moves, and the balancer
//! that gathers the home nodes' reports and decides when to act on them.

mod balancer;
mod plan;

pub use balancer::{Ack, Balancer, BalancerSettings, Command, Hold, Note, Report};
pub use plan::{Home, Move, Plan, PlanError, plan};
