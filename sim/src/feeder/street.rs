//! Generated low-voltage feeders for the three settings phase balancing is built for, each from
//! a seed: an urban street (short underground spans, homes on both sides, two feeders), a
//! campus (four feeders of short spans with branches) and a rural village (one long overhead
//! line with laterals). Every home is a single-phase load on a random phase with its own
//! generated household profile, and every bus has coordinates, so a LoRa link can grade its
//! nodes by distance and a view can draw the street.
//!
//! The cable and line data are typical values for the conductor named (sequence impedances
//! per km, turned into phase matrices of a four-wire line with the neutral reduced away).

use serde::{Deserialize, Serialize};

use super::household::household;
use super::model::{
    BusCoord, Conn, Feeder, Impedance, Line, LineCode, Load, LoadModel, Source, Transformer,
    Winding,
};
use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Setting {
    Urban,
    Campus,
    Rural,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreetSpec {
    pub setting: Setting,
    pub homes: usize,
    pub seed: u64,
}

/// How a setting is laid out.
struct Layout {
    feeders: usize,
    kva: f64,
    /// Main conductor and span range, m.
    main: &'static str,
    span: (f64, f64),
    /// Homes per junction on the main, and the chance a junction starts a lateral.
    per_junction: usize,
    branch: f64,
    service: (f64, f64),
}

impl Setting {
    fn layout(self) -> Layout {
        match self {
            Setting::Urban => Layout {
                feeders: 2,
                kva: 500.0,
                main: "4c_185",
                span: (20.0, 30.0),
                per_junction: 2,
                branch: 0.1,
                service: (8.0, 20.0),
            },
            Setting::Campus => Layout {
                feeders: 4,
                kva: 800.0,
                main: "4c_185",
                span: (25.0, 45.0),
                per_junction: 1,
                branch: 0.35,
                service: (15.0, 40.0),
            },
            Setting::Rural => Layout {
                feeders: 1,
                kva: 200.0,
                main: "abc_4x95",
                span: (30.0, 70.0),
                per_junction: 2,
                branch: 0.3,
                service: (15.0, 45.0),
            },
        }
    }

    /// The most homes a setting's transformer and conductors carry at a sensible voltage.
    pub fn max_homes(self) -> usize {
        match self {
            Setting::Urban => 160,
            Setting::Campus => 200,
            Setting::Rural => 40,
        }
    }
}

/// A three-phase four-wire line code from sequence impedances (Ω/km), Kron-reduced:
/// self (2 Z1 + Z0) / 3, mutual (Z0 − Z1) / 3.
fn code(name: &str, z1: (f64, f64), z0: (f64, f64)) -> LineCode {
    let m = |a: f64, b: f64| {
        let (s, mu) = ((2.0 * a + b) / 3.0, (b - a) / 3.0);
        (0..3)
            .map(|i| (0..3).map(|j| if i == j { s } else { mu }).collect())
            .collect()
    };
    LineCode {
        name: name.into(),
        phases: 3,
        r_ohm_per_km: m(z1.0, z0.0),
        x_ohm_per_km: m(z1.1, z0.1),
        c_nf_per_km: Vec::new(),
    }
}

pub fn generate(spec: StreetSpec) -> Result<Feeder, String> {
    let s = spec.setting;
    let l = s.layout();
    if spec.homes == 0 || spec.homes > s.max_homes() {
        return Err(format!(
            "a {s:?} street takes 1 to {} homes, not {}",
            s.max_homes(),
            spec.homes
        ));
    }
    let mut r = SplitMix64::new(spec.seed);
    let mut f = Feeder {
        name: format!("{s:?} street, {} homes, seed {}", spec.homes, spec.seed).to_lowercase(),
        frequency_hz: 50.0,
        // 11 kV held at 1.05 pu (as the IEEE LV case has it), 250 MVA fault level, X/R 4.
        source: Source {
            bus: "sourcebus".into(),
            kv: 11.0,
            pu: 1.05,
            angle_deg: 0.0,
            z1: Impedance { r: 0.117, x: 0.470 },
            z0: Impedance { r: 0.351, x: 1.410 },
        },
        voltage_bases_kv: vec![11.0, 0.416],
        line_codes: vec![
            // 4-core 185 mm² Al underground cable.
            code("4c_185", (0.164, 0.074), (0.656, 0.300)),
            // Aerial bundled conductor, 4 × 95 mm² Al.
            code("abc_4x95", (0.320, 0.080), (1.280, 0.320)),
            // 35 mm² Cu concentric service cable (phase and neutral).
            code("service_35", (0.524, 0.090), (0.524, 0.090)),
        ],
        transformers: vec![Transformer {
            name: "tx".into(),
            phases: 3,
            windings: vec![
                Winding {
                    bus: "sourcebus".into(),
                    conn: Conn::Delta,
                    kv: 11.0,
                    kva: l.kva,
                    r_pct: 0.5,
                    tap: 1.0,
                },
                Winding {
                    bus: "lv".into(),
                    conn: Conn::Wye,
                    kv: 0.416,
                    kva: l.kva,
                    r_pct: 0.5,
                    tap: 1.0,
                },
            ],
            xhl_pct: 4.0,
            xht_pct: 35.0,
            xlt_pct: 30.0,
            imag_pct: 0.0,
            noload_loss_pct: 0.0,
            ppm_antifloat: 1.0,
        }],
        coordinates: vec![
            BusCoord {
                bus: "sourcebus".into(),
                x: 0.0,
                y: -10.0,
            },
            BusCoord {
                bus: "lv".into(),
                x: 0.0,
                y: 0.0,
            },
        ],
        lines: Vec::new(),
        regulators: Vec::new(),
        loads: Vec::new(),
        capacitors: Vec::new(),
        generators: Vec::new(),
        cap_controls: Vec::new(),
        reactors: Vec::new(),
        load_shapes: Vec::new(),
    };
    // Homes per feeder, the remainder to the first ones.
    let mut placed = 0;
    for k in 0..l.feeders {
        let quota = spec.homes / l.feeders + usize::from(k < spec.homes % l.feeders);
        let heading = std::f64::consts::TAU * k as f64 / l.feeders as f64;
        let mut b = Builder {
            f: &mut f,
            r: &mut r,
            l: &l,
            seed: spec.seed,
            placed: &mut placed,
        };
        b.walk(&format!("f{k}"), "lv", (0.0, 0.0), heading, quota, true);
    }
    Ok(f)
}

struct Builder<'a> {
    f: &'a mut Feeder,
    r: &'a mut SplitMix64,
    l: &'a Layout,
    seed: u64,
    placed: &'a mut usize,
}

impl Builder<'_> {
    fn between(&mut self, (a, b): (f64, f64)) -> f64 {
        a + (b - a) * self.r.uniform()
    }

    fn line(&mut self, name: String, from: &str, to: &str, code: &str, metres: f64) {
        self.f.lines.push(Line {
            name,
            bus1: from.into(),
            bus2: to.into(),
            code: code.into(),
            length_km: metres / 1e3,
            switch: false,
            closed: true,
        });
    }

    /// Lay a run of spans from `from` at `at` heading `heading`, placing `quota` homes; a main
    /// run may start laterals, which take part of its quota.
    fn walk(
        &mut self,
        prefix: &str,
        from: &str,
        at: (f64, f64),
        heading: f64,
        mut quota: usize,
        main: bool,
    ) {
        let (mut bus, mut pos, mut dir) = (from.to_string(), at, heading);
        let mut j = 0;
        while quota > 0 {
            j += 1;
            let span = self.between(self.l.span);
            dir += 0.15 * self.r.normal();
            pos = (pos.0 + span * dir.cos(), pos.1 + span * dir.sin());
            let next = format!("{prefix}_{j}");
            self.line(format!("{prefix}_l{j}"), &bus, &next, self.l.main, span);
            self.f.coordinates.push(BusCoord {
                bus: next.clone(),
                x: pos.0,
                y: pos.1,
            });
            bus = next;
            for side in 0..self.l.per_junction.min(quota) {
                self.home(&bus, pos, dir, side);
                quota -= 1;
            }
            if main && quota > 2 && self.r.uniform() < self.l.branch {
                let take = 1 + (self.r.uniform() * (quota / 2).min(5) as f64) as usize;
                let turn = if self.r.uniform() < 0.5 { 1.0 } else { -1.0 };
                let lateral = format!("{prefix}b{j}");
                self.walk(
                    &lateral,
                    &bus.clone(),
                    pos,
                    dir + turn * std::f64::consts::FRAC_PI_2,
                    take,
                    false,
                );
                quota -= take;
            }
        }
    }

    /// A home off `bus`: a service cable to its own bus, a single-phase load on a random
    /// phase with its own household profile.
    fn home(&mut self, bus: &str, pos: (f64, f64), dir: f64, side: usize) {
        *self.placed += 1;
        let n = *self.placed;
        let name = format!("home{n}");
        let hb = format!("h{n}");
        let len = self.between(self.l.service);
        let turn = if side.is_multiple_of(2) { 1.0 } else { -1.0 };
        let normal = dir + turn * std::f64::consts::FRAC_PI_2;
        self.line(format!("s{n}"), bus, &hb, "service_35", len);
        self.f.coordinates.push(BusCoord {
            bus: hb.clone(),
            x: pos.0 + len * normal.cos(),
            y: pos.1 + len * normal.sin(),
        });
        let phase = 1 + (self.r.next_u64() % 3) as usize;
        let mut shape = household(&name, self.seed.wrapping_mul(1000).wrapping_add(n as u64));
        shape.name = format!("shape_{n}");
        self.f.loads.push(Load {
            name,
            bus: format!("{hb}.{phase}"),
            phases: 1,
            conn: Conn::Wye,
            kv: 0.23,
            kw: 1.0,
            // Power factor 0.95.
            kvar: 0.3287,
            model: LoadModel::ConstantPower,
            vminpu: 0.95,
            vmaxpu: 1.05,
            shape: Some(shape.name.clone()),
        });
        self.f.load_shapes.push(shape);
    }
}
