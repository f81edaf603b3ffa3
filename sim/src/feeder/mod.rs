//! The feeder twin: a radial three-phase unbalanced distribution feeder (`model`), compiled to
//! a tree of two-port branches (`network`) and solved by a backward/forward sweep
//! (`powerflow`). Line impedances from conductor geometry come from `line_constants`.

pub mod household;
pub mod line_constants;
mod load_model;
pub mod model;
pub mod network;
pub mod powerflow;
mod reduce;
pub mod street;
pub mod transformer;

pub use model::{
    CapControl, CapControlKind, Capacitor, Conn, Feeder, Generator, Impedance, Line, LineCode,
    Load, LoadModel, LoadShape, PtPhase, Reactor, Regulator, Source, Transformer, VoltageOverride,
    Winding,
};
pub use powerflow::{Head, Lateral, LoadState, NodeVoltage, PowerFlow, Solved, rephase};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeederError {
    #[error("{0}")]
    Model(String),
    #[error(
        "power flow did not converge: after {iterations} iterations the largest change was {mismatch_pu:.3e} pu"
    )]
    NotConverged { iterations: usize, mismatch_pu: f64 },
    #[error("regulators and capacitor controls kept acting: {changes} changes without settling")]
    ControlsHunting { changes: usize },
}
