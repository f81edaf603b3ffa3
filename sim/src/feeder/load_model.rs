//! How a load's current follows its voltage: OpenDSS's load models, one phase at a time.

use num_complex::Complex64 as C64;

use super::model::{Generator, Load, LoadModel};
use super::network::ShuntPhase;

/// Below this voltage (pu) every model is its rated impedance, as OpenDSS's `vlowpu` default.
const VLOW_PU: f64 = 0.5;

/// The current a load phase draws at voltage `v` across it, as OpenDSS's load models give it
/// (its `Load.pas`): each model's law within [vminpu, vmaxpu]; above vmaxpu an impedance;
/// below vminpu a current falling linearly to the rated impedance's at 0.5 pu, and that
/// impedance below 0.5 pu. `sp` is the phase's shaped power, volt-amperes.
pub(super) fn load_current(s: &ShuntPhase, l: &Load, sp: C64, v: C64) -> C64 {
    // sqrt of the square: libm's hypot guards a range no voltage comes near, at a cost the sweep
    // pays on every load phase.
    let vmag = v.norm_sqr().sqrt();
    let vb = s.vbase;
    let yeq = sp.conj() / (vb * vb);
    let vlow = VLOW_PU * vb;
    if vmag == 0.0 || vmag <= vlow {
        return yeq * v;
    }
    let (v95, v105) = (l.vminpu * vb, l.vmaxpu * vb);
    let (low, high) = (vmag <= v95, vmag > v105);
    // The rated admittance scaled to draw rated power (or current) at vminpu and vmaxpu.
    let yeq95 = || {
        if l.vminpu == 0.0 {
            C64::new(0.0, 0.0)
        } else {
            yeq / (l.vminpu * l.vminpu)
        }
    };
    let yeq105 = |exponent: i32| {
        if l.vmaxpu == 0.0 {
            yeq
        } else {
            yeq / l.vmaxpu.powi(exponent)
        }
    };
    // Below vminpu: the admittance whose current falls linearly from `i95` at vminpu to the
    // rated impedance's at 0.5 pu.
    let interpolated = |i95: C64| {
        let ilow = yeq * vlow;
        (ilow + (i95 - ilow) * ((vmag - vlow) / (v95 - vlow))) / vmag
    };
    // Outside the band, as a constant power load and as a constant current load.
    let y_power = || {
        if low {
            interpolated(yeq95() * v95)
        } else {
            yeq105(2)
        }
    };
    let y_current = || {
        if low {
            interpolated(yeq * vb)
        } else {
            yeq105(1)
        }
    };
    let real = |p: f64| C64::new(p, 0.0);
    match l.model {
        LoadModel::ConstantImpedance => yeq * v,
        LoadModel::ConstantPower | LoadModel::Motor | LoadModel::Exponential { .. }
            if low || high =>
        {
            y_power() * v
        }
        LoadModel::ConstantPower => (sp / v).conj(),
        LoadModel::Motor => (real(sp.re) / v).conj() + C64::new(0.0, yeq.im) * v,
        LoadModel::Exponential { watts, vars } => {
            let r = vmag / vb;
            (C64::new(sp.re * r.powf(watts), sp.im * r.powf(vars)) / v).conj()
        }
        LoadModel::ConstantCurrent if low || high => y_current() * v,
        LoadModel::ConstantCurrent => (sp / v).conj() * (vmag / vb),
        LoadModel::FixedQ | LoadModel::FixedQImpedance => {
            // The rated kvar, which no load shape or scale changes.
            let q = l.kvar * 1000.0 / l.phases as f64;
            let yq = -q / (vb * vb);
            if low || high {
                C64::new(if low { yeq95().re } else { yeq105(2).re }, yq) * v
            } else if l.model == LoadModel::FixedQ {
                (C64::new(sp.re, q) / v).conj()
            } else {
                (real(sp.re) / v).conj() + C64::new(0.0, yq) * v
            }
        }
        LoadModel::Zip { p, q, cutoff_pu } => {
            let part = |y: C64, k: usize| C64::new(y.re * p[k], y.im * q[k]);
            let z = part(yeq, 0) * v;
            let (i, pw) = if low || high {
                (part(y_current(), 1) * v, part(y_power(), 2) * v)
            } else {
                let s = |k: usize| C64::new(sp.re * p[k], sp.im * q[k]);
                ((s(1) / v).conj() * (vmag / vb), (s(2) / v).conj())
            };
            let total = z + i + pw;
            if cutoff_pu > 0.0 {
                // OpenDSS's smooth drop-out: a logistic step 1/500 pu wide at the cutoff.
                total * (0.5 * (1.0 + (500.0 * (vmag / vb - cutoff_pu)).tanh()))
            } else {
                total
            }
        }
    }
}

/// The current a generator phase draws (negative: it delivers) at voltage `v` across it, as
/// OpenDSS's generator model 1 gives it: its output `sp` (W + j var) within
/// [vminpu, vmaxpu], and outside it the admittance that delivers that output at the limit.
pub(super) fn generator_current(s: &ShuntPhase, g: &Generator, sp: C64, v: C64) -> C64 {
    let vmag = v.norm_sqr().sqrt();
    if vmag == 0.0 {
        return C64::new(0.0, 0.0);
    }
    let vb = s.vbase;
    let yeq = sp.conj() / (vb * vb);
    let delivered = if vmag <= g.vminpu * vb {
        yeq / (g.vminpu * g.vminpu) * v
    } else if vmag > g.vmaxpu * vb {
        yeq / (g.vmaxpu * g.vmaxpu) * v
    } else {
        (sp / v).conj()
    };
    -delivered
}
