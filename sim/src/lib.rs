//! The grid twin. It knows nothing of the controller: it takes actuations (contactor and relay
//! positions, a generator start signal), advances physical time and reports what its sensors read.
//!
//! The physics is solved per control step as RMS phasors (`pdu`); `waveform` turns each step's
//! solution into sampled waveforms with harmonics, noise and sensor chains (`transducer`).

pub mod dss;
pub mod feeder;
pub mod harmonics;
pub mod home;
pub mod link;
pub mod load;
pub mod panel;
pub mod pdu;
pub mod rng;
pub mod sensor;
pub mod source;
pub mod transducer;
pub mod waveform;

pub use load::{Harmonics, Leg, LoadModel, LoadSpec};
pub use pdu::{Actuation, Pdu, PduSpec};
pub use sensor::SensorFault;
pub use source::{SourceKind, SourceSpec};
pub use transducer::{Adc, SensorChain, Transducer};
pub use waveform::{Frame, Synth, WaveformSpec};
