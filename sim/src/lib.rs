//! The grid twin. It knows nothing of the controller: it takes actuations (contactor and relay
//! positions, a generator start signal), advances physical time and reports what its sensors read.
//!
//! Fidelity here is per cycle (RMS phasors); waveform synthesis comes with the measurement work.

pub mod load;
pub mod pdu;
pub mod rng;
pub mod sensor;
pub mod source;

pub use load::{LoadModel, LoadSpec};
pub use pdu::{Actuation, LoadReading, Pdu, PduSpec, Readings, SourceId, SourceReading};
pub use sensor::SensorFault;
pub use source::{SourceKind, SourceSpec};
