//! The relay board as a bench file lays it out: each output's coil for a contactor, the
//! generator's start contact or a load, through its normally open or closed contact, on GPIO
//! (`hil::RelayBank`), and the heartbeat the board's watchdog needs. Generic over
//! embedded-hal's `OutputPin`, so the same code drives a Pi's pins and the emulation's; both
//! `hardware` (nodes and ADS1115s measure) and `metered_site` (Modbus meters measure) drive
//! their relays through it.

use std::collections::BTreeMap;

use embedded_hal::digital::OutputPin;
use hil::bench::{Bench, Drive};
use hil::{Contact, Polarity, RelayBank};

use control_core::Commands;

/// What an output's coil is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Coil {
    Main,
    Backup,
    Start,
    Load(usize),
}

/// Each of the bench's outputs: its coil, and whether its contact is normally closed. Both
/// contactors and every load of `names` driven exactly once.
pub(crate) fn coils(bench: &Bench, names: &[String]) -> Result<Vec<(Coil, bool)>, String> {
    let mut driven = BTreeMap::new();
    let mut coils = Vec::with_capacity(bench.relays.outputs.len());
    for o in &bench.relays.outputs {
        let coil = match &o.drives {
            Drive::MainContactor => Coil::Main,
            Drive::BackupContactor => Coil::Backup,
            Drive::GeneratorStart => Coil::Start,
            Drive::Load(n) => Coil::Load(names.iter().position(|x| x == n).ok_or_else(|| {
                format!(
                    "relay pin {} names load {n:?}, which the site does not have",
                    o.pin
                )
            })?),
        };
        if let Some(pin) = driven.insert(coil, o.pin) {
            return Err(format!(
                "relay pins {pin} and {} drive the same thing",
                o.pin
            ));
        }
        coils.push((coil, o.contact == Contact::NormallyClosed));
    }
    let undriven = |what: &str| format!("no relay output drives {what}");
    for (c, what) in [
        (Coil::Main, "the main contactor"),
        (Coil::Backup, "the backup contactor"),
    ]
    .into_iter()
    .chain((0..names.len()).map(|i| (Coil::Load(i), names[i].as_str())))
    {
        if !coils.iter().any(|(k, _)| *k == c) {
            return Err(undriven(what));
        }
    }
    Ok(coils)
}

/// The outputs, at rest (no coil energized) from the start and again when dropped: the
/// contacts fall to their wiring (the main closed, critical loads on), as the relay board's
/// watchdog would a moment later.
pub struct RelayOutputs<P: OutputPin> {
    bank: RelayBank<P>,
    heartbeat: P,
    beat: bool,
    pub(crate) wiring: Vec<(Coil, bool)>,
    energized: Vec<bool>,
}

impl<P: OutputPin> RelayOutputs<P> {
    /// `pins` in the bench's output order.
    pub fn new(
        bench: &Bench,
        names: &[String],
        pins: Vec<P>,
        heartbeat: P,
    ) -> Result<Self, String> {
        let wiring = coils(bench, names)?;
        if pins.len() != wiring.len() {
            return Err(format!(
                "{} output pins for {} relay outputs",
                pins.len(),
                wiring.len()
            ));
        }
        let polarity = if bench.relays.active_low {
            Polarity::ActiveLow
        } else {
            Polarity::ActiveHigh
        };
        let mut bank = RelayBank::new(pins.into_iter().map(|p| (p, false)), polarity);
        bank.fail_safe()
            .map_err(|e| format!("relay outputs: {e:?}"))?;
        Ok(RelayOutputs {
            bank,
            heartbeat,
            beat: false,
            wiring,
            energized: Vec::new(),
        })
    }

    /// Coils for the wanted states (a normally closed contact opens when its coil is
    /// energized), and a heartbeat edge.
    pub fn drive(&mut self, c: &Commands) {
        self.energized.clear();
        self.energized.extend(self.wiring.iter().map(|&(coil, nc)| {
            let closed = match coil {
                Coil::Main => c.main_closed,
                Coil::Backup => c.backup_closed,
                Coil::Start => c.backup_start,
                Coil::Load(i) => c.relays[i],
            };
            closed != nc
        }));
        // rppal's and the emulation's pin writes cannot fail (their error is `Infallible`).
        let _ = self.bank.apply(&self.energized);
        self.beat = !self.beat;
        let _ = if self.beat {
            self.heartbeat.set_high()
        } else {
            self.heartbeat.set_low()
        };
    }
}

impl<P: OutputPin> Drop for RelayOutputs<P> {
    fn drop(&mut self) {
        let _ = self.bank.fail_safe();
    }
}
