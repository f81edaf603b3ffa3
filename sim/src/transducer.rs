//! Sensor chains: a transducer (hall-effect or clamp-on current sensor, voltage transformer
//! module) followed by an ADC, as wired to the Pi. The twin's true waveform goes in, ADC codes
//! come out, with the datasheet's sensitivity, bias, noise and range plus whatever gain, offset
//! and phase error the scenario gives the individual part.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// The transducer type, with its datasheet figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub enum Transducer {
    /// Reads the quantity itself, in volts or amps, and bypasses the ADC.
    #[default]
    Ideal,
    /// Allegro ACS712 hall-effect sensor, 5 V supply: `amps` is the part's range, 5, 20 or 30.
    Acs712 { amps: u8 },
    /// YHDC SCT-013 clamp with built-in burden: 1 V rms at `amps`, biased at half the ADC range.
    Sct013 { amps: f64 },
    /// ZMPT101B voltage transformer module: `volts` rms in gives 1 V rms out (its trimmer sets
    /// this), biased at half the ADC range.
    Zmpt101b { volts: f64 },
}

/// One analog front end as installed: the part and its individual errors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorChain {
    pub kind: Transducer,
    /// Sensitivity error, as a fraction (0.015: reads 1.5 % high).
    pub gain_error: f64,
    /// Zero offset at the transducer output, V (for `Ideal`: in the quantity's own units).
    pub offset: f64,
    /// Phase lag of the output at the fundamental, degrees (a current transformer's phase error).
    pub phase_deg: f64,
    /// Output noise, V rms (for `Ideal`: the quantity's units); none: the datasheet's typical.
    pub noise: Option<f64>,
}

/// A unipolar successive-approximation ADC (MCP3208-like): codes 0 ..= 2^bits - 1 over 0 ..= vref.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Adc {
    pub bits: u8,
    pub vref: f64,
}

impl Default for Adc {
    fn default() -> Self {
        Adc {
            bits: 12,
            vref: 5.0,
        }
    }
}

impl Adc {
    pub fn full_scale(&self) -> f64 {
        f64::from((1u32 << self.bits.clamp(1, 24)) - 1)
    }
}

/// How a reading maps back to the quantity with nominal (datasheet) figures: the quantity is
/// `per_count * (code - zero)`. This is what an installer configures before field calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub per_count: f64,
    pub zero: f64,
}

impl SensorChain {
    /// Output volts per unit of the quantity, and the output at zero.
    fn transfer(&self, adc: &Adc) -> (f64, f64) {
        match self.kind {
            Transducer::Ideal => (1.0, 0.0),
            // The ACS712 is ratiometric to its 5 V supply: zero current reads 2.5 V.
            Transducer::Acs712 { amps } => (acs712_sensitivity(amps), 2.5),
            Transducer::Sct013 { amps } => (1.0 / amps.max(1e-9), adc.vref / 2.0),
            Transducer::Zmpt101b { volts } => (1.0 / volts.max(1e-9), adc.vref / 2.0),
        }
    }

    /// The datasheet's typical output noise, V rms (peak-to-peak over 6 for the ACS712).
    fn typical_noise(&self) -> f64 {
        match self.kind {
            Transducer::Acs712 { amps } => match amps {
                0..=5 => 0.021 / 6.0,
                6..=20 => 0.011 / 6.0,
                _ => 0.007 / 6.0,
            },
            // Passive clamps and the transformer module: below a 12-bit step.
            _ => 0.0,
        }
    }

    pub fn noise_rms(&self) -> f64 {
        self.noise.unwrap_or_else(|| self.typical_noise())
    }

    pub fn phase_rad(&self) -> f64 {
        self.phase_deg.to_radians()
    }

    /// Whether samples go through the ADC.
    pub fn digitized(&self) -> bool {
        self.kind != Transducer::Ideal
    }

    /// The chain's figures resolved for fast per-sample reads.
    pub fn resolve(&self, adc: &Adc) -> Channel {
        let (sens, bias) = self.transfer(adc);
        Channel {
            gain: sens * (1.0 + self.gain_error),
            zero: bias + self.offset,
            noise: self.noise_rms(),
            counts_per_volt: if self.digitized() {
                adc.full_scale() / adc.vref
            } else {
                0.0
            },
            full: adc.full_scale(),
        }
    }

    /// The nominal conversion back from readings to the quantity.
    pub fn nominal_scale(&self, adc: &Adc) -> Scale {
        if !self.digitized() {
            return Scale {
                per_count: 1.0,
                zero: 0.0,
            };
        }
        let (sens, bias) = self.transfer(adc);
        let full = adc.full_scale();
        Scale {
            per_count: adc.vref / full / sens,
            zero: bias / adc.vref * full,
        }
    }

    /// The largest instantaneous magnitude the chain passes before the ADC clips.
    pub fn range(&self, adc: &Adc) -> f64 {
        if !self.digitized() {
            return f64::INFINITY;
        }
        let (sens, bias) = self.transfer(adc);
        bias.min(adc.vref - bias) / sens
    }
}

/// A sensor chain ready to read samples.
#[derive(Debug, Clone, Copy)]
pub struct Channel {
    gain: f64,
    zero: f64,
    noise: f64,
    /// Zero for an ideal chain (no ADC).
    counts_per_volt: f64,
    full: f64,
}

impl Channel {
    /// The reading for an instantaneous value `x` of the quantity: an ADC code, or for an ideal
    /// chain the value itself (with any offset and noise).
    #[inline]
    pub fn read(&self, x: f64, rng: &mut SplitMix64) -> f64 {
        let mut out = self.zero + self.gain * x;
        if self.noise > 0.0 {
            out += self.noise * rng.normal();
        }
        if self.counts_per_volt == 0.0 {
            return out;
        }
        (out * self.counts_per_volt).round().clamp(0.0, self.full)
    }
}

fn acs712_sensitivity(amps: u8) -> f64 {
    match amps {
        0..=5 => 0.185,
        6..=20 => 0.100,
        _ => 0.066,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acs712_20a_reads_back_through_its_nominal_scale() {
        let chain = SensorChain {
            kind: Transducer::Acs712 { amps: 20 },
            noise: Some(0.0),
            ..Default::default()
        };
        let adc = Adc::default();
        let scale = chain.nominal_scale(&adc);
        // 100 mV/A around 2.5 V on a 12-bit, 5 V converter: 12.2 mA per count.
        assert!((scale.per_count - 5.0 / 4095.0 / 0.1).abs() < 1e-12);
        for amps in [-20.0, -3.3, 0.0, 7.7, 24.0] {
            let code = chain.resolve(&adc).read(amps, &mut SplitMix64::new(0));
            let back = scale.per_count * (code - scale.zero);
            assert!((back - amps).abs() <= scale.per_count, "{amps} -> {back}");
        }
        // 25 A is the end of the range: beyond it the converter clips.
        assert!((chain.range(&adc) - 25.0).abs() < 1e-9);
        assert_eq!(
            chain.resolve(&adc).read(40.0, &mut SplitMix64::new(0)),
            4095.0
        );
        assert_eq!(
            chain.resolve(&adc).read(-40.0, &mut SplitMix64::new(0)),
            0.0
        );
    }

    #[test]
    fn gain_error_shows_through_the_nominal_scale() {
        let chain = SensorChain {
            kind: Transducer::Sct013 { amps: 30.0 },
            gain_error: 0.02,
            noise: Some(0.0),
            ..Default::default()
        };
        let adc = Adc {
            bits: 16,
            vref: 3.3,
        };
        let s = chain.nominal_scale(&adc);
        let back = s.per_count * (chain.resolve(&adc).read(10.0, &mut SplitMix64::new(0)) - s.zero);
        assert!((back / 10.0 - 1.02).abs() < 1e-3, "{back}");
    }
}
