//! The ADS1115 through eldruin's `ads1x1x` driver: an input chosen at run time, its PGA range
//! and data rate, single-shot reads that wait out the conversion with the caller's delay, and
//! continuous sampling paced at the data rate; codes turned into volts at the input and then,
//! through each channel's calibration, into the sensor's quantity (volts or amps).

use ads1x1x::channel::{
    DifferentialA0A1, DifferentialA0A3, DifferentialA1A3, DifferentialA2A3, SingleA0, SingleA1,
    SingleA2, SingleA3,
};
use ads1x1x::ic::{Ads1115, Resolution16Bit};
use ads1x1x::mode::{Continuous, OneShot};
use ads1x1x::{Ads1x1x, DataRate16Bit, FullScaleRange, ModeChangeError, TargetAddr};
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use serde::{Deserialize, Serialize};

/// What the multiplexer connects to the ADC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    A0A1,
    A0A3,
    A1A3,
    A2A3,
    A0,
    A1,
    A2,
    A3,
}

/// The PGA's full-scale range, V.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Range {
    V6_144,
    V4_096,
    V2_048,
    V1_024,
    V0_512,
    V0_256,
}

impl Range {
    pub fn volts(self) -> f64 {
        match self {
            Range::V6_144 => 6.144,
            Range::V4_096 => 4.096,
            Range::V2_048 => 2.048,
            Range::V1_024 => 1.024,
            Range::V0_512 => 0.512,
            Range::V0_256 => 0.256,
        }
    }

    fn fsr(self) -> FullScaleRange {
        match self {
            Range::V6_144 => FullScaleRange::Within6_144V,
            Range::V4_096 => FullScaleRange::Within4_096V,
            Range::V2_048 => FullScaleRange::Within2_048V,
            Range::V1_024 => FullScaleRange::Within1_024V,
            Range::V0_512 => FullScaleRange::Within0_512V,
            Range::V0_256 => FullScaleRange::Within0_256V,
        }
    }
}

/// Samples per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rate {
    Sps8,
    Sps16,
    Sps32,
    Sps64,
    Sps128,
    Sps250,
    Sps475,
    Sps860,
}

impl Rate {
    pub fn sps(self) -> u32 {
        [8, 16, 32, 64, 128, 250, 475, 860][self as usize]
    }

    fn dr(self) -> DataRate16Bit {
        use DataRate16Bit::*;
        [Sps8, Sps16, Sps32, Sps64, Sps128, Sps250, Sps475, Sps860][self as usize]
    }
}

/// A sensor behind an ADC input: quantity = (volts - offset) * gain (an ACS712-05B at 5 V has
/// offset 2.5 V and gain 1/0.185 A/V; a ZMPT101B module is calibrated against a meter).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub gain: f64,
    pub offset: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            gain: 1.0,
            offset: 0.0,
        }
    }
}

impl Calibration {
    pub fn apply(&self, volts: f64) -> f64 {
        (volts - self.offset) * self.gain
    }
}

#[derive(Debug)]
pub enum AdcError<E> {
    I2c(E),
    /// The conversion did not finish in twice its nominal time (the part is not converting).
    Timeout,
}

impl<E> From<ads1x1x::Error<E>> for AdcError<E> {
    fn from(e: ads1x1x::Error<E>) -> Self {
        match e {
            ads1x1x::Error::I2C(e) => AdcError::I2c(e),
            // Only threshold setters return it; none is used here.
            ads1x1x::Error::InvalidInputData => AdcError::Timeout,
        }
    }
}

type Single<I> = Ads1x1x<I, Ads1115, Resolution16Bit, OneShot>;
type Streaming<I> = Ads1x1x<I, Ads1115, Resolution16Bit, Continuous>;

enum Mode<I> {
    Single(Single<I>),
    Streaming(Streaming<I>),
}

/// An ADS1115, single-shot between uses, its range and rate remembered so they are written only
/// when they change. A mode change that fails on the bus leaves the part in the mode it was in.
pub struct Adc<I: I2c> {
    /// Always Some between calls.
    mode: Option<Mode<I>>,
    range: Range,
    rate: Rate,
}

macro_rules! on_input {
    ($input:expr, $dev:ident) => {
        match $input {
            Input::A0A1 => $dev.read(DifferentialA0A1),
            Input::A0A3 => $dev.read(DifferentialA0A3),
            Input::A1A3 => $dev.read(DifferentialA1A3),
            Input::A2A3 => $dev.read(DifferentialA2A3),
            Input::A0 => $dev.read(SingleA0),
            Input::A1 => $dev.read(SingleA1),
            Input::A2 => $dev.read(SingleA2),
            Input::A3 => $dev.read(SingleA3),
        }
    };
}

impl<I: I2c> Adc<I> {
    /// The part at the ADDR pin's address, set to `rate` and the ±2.048 V range.
    pub fn new(i2c: I, pin: TargetAddr, rate: Rate) -> Result<Self, AdcError<I::Error>> {
        let mut dev = Ads1x1x::new_ads1115(i2c, pin);
        dev.set_data_rate(rate.dr())?;
        dev.set_full_scale_range(Range::V2_048.fsr())?;
        Ok(Adc {
            mode: Some(Mode::Single(dev)),
            range: Range::V2_048,
            rate,
        })
    }

    /// The part in single-shot mode.
    fn dev(&mut self) -> Result<&mut Single<I>, AdcError<I::Error>> {
        if let Some(Mode::Streaming(_)) = self.mode
            && let Some(Mode::Streaming(d)) = self.mode.take()
        {
            self.mode = Some(match d.into_one_shot() {
                Ok(d) => Mode::Single(d),
                Err(ModeChangeError::I2C(e, d)) => {
                    self.mode = Some(Mode::Streaming(d));
                    return Err(AdcError::I2c(e));
                }
            });
        }
        match &mut self.mode {
            Some(Mode::Single(d)) => Ok(d),
            _ => unreachable!("always a mode between calls, single-shot after the above"),
        }
    }

    fn streaming(&mut self) -> Result<&mut Streaming<I>, AdcError<I::Error>> {
        if let Some(Mode::Single(_)) = self.mode
            && let Some(Mode::Single(d)) = self.mode.take()
        {
            self.mode = Some(match d.into_continuous() {
                Ok(d) => Mode::Streaming(d),
                Err(ModeChangeError::I2C(e, d)) => {
                    self.mode = Some(Mode::Single(d));
                    return Err(AdcError::I2c(e));
                }
            });
        }
        match &mut self.mode {
            Some(Mode::Streaming(d)) => Ok(d),
            _ => unreachable!("always a mode between calls, continuous after the above"),
        }
    }

    fn set_range(&mut self, range: Range) -> Result<(), AdcError<I::Error>> {
        if range != self.range {
            self.dev()?.set_full_scale_range(range.fsr())?;
            self.range = range;
        }
        Ok(())
    }

    fn period_us(&self) -> u32 {
        1_000_000 / self.rate.sps()
    }

    /// One conversion of `input` at `range`, in volts at the input.
    pub fn read_volts(
        &mut self,
        input: Input,
        range: Range,
        delay: &mut impl DelayNs,
    ) -> Result<f64, AdcError<I::Error>> {
        self.set_range(range)?;
        let period_us = self.period_us();
        // Poll at a quarter period: the driver's first call starts the conversion.
        let poll_us = (period_us / 4).max(50);
        let mut waited = 0;
        let dev = self.dev()?;
        loop {
            match on_input!(input, dev) {
                Ok(code) => return Ok(f64::from(code) * range.volts() / 32768.0),
                Err(nb::Error::Other(e)) => return Err(e.into()),
                Err(nb::Error::WouldBlock) if waited > 2 * period_us + 100 => {
                    return Err(AdcError::Timeout);
                }
                Err(nb::Error::WouldBlock) => {
                    delay.delay_us(poll_us);
                    waited += poll_us;
                }
            }
        }
    }

    /// One conversion of a calibrated sensor.
    pub fn read(
        &mut self,
        input: Input,
        range: Range,
        cal: &Calibration,
        delay: &mut impl DelayNs,
    ) -> Result<f64, AdcError<I::Error>> {
        Ok(cal.apply(self.read_volts(input, range, delay)?))
    }

    /// `out.len()` conversions of `input` in continuous mode, one per period, in volts: a
    /// waveform at up to 860 samples/s. Paced by `delay`; on a Pi the ALERT/RDY pin in its
    /// conversion-ready mode paces more tightly than a sleep can. The part returns to
    /// single-shot (power-down) afterwards.
    pub fn sample(
        &mut self,
        input: Input,
        range: Range,
        out: &mut [f64],
        delay: &mut impl DelayNs,
    ) -> Result<(), AdcError<I::Error>> {
        self.set_range(range)?;
        let period_us = self.period_us();
        let dev = self.streaming()?;
        select(dev, input)?;
        // The conversion under way when the channel changed still has the old input.
        delay.delay_us(2 * period_us);
        for x in out.iter_mut() {
            *x = f64::from(dev.read()?) * range.volts() / 32768.0;
            delay.delay_us(period_us);
        }
        // Power down again; a failure here is retried by the next single-shot read.
        let _ = self.dev();
        Ok(())
    }

    /// The bus back.
    pub fn release(self) -> I {
        match self.mode {
            Some(Mode::Single(d)) => d.destroy_ads1115(),
            Some(Mode::Streaming(d)) => d.destroy_ads1115(),
            None => unreachable!("always a mode between calls"),
        }
    }
}

fn select<I: I2c>(dev: &mut Streaming<I>, input: Input) -> Result<(), AdcError<I::Error>> {
    Ok(match input {
        Input::A0A1 => dev.select_channel(DifferentialA0A1),
        Input::A0A3 => dev.select_channel(DifferentialA0A3),
        Input::A1A3 => dev.select_channel(DifferentialA1A3),
        Input::A2A3 => dev.select_channel(DifferentialA2A3),
        Input::A0 => dev.select_channel(SingleA0),
        Input::A1 => dev.select_channel(SingleA1),
        Input::A2 => dev.select_channel(SingleA2),
        Input::A3 => dev.select_channel(SingleA3),
    }?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const A: u8 = 0x48;

    /// A single-shot read at ±4.096 V and 860 SPS, byte for byte as the datasheet's register
    /// writes and reads: range and rate set, the conversion started with OS, polled until OS
    /// reads 1, the conversion register read.
    #[test]
    fn a_single_shot_read_is_these_transactions() {
        // Config: OS=1, MUX=100 (AIN0), PGA=001 (4.096), MODE=1, DR=111 (860), comparator off.
        let cfg = |os: u16, pga: u16| {
            (os << 15) | (0b100 << 12) | (pga << 9) | (1 << 8) | (0b111 << 5) | 0b11
        };
        let be = |x: u16| x.to_be_bytes().to_vec();
        let expect = [
            // new(): the rate, then the default ±2.048 V range (both keep the power-on OS bit).
            T::write(A, [vec![1], be(0x85e3)].concat()),
            T::write(A, [vec![1], be(0x85e3)].concat()),
            // The range for this read.
            T::write(A, [vec![1], be(0x83e3)].concat()),
            // Not converting: start one on AIN0.
            T::write_read(A, vec![1], be(0x83e3)),
            T::write(A, [vec![1], be(cfg(1, 0b001))].concat()),
            // Converting (OS reads 0), then done.
            T::write_read(A, vec![1], be(cfg(0, 0b001) & 0x7fff)),
            T::write_read(A, vec![1], be(cfg(1, 0b001))),
            // The conversion register: 0x4000, half of full scale.
            T::write_read(A, vec![0], be(0x4000)),
        ];
        let mut bus = Mock::new(&expect);
        let mut adc = Adc::new(bus.clone(), TargetAddr::Gnd, Rate::Sps860).unwrap();
        let v = adc
            .read_volts(Input::A0, Range::V4_096, &mut NoopDelay::new())
            .unwrap();
        assert_eq!(v, 2.048);
        adc.release();
        bus.done();
    }
}
