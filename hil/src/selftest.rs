//! The bench test: scan the bus and identify every device the bench lists, read each channel at
//! no load, click each relay (asking first), and say pass or fail for each; and calibration of
//! one channel against a reference meter. Generic over the HAL, so the same code runs on a Pi
//! and against `emulated::bench::emulate`.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::i2c::I2c;

use crate::ads1115::{Adc, AdcError};
use crate::bench::{Bench, Circuit, Located};
use crate::node::{self, Calibration, Node};

/// One line of the pass/fail table.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub item: String,
    pub pass: bool,
    pub detail: String,
}

/// The Pi's side of the bench.
pub struct Hardware<'a, I, P, D> {
    pub i2c: &'a mut I,
    pub outputs: &'a mut [P],
    pub heartbeat: &'a mut P,
    pub delay: &'a mut D,
}

/// A no-load current above this share of the sensor's range is a fault (a miswired or
/// unbiased channel), not noise.
const NO_LOAD_SHARE: f64 = 0.02;

impl<I: I2c, P: OutputPin, D: DelayNs> Hardware<'_, I, P, D> {
    /// Wait `ms` while keeping the relay board's watchdog fed.
    fn wait(&mut self, ms: u32, beat: &mut bool) {
        for _ in 0..ms.div_ceil(50) {
            *beat = !*beat;
            let _ = if *beat {
                self.heartbeat.set_high()
            } else {
                self.heartbeat.set_low()
            };
            self.delay.delay_ms(50);
        }
    }

    /// Run the bench test. `ask` is asked before each relay clicks (say yes for all with
    /// `--yes`); `contact` reports the contact a relay made, where it can be seen (the
    /// emulated board), after each step of the click.
    pub fn selftest(
        &mut self,
        bench: &Bench,
        ask: &mut dyn FnMut(&str) -> bool,
        contact: &mut dyn FnMut(usize) -> Option<bool>,
    ) -> Vec<Check> {
        let mut out = Vec::new();
        let mut beat = false;
        // Devices: every listed one must answer as what it is.
        let found = node::scan(self.i2c);
        let mut nodes = Vec::new();
        for cfg in &bench.nodes {
            let item = format!("node {:#04x}", cfg.address);
            match found.iter().find(|(a, _)| *a == cfg.address) {
                Some((_, Ok((n, id)))) if usize::from(n.channels) >= cfg.channels.len() => {
                    out.push(Check {
                        item,
                        pass: true,
                        detail: format!(
                            "{} channels, firmware {}.{}",
                            id.channels, id.firmware.0, id.firmware.1
                        ),
                    });
                    nodes.push(Some(*n));
                }
                Some((_, Ok((n, _)))) => {
                    out.push(Check {
                        item,
                        pass: false,
                        detail: format!(
                            "has {} channels, the bench lists {}",
                            n.channels,
                            cfg.channels.len()
                        ),
                    });
                    nodes.push(None);
                }
                Some((_, Err(e))) => {
                    out.push(Check {
                        item,
                        pass: false,
                        detail: e.to_string(),
                    });
                    nodes.push(None);
                }
                None => {
                    out.push(Check {
                        item,
                        pass: false,
                        detail: "does not answer".into(),
                    });
                    nodes.push(None);
                }
            }
        }
        let listed = |a: u8| {
            bench.nodes.iter().any(|n| n.address == a)
                || bench.adcs.iter().any(|x| x.address == a)
                || bench.meters.iter().any(|x| x.address == a)
        };
        for (a, _) in found.iter().filter(|(a, _)| !listed(*a)) {
            out.push(Check {
                item: format!("device {a:#04x}"),
                pass: true,
                detail: "answers but is not in the bench".into(),
            });
        }
        // No-load readings, after enough windows to be whole.
        self.wait(600, &mut beat);
        for (cfg, n) in bench.nodes.iter().zip(&nodes) {
            let Some(n) = n else { continue };
            for (ch, circuit) in cfg.channels.iter().enumerate() {
                let item = format!("{} current ({:#04x}/{ch})", circuit.name(), cfg.address);
                out.push(match n.values(self.i2c, ch as u8) {
                    Ok(v) => {
                        let limit = NO_LOAD_SHARE * cfg.i_peak_a / std::f64::consts::SQRT_2;
                        Check {
                            item,
                            pass: v.i_rms <= limit,
                            detail: format!("{:.3} A at no load (limit {limit:.2} A)", v.i_rms),
                        }
                    }
                    Err(e) => Check {
                        item,
                        pass: false,
                        detail: e.to_string(),
                    },
                });
            }
            let item = format!("{} voltage ({:#04x})", cfg.voltage.name(), cfg.address);
            out.push(match n.values(self.i2c, 0) {
                Ok(v) => {
                    let pu = v.v_rms / bench.nominal_v;
                    let dead = pu < 0.05;
                    let normal =
                        (0.85..=1.10).contains(&pu) && (v.hz / bench.nominal_hz - 1.0).abs() < 0.02;
                    // A backup that is not running reads dead; anything else reads normal.
                    let expect_dead = cfg.voltage == Circuit::Backup;
                    Check {
                        item,
                        pass: normal || (dead && expect_dead),
                        detail: format!("{:.1} V, {:.2} Hz", v.v_rms, v.hz),
                    }
                }
                Err(e) => Check {
                    item,
                    pass: false,
                    detail: e.to_string(),
                },
            });
        }
        for cfg in &bench.adcs {
            let mut adc = match Adc::new(&mut *self.i2c, address_pin(cfg.address), cfg.rate) {
                Ok(a) => a,
                Err(e) => {
                    out.push(Check {
                        item: format!("ADS1115 {:#04x}", cfg.address),
                        pass: false,
                        detail: adc_error(&e),
                    });
                    continue;
                }
            };
            for input in &cfg.inputs {
                let item = format!("{} ({:#04x} {:?})", input.name, cfg.address, input.input);
                out.push(match adc.read_volts(input.input, input.range, self.delay) {
                    Ok(v) => Check {
                        item,
                        pass: v.abs() < input.range.volts() * 0.999,
                        detail: format!(
                            "{v:.4} V at the input, {:.4} calibrated",
                            input.cal.apply(v)
                        ),
                    },
                    Err(e) => Check {
                        item,
                        pass: false,
                        detail: adc_error(&e),
                    },
                });
            }
        }
        // Meters: each input's zero (the mean of a second of samples: an AC sensor averages to
        // its bias) against the bench's, and its reading at no load.
        for cfg in &bench.meters {
            for k in 0..=cfg.currents.len() {
                let input = cfg.input(k);
                let item = format!(
                    "{} {} ({:#04x} {:?})",
                    input.circuit.name(),
                    if k == 0 { "voltage" } else { "current" },
                    cfg.address,
                    input.input
                );
                out.push(
                    match self.meter_input(cfg.address, input.input, cfg.range, 1.0) {
                        Ok((zero, ac)) => {
                            let rms = ac * input.cal.gain;
                            let drift = (zero - input.cal.offset).abs();
                            let zero_ok = drift <= 0.02 * cfg.range.volts();
                            let (pass, reading) = if k == 0 {
                                let pu = rms / bench.nominal_v;
                                let expect_dead = input.circuit == Circuit::Backup;
                                let ok = (0.85..=1.10).contains(&pu) || (expect_dead && pu < 0.05);
                                (ok, format!("{rms:.1} V"))
                            } else {
                                let full = crate::bench::METER_SWING_V * input.cal.gain
                                    / std::f64::consts::SQRT_2;
                                (
                                    rms <= NO_LOAD_SHARE * full,
                                    format!("{rms:.3} A at no load"),
                                )
                            };
                            Check {
                                item,
                                pass: pass && zero_ok,
                                detail: format!(
                                    "{reading}; zero at {zero:.4} V (bench {:.4} V)",
                                    input.cal.offset
                                ),
                            }
                        }
                        Err(e) => Check {
                            item,
                            pass: false,
                            detail: adc_error(&e),
                        },
                    },
                );
            }
        }
        // Relays: each energized for 300 ms, the others at rest.
        // At rest no coil is energized.
        let active_low = bench.relays.active_low;
        for p in self.outputs.iter_mut() {
            let _ = coil(p, false, active_low);
        }
        for (k, o) in bench.relays.outputs.iter().enumerate() {
            let item = format!("relay BCM {} ({:?}, {:?})", o.pin, o.drives, o.contact);
            if !ask(&format!("Click relay BCM {} ({:?})?", o.pin, o.drives)) {
                out.push(Check {
                    item,
                    pass: true,
                    detail: "skipped".into(),
                });
                continue;
            }
            self.wait(100, &mut beat);
            let before = contact(k);
            let on = coil(&mut self.outputs[k], true, active_low);
            self.wait(300, &mut beat);
            let during = contact(k);
            let off = coil(&mut self.outputs[k], false, active_low);
            self.wait(100, &mut beat);
            let after = contact(k);
            let driven = on.is_ok() && off.is_ok();
            let (pass, detail) = match (before, during, after) {
                (Some(b), Some(d), Some(a)) => (
                    driven && b != d && a == b,
                    format!("contact {} → {} → {}", made(b), made(d), made(a)),
                ),
                _ => (driven, "driven; listen for the click".into()),
            };
            out.push(Check { item, pass, detail });
        }
        out
    }

    /// Read `channel` (as `Bench::find` names it) over `windows` windows and set its
    /// calibration so that it reads `reference`; the node's EEPROM is written too. Returns the
    /// reading before and the new calibration.
    pub fn calibrate(
        &mut self,
        bench: &mut Bench,
        channel: &str,
        reference: f64,
        windows: u32,
    ) -> Result<(f64, String), String> {
        let located = bench
            .find(channel)
            .ok_or_else(|| format!("no channel {channel:?} in the bench"))?;
        let named = |e: String| format!("{channel}: {e}");
        match located {
            Located::NodeVoltage { node } => self
                .calibrate_node(bench, node, None, reference, windows)
                .map_err(named),
            Located::NodeCurrent { node, ch } => self
                .calibrate_node(bench, node, Some(ch), reference, windows)
                .map_err(named),
            Located::Meter { meter, input } => {
                let cfg = &bench.meters[meter];
                let (address, range, which) = (cfg.address, cfg.range, cfg.input(input).input);
                let seconds = 0.2 * f64::from(windows.max(1));
                let (zero, ac) = self
                    .meter_input(address, which, range, seconds)
                    .map_err(|e| named(adc_error(&e)))?;
                if ac <= 1e-4 {
                    return Err(format!("{channel} reads zero: apply a known input first"));
                }
                let cal = &mut bench.meters[meter].input_mut(input).cal;
                let reading = ac * cal.gain;
                // The zero is measured, whatever the load: an AC signal averages to its bias.
                cal.offset = zero;
                cal.gain = reference / ac;
                Ok((
                    reading,
                    format!("gain {:.6}, zero {:.4} V measured", cal.gain, cal.offset),
                ))
            }
            Located::Adc { adc, input } => {
                let cfg = &mut bench.adcs[adc];
                let mut a = Adc::new(&mut *self.i2c, address_pin(cfg.address), cfg.rate)
                    .map_err(|e| adc_error(&e))?;
                let inp = &mut cfg.inputs[input];
                let mut sum = 0.0;
                for _ in 0..windows.max(1) {
                    let v = a
                        .read(inp.input, inp.range, &inp.cal, self.delay)
                        .map_err(|e| adc_error(&e))?;
                    sum += v;
                }
                let reading = sum / f64::from(windows.max(1));
                if reading == 0.0 {
                    return Err(format!("{channel} reads zero: apply a known input first"));
                }
                inp.cal.gain *= reference / reading;
                Ok((
                    reading,
                    format!("gain {:.6}, offset {:.4} V", inp.cal.gain, inp.cal.offset),
                ))
            }
        }
    }

    /// A meter's input sampled continuously at 860/s for `seconds`: its mean (the sensor's zero)
    /// and the RMS of the rest, the conversion's averaging divided out at the nominal 50 Hz.
    fn meter_input(
        &mut self,
        address: u8,
        input: crate::ads1115::Input,
        range: crate::ads1115::Range,
        seconds: f64,
    ) -> Result<(f64, f64), AdcError<I::Error>> {
        use crate::ads1115::Rate;
        let mut adc = Adc::new(&mut *self.i2c, address_pin(address), Rate::Sps860)?;
        // Whole cycles at 50 Hz and 60 Hz: a multiple of 0.1 s.
        let n = ((seconds * 10.0).round().max(1.0) * 86.0) as usize;
        let mut volts = vec![0.0; n];
        adc.sample(input, range, &mut volts, self.delay)?;
        let mean = volts.iter().sum::<f64>() / n as f64;
        let ac = (volts.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let x = std::f64::consts::PI * 50.0 / 860.0;
        Ok((mean, ac * x / x.sin()))
    }

    /// A node's voltage (`ch` None) or current channel against a reference.
    fn calibrate_node(
        &mut self,
        bench: &mut Bench,
        node: usize,
        ch: Option<u8>,
        reference: f64,
        windows: u32,
    ) -> Result<(f64, String), String> {
        let mut beat = false;
        let cfg = &mut bench.nodes[node];
        let (n, _) = Node::identify(self.i2c, cfg.address).map_err(|e| e.to_string())?;
        let mut sum = 0.0;
        for _ in 0..windows.max(1) {
            self.wait(200, &mut beat);
            let v = n
                .values(self.i2c, ch.unwrap_or(0))
                .map_err(|e| e.to_string())?;
            sum += if ch.is_none() { v.v_rms } else { v.i_rms };
        }
        let reading = sum / f64::from(windows.max(1));
        if reading <= 0.0 {
            let what = if ch.is_none() { "voltage" } else { "load" };
            return Err(format!("it reads zero: apply a known {what} first"));
        }
        let old = match ch {
            None => cfg.voltage_cal,
            Some(ch) => cfg
                .channel_cal
                .get(usize::from(ch))
                .copied()
                .unwrap_or_default(),
        };
        let new = Calibration {
            gain_ppm: ((reference / reading * old.factor() - 1.0) * 1e6).round() as i32,
            offset: old.offset,
        };
        match ch {
            None => {
                n.set_voltage_calibration(self.i2c, new)
                    .map_err(|e| e.to_string())?;
                cfg.voltage_cal = new;
            }
            Some(ch) => {
                n.set_calibration(self.i2c, ch, new)
                    .map_err(|e| e.to_string())?;
                let ch = usize::from(ch);
                if cfg.channel_cal.len() <= ch {
                    cfg.channel_cal.resize(ch + 1, Calibration::default());
                }
                cfg.channel_cal[ch] = new;
            }
        }
        Ok((
            reading,
            format!("gain {} ppm, offset {}", new.gain_ppm, new.offset),
        ))
    }
}

/// Drive a coil's pin: energized is low on an active-low board.
fn coil<P: OutputPin>(pin: &mut P, energized: bool, active_low: bool) -> Result<(), P::Error> {
    if energized != active_low {
        pin.set_high()
    } else {
        pin.set_low()
    }
}

fn made(closed: bool) -> &'static str {
    if closed { "made" } else { "open" }
}

fn address_pin(address: u8) -> ads1x1x::TargetAddr {
    use ads1x1x::TargetAddr::*;
    match address {
        0x49 => Vdd,
        0x4a => Sda,
        0x4b => Scl,
        _ => Gnd,
    }
}

fn adc_error<E: embedded_hal::i2c::Error>(e: &AdcError<E>) -> String {
    match e {
        AdcError::I2c(e) => format!("bus: {}", e.kind()),
        AdcError::Timeout => "no conversion finished in twice its time".into(),
    }
}

/// The table as printed: one line per check, then the verdict.
pub fn table(checks: &[Check]) -> String {
    let width = checks
        .iter()
        .map(|c| c.item.chars().count())
        .max()
        .unwrap_or(0);
    let mut s = String::new();
    for c in checks {
        s.push_str(&format!(
            "{}  {:width$}  {}\n",
            if c.pass { "PASS" } else { "FAIL" },
            c.item,
            c.detail
        ));
    }
    let failed = checks.iter().filter(|c| !c.pass).count();
    s.push_str(&format!("{} checks, {failed} failed\n", checks.len()));
    s
}
