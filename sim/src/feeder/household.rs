//! Generated household load profiles: one-minute kW series for a day from a seed, built from a
//! base load, a cycling fridge and appliance uses that cluster in the morning and evening, to
//! stand beside the IEEE European LV feeder's 100 measured profiles in generated streets.

use super::model::LoadShape;
use crate::rng::SplitMix64;

/// A generated household's day as a one-minute kW load shape (`use_actual`).
pub fn household(name: &str, seed: u64) -> LoadShape {
    let mut r = SplitMix64::new(seed);
    let mut kw = vec![0.0f64; 1440];
    // Always on: standby, routers, a freezer's average.
    let base = 0.06 + 0.12 * r.uniform();
    kw.iter_mut().for_each(|x| *x = base);
    // A fridge cycling about 20 min in 60.
    let phase = (r.uniform() * 60.0) as usize;
    for (m, x) in kw.iter_mut().enumerate() {
        if (m + phase) % 60 < 20 {
            *x += 0.09;
        }
    }
    // Lights and screens in the evening.
    let evening = 0.15 + 0.35 * r.uniform();
    for x in &mut kw[17 * 60..23 * 60] {
        *x += evening;
    }
    // Appliance uses: (kW, minutes, uses per day, when they cluster (hour, spread h)).
    let appliances: [(f64, usize, f64, f64, f64); 6] = [
        (2.2, 3, 3.0, 12.0, 6.0),  // kettle, through the day
        (1.8, 35, 0.8, 18.0, 1.0), // cooker at dinner
        (2.0, 20, 0.5, 10.0, 3.0), // washing machine heating
        (1.2, 50, 0.3, 20.0, 2.0), // dishwasher
        (2.5, 8, 1.0, 7.5, 1.0),   // shower pump / instant heater, morning
        (0.8, 15, 2.0, 8.0, 1.5),  // toaster, microwave, iron
    ];
    for (p, dur, per_day, hour, spread) in appliances {
        // A Poisson number of uses around the appliance's hour.
        let mut n = 0;
        let limit = (-per_day).exp();
        let mut prod = r.uniform();
        while prod > limit {
            n += 1;
            prod *= r.uniform();
        }
        for _ in 0..n {
            let start = ((hour + spread * r.normal()) * 60.0).rem_euclid(1440.0) as usize;
            for x in &mut kw[start..(start + dur).min(1440)] {
                *x += p;
            }
        }
    }
    LoadShape {
        name: name.to_string(),
        interval_min: 1.0,
        mult: kw.into_iter().map(|x| (x * 1e3).round() / 1e3).collect(),
        use_actual: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generated homes look like the IEEE European LV feeder's 100 measured profiles:
    /// about 8.4 kWh a day on average, peaks of a few kW, evenings several times the night.
    #[test]
    fn generated_households_resemble_the_measured_ones() {
        let shapes: Vec<LoadShape> = (0..100).map(|i| household("h", 1000 + i)).collect();
        let kwh: Vec<f64> = shapes
            .iter()
            .map(|s| s.mult.iter().sum::<f64>() / 60.0)
            .collect();
        let mean = kwh.iter().sum::<f64>() / 100.0;
        assert!((6.3..=10.5).contains(&mean), "mean {mean} kWh/day");
        let peak = shapes
            .iter()
            .map(|s| s.mult.iter().cloned().fold(0.0, f64::max))
            .sum::<f64>()
            / 100.0;
        assert!((3.0..=8.0).contains(&peak), "mean peak {peak} kW");
        let avg = |a: usize, b: usize| {
            shapes
                .iter()
                .map(|s| s.mult[a..b].iter().sum::<f64>() / (b - a) as f64)
                .sum::<f64>()
                / 100.0
        };
        let (evening, night) = (avg(17 * 60, 22 * 60), avg(60, 5 * 60));
        assert!(evening > 3.0 * night, "evening {evening} night {night}");
        assert_eq!(household("x", 5), household("x", 5), "seeded");
    }
}
