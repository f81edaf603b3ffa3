//! Sources: the utility mains and a backup (generator or inverter), each a Thevenin equivalent whose
//! EMF follows its own dynamics and whatever disturbance the timeline injects.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    pub kind: SourceKind,
    /// Thevenin resistance seen from the bus, ohms.
    #[serde(default = "default_r")]
    pub r_ohm: f64,
    /// Thevenin reactance seen from the bus, ohms.
    #[serde(default = "default_x")]
    pub x_ohm: f64,
}

fn default_r() -> f64 {
    0.05
}
fn default_x() -> f64 {
    0.05
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SourceKind {
    /// Always there unless an outage is injected.
    Utility,
    /// A standby generator or a battery inverter: it runs only while its start signal is held.
    Generator {
        rating_kw: f64,
        /// Cranking time from the start signal until the voltage begins to build, s.
        #[serde(default = "default_start_delay")]
        start_delay: f64,
        /// Time for voltage and frequency to ramp from zero to nominal, s.
        #[serde(default = "default_ramp")]
        ramp: f64,
        /// Voltage drop per unit of overload (0.5: 20 % over rating sags the voltage 10 %).
        #[serde(default = "default_v_droop")]
        v_droop: f64,
        /// Frequency drop per unit of overload, as a fraction of nominal.
        #[serde(default = "default_f_droop")]
        f_droop: f64,
    },
}

fn default_start_delay() -> f64 {
    5.0
}
fn default_ramp() -> f64 {
    2.0
}
fn default_v_droop() -> f64 {
    0.5
}
fn default_f_droop() -> f64 {
    0.1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GenState {
    Stopped,
    Cranking,
    Ramping,
    Running,
}

/// A disturbance in force on a source: its EMF is scaled (outage: 0) or its frequency set.
#[derive(Debug, Clone, Copy)]
struct Override {
    value: f64,
    until: f64,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub spec: SourceSpec,
    nominal_v: f64,
    nominal_hz: f64,
    gen_state: GenState,
    gen_since: f64,
    fail_to_start: bool,
    voltage: Option<Override>,
    frequency: Option<Override>,
}

impl Source {
    pub fn new(spec: SourceSpec, nominal_v: f64, nominal_hz: f64) -> Self {
        Self {
            spec,
            nominal_v,
            nominal_hz,
            gen_state: GenState::Stopped,
            gen_since: 0.0,
            fail_to_start: false,
            voltage: None,
            frequency: None,
        }
    }

    pub fn is_generator(&self) -> bool {
        matches!(self.spec.kind, SourceKind::Generator { .. })
    }

    pub fn gen_state(&self) -> GenState {
        self.gen_state
    }

    /// Scale the EMF to `pu` of its undisturbed value until `until` (infinity: for good).
    pub fn set_voltage_pu(&mut self, pu: f64, until: f64) {
        self.voltage = Some(Override { value: pu, until });
    }

    pub fn set_frequency(&mut self, hz: f64, until: f64) {
        self.frequency = Some(Override { value: hz, until });
    }

    /// The generator will crank but never build voltage.
    pub fn set_fail_to_start(&mut self, fail: bool) {
        self.fail_to_start = fail;
    }

    /// Advance generator dynamics; `start` is the controller's start signal.
    pub fn advance(&mut self, t: f64, start: bool) {
        if let Some(o) = self.voltage
            && t >= o.until
        {
            self.voltage = None;
        }
        if let Some(o) = self.frequency
            && t >= o.until
        {
            self.frequency = None;
        }
        let SourceKind::Generator {
            start_delay, ramp, ..
        } = self.spec.kind
        else {
            return;
        };
        let next = match (self.gen_state, start) {
            (_, false) => GenState::Stopped,
            (GenState::Stopped, true) => GenState::Cranking,
            (GenState::Cranking, true)
                if !self.fail_to_start && t - self.gen_since >= start_delay =>
            {
                GenState::Ramping
            }
            (GenState::Ramping, true) if t - self.gen_since >= ramp => GenState::Running,
            (s, true) => s,
        };
        if next != self.gen_state {
            self.gen_state = next;
            self.gen_since = t;
        }
    }

    /// Open-circuit EMF magnitude (V) and frequency (Hz), given the real power drawn last step.
    pub fn emf(&self, t: f64, load_w: f64) -> (f64, f64) {
        let (mut pu, mut f_pu) = match self.spec.kind {
            SourceKind::Utility => (1.0, 1.0),
            SourceKind::Generator {
                rating_kw,
                ramp,
                v_droop,
                f_droop,
                ..
            } => {
                let build = match self.gen_state {
                    GenState::Stopped | GenState::Cranking => 0.0,
                    GenState::Ramping if ramp > 0.0 => {
                        ((t - self.gen_since) / ramp).clamp(0.0, 1.0)
                    }
                    GenState::Ramping | GenState::Running => 1.0,
                };
                let overload = (load_w / (rating_kw * 1e3) - 1.0).max(0.0);
                (
                    build * (1.0 - v_droop * overload).max(0.0),
                    build * (1.0 - f_droop * overload).max(0.0),
                )
            }
        };
        if let Some(o) = self.voltage {
            pu *= o.value;
        }
        if let Some(o) = self.frequency {
            f_pu = if pu > 0.0 {
                o.value / self.nominal_hz
            } else {
                0.0
            };
        }
        if pu <= 0.0 {
            f_pu = 0.0;
        }
        (pu * self.nominal_v, f_pu * self.nominal_hz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator() -> Source {
        Source::new(
            SourceSpec {
                kind: SourceKind::Generator {
                    rating_kw: 10.0,
                    start_delay: 5.0,
                    ramp: 2.0,
                    v_droop: 0.5,
                    f_droop: 0.1,
                },
                r_ohm: 0.1,
                x_ohm: 0.1,
            },
            230.0,
            50.0,
        )
    }

    #[test]
    fn generator_cranks_ramps_and_runs() {
        let mut g = generator();
        let mut t = 0.0;
        while t < 10.0 {
            g.advance(t, true);
            t += 0.01;
        }
        assert_eq!(g.gen_state(), GenState::Running);
        assert_eq!(g.emf(t, 0.0), (230.0, 50.0));
        g.advance(t, false);
        assert_eq!(g.emf(t, 0.0).0, 0.0);
    }

    #[test]
    fn generator_sags_when_overloaded() {
        let mut g = generator();
        for i in 0..1000 {
            g.advance(i as f64 * 0.01, true);
        }
        let (v, f) = g.emf(10.0, 12_000.0); // 20 % overload
        assert!((v - 230.0 * 0.9).abs() < 1e-9);
        assert!((f - 50.0 * 0.98).abs() < 1e-9);
    }

    #[test]
    fn fail_to_start_never_builds_voltage() {
        let mut g = generator();
        g.set_fail_to_start(true);
        for i in 0..6000 {
            g.advance(i as f64 * 0.01, true);
        }
        assert_eq!(g.gen_state(), GenState::Cranking);
        assert_eq!(g.emf(60.0, 0.0).0, 0.0);
    }
}
