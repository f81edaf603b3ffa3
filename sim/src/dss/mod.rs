//! Import of the OpenDSS subset the IEEE test feeders use, into a `feeder::Feeder`.
//!
//! Commands are read in order into objects, each a list of property assignments that remember
//! where they were written; each class then interprets its list in order (OpenDSS properties
//! are contextual: `wdg=2` changes what `kv=` means). Anything outside the subset fails with
//! file:line, the command and what was not understood.
//!
//! `lexer` splits a line into tokens and pairs; `script` runs the commands into objects
//! (Redirect, Set, New, Edit, More, `like=`, `Class.Name.property=value`, BatchEdit, Buscoords);
//! `build` interprets them per class into the feeder, with `lines` (line codes, geometries,
//! wires) and `elements` (transformers, regulators, loads, capacitors, load shapes); `values`
//! reads numbers, matrices, counts and units.

mod build;
mod controls;
mod elements;
mod generation;
mod lexer;
mod lines;
mod positional;
mod script;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::feeder::Feeder;
use script::State;

/// Where an import failed and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DssError {
    pub file: PathBuf,
    pub line: usize,
    pub command: String,
    pub message: String,
}

impl fmt::Display for DssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.command,
            self.message
        )
    }
}

impl std::error::Error for DssError {}

#[derive(Debug, Clone)]
struct Loc {
    file: PathBuf,
    line: usize,
    command: String,
}

impl Loc {
    fn err(&self, message: impl Into<String>) -> DssError {
        DssError {
            file: self.file.clone(),
            line: self.line,
            command: self.command.clone(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Val {
    text: String,
    bracketed: bool,
}

#[derive(Debug, Clone)]
struct Prop {
    key: String,
    val: Val,
    loc: Loc,
}

#[derive(Debug, Clone)]
struct Object {
    class: String,
    name: String,
    props: Vec<Prop>,
    /// Directory of the file that defined it (for `mult=(file=…)`).
    dir: PathBuf,
    loc: Loc,
}

/// How the importer reads a file the script names: the master, what it redirects to, bus
/// coordinates and load shapes.
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

/// Read MASTER (and what it redirects to) from the disk into a feeder.
pub fn import(master: &Path) -> Result<Feeder, DssError> {
    import_with(master, &|p| std::fs::read_to_string(p))
}

/// Read MASTER (and what it names) through `read` into a feeder: the files may be anywhere, in
/// memory for a fuzzer or a test.
pub fn import_with(master: &Path, read: ReadFile<'_>) -> Result<Feeder, DssError> {
    let mut st = State {
        frequency: 60.0,
        ..State::default()
    };
    st.run_file(
        master,
        &Loc {
            file: master.to_path_buf(),
            line: 0,
            command: "compile".into(),
        },
        read,
    )?;
    st.build(master, read)
}

#[cfg(test)]
mod tests {
    use super::lexer::{pairs, tokenize};
    use super::values::{matrix, num};
    use super::*;
    use crate::feeder::{LoadModel, PtPhase};

    /// Import a master file of `body` after a circuit at line 2; it must be refused.
    fn refused(body: &str) -> DssError {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.dss");
        std::fs::write(
            &master,
            format!("clear\nnew circuit.c basekv=12.47 phases=3\n{body}"),
        )
        .unwrap();
        import(&master).expect_err(body)
    }

    /// Found by fuzzing (`cargo xtask fuzz opendss`): `nconds=4e126` sized a vector by it.
    #[test]
    fn a_count_too_large_or_not_whole_is_an_error_not_an_allocation() {
        for (prop, says) in [
            ("nconds=4e126", "nconds=4e126: expected a whole number"),
            ("nconds=2.5", "nconds=2.5: expected a whole number"),
            ("nphases=-3", "nphases=-3: expected a whole number"),
        ] {
            let e = refused(&format!(
                "new linegeometry.g {prop} reduce=yes\n\
                 new line.l bus1=sourcebus bus2=n2 geometry=g length=1 units=km\n"
            ));
            assert_eq!(e.line, 3, "{e}");
            assert!(e.message.contains(says), "{prop}: {e}");
        }
    }

    /// Found by fuzzing (`cargo xtask fuzz opendss`): `wdg=0` subtracted one from zero.
    #[test]
    fn a_winding_number_out_of_range_is_an_error_not_a_panic() {
        for (wdg, says) in [
            ("0", "wdg=0"),
            ("-1", "wdg=-1"),
            ("3", "wdg=3"),
            ("1.5", "wdg=1.5"),
        ] {
            let e = refused(&format!(
                "new transformer.t phases=3 windings=2\n\
                 ~ wdg={wdg} bus=n2 conn=delta kv=12.47 kva=6000\n"
            ));
            assert_eq!(e.line, 4, "{e}");
            assert!(e.message.contains(says), "{wdg}: {e}");
        }
    }

    /// Found by fuzzing (`cargo xtask fuzz opendss`): a regulator on a `phases=0` transformer
    /// read past its conductors. No element may have no phases.
    #[test]
    fn an_element_of_no_phases_is_refused_where_it_says_so() {
        for element in [
            "new transformer.t phases=0 buses=[sourcebus.1 n2.1] kvs=[2.4 2.4]",
            "new line.l phases=0 bus1=sourcebus bus2=n2 r1=0.1 x1=0.1",
            "new linecode.c nphases=0 r1=0.1 x1=0.1",
            "new load.d phases=0 bus1=sourcebus kv=12.47 kw=10",
            "new capacitor.c phases=0 bus1=sourcebus kv=12.47 kvar=100",
        ] {
            let e = refused(&format!("{element}\n"));
            assert_eq!(e.line, 3, "{e}");
            assert!(e.message.contains("phases=0"), "{element}: {e}");
        }
    }

    /// Import a master file of `body` after a circuit at line 2.
    fn imported(body: &str) -> Feeder {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.dss");
        let text = format!("clear\nnew circuit.c basekv=12.47 phases=3\n{body}");
        std::fs::write(&master, &text).unwrap();
        import(&master).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// `like=` copies what the other object was given so far (the IEEE 123- and 37-node
    /// feeders' regulators); what follows overrides it; the other object must exist.
    #[test]
    fn like_copies_an_object_and_what_follows_overrides_it() {
        let f = imported(
            "new transformer.a phases=1 windings=2 buses=[sourcebus.1 n2.1] conns=[wye wye] \
             kvs=[7.2 7.2] kvas=[1666 1666] xhl=0.01 %loadloss=0.01\n\
             new transformer.b like=a buses=[sourcebus.2 n2.2] kvas=[2000 2000]\n\
             new line.l bus1=n2 bus2=n3 r1=0.1 x1=0.1\n",
        );
        let t = |n: &str| f.transformers.iter().find(|t| t.name == n).unwrap();
        let (a, b) = (t("a"), t("b"));
        assert_eq!((b.phases, b.xhl_pct), (a.phases, a.xhl_pct));
        assert_eq!(b.windings[0].kv, a.windings[0].kv);
        assert_eq!(b.windings[0].r_pct, a.windings[0].r_pct);
        assert_eq!((a.windings[0].kva, b.windings[0].kva), (1666.0, 2000.0));
        assert_eq!(b.windings[1].bus, "n2.2");
        // The copy keeps its own buses, given before `like=` or after.
        let f = imported(
            "new line.l1 bus1=sourcebus bus2=n2 r1=0.1 x1=0.1 length=2\n\
             new line.l2 bus1=n2 bus2=n3 like=l1\n",
        );
        let l2 = &f.lines[1];
        assert_eq!((l2.bus1.as_str(), l2.bus2.as_str()), ("n2", "n3"));
        assert_eq!(l2.length_km, f.lines[0].length_km);
        let e = refused("new transformer.b like=nothing phases=1\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(
            e.message.contains("like=nothing: no transformer.nothing"),
            "{e}"
        );
    }

    /// `Class.Name.property=value` sets one property of an object that exists (the IEEE
    /// 34-node feeder's `Load.s860.vminpu=.85`).
    #[test]
    fn a_property_is_set_by_its_object_and_name() {
        let f = imported(
            "new load.s1 bus1=sourcebus.1 phases=1 kv=7.2 kw=10 kvar=5\n\
             Load.S1.vminpu=.85\n",
        );
        assert_eq!(f.loads[0].vminpu, 0.85);
        let e = refused("load.none.vminpu=.85\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("no load.none to set"), "{e}");
    }

    /// A load's kW and kvar come from the form given last, as OpenDSS keeps them: kW and pf,
    /// kW and kvar, kVA and pf, a transformer's kVA times an allocation factor (kW fixed the
    /// moment either is set, with the pf of that moment), or billed kWh.
    #[test]
    fn a_load_is_sized_by_the_form_given_last() {
        let f = imported(
            "new load.kwkvar bus1=sourcebus.1 phases=1 kv=7.2 kw=10 kvar=5\n\
             new load.kvarkw bus1=sourcebus.1 phases=1 kv=7.2 kvar=5 kw=10\n\
             new load.kva bus1=sourcebus.1 phases=1 kv=7.2 kva=100 pf=0.8\n\
             new load.alloc bus1=sourcebus.1 phases=1 kv=7.2 pf=0.9 xfkva=50 allocationfactor=0.6\n\
             new load.late bus1=sourcebus.1 phases=1 kv=7.2 xfkva=50 pf=0.9\n\
             new load.kwh bus1=sourcebus.1 phases=1 kv=7.2 kwh=720 kwhdays=30 cfactor=4\n",
        );
        let size = |n: &str| {
            let l = f.loads.iter().find(|l| l.name == n).unwrap();
            (l.kw, l.kvar)
        };
        let close =
            |(a, b): (f64, f64), (c, d): (f64, f64)| (a - c).abs() < 1e-9 && (b - d).abs() < 1e-9;
        // tan(acos(pf)) = sqrt(1/pf² − 1)
        let q = |kw: f64, pf: f64| kw * (1.0 / (pf * pf) - 1.0f64).sqrt();
        assert_eq!(size("kwkvar"), (10.0, 5.0));
        assert!(
            close(size("kvarkw"), (10.0, q(10.0, 0.88))),
            "{:?}",
            size("kvarkw")
        );
        assert!(close(size("kva"), (80.0, 60.0)), "{:?}", size("kva"));
        assert!(
            close(size("alloc"), (27.0, q(27.0, 0.9))),
            "{:?}",
            size("alloc")
        );
        assert!(
            close(size("late"), (22.0, q(22.0, 0.9))),
            "{:?}",
            size("late")
        );
        assert!(close(size("kwh"), (4.0, q(4.0, 0.88))), "{:?}", size("kwh"));
    }

    /// Load models 3, 4 (with its CVR exponents), 6 and 7 map to their laws; OpenDSS's own
    /// `default` load shape is there when a load names it.
    #[test]
    fn every_load_model_and_the_default_shape_import() {
        let f = imported(
            "new load.m3 bus1=sourcebus.1 phases=1 kv=7.2 model=3\n\
             new load.m4 bus1=sourcebus.1 phases=1 kv=7.2 model=4 cvrwatts=0.8 cvrvars=3\n\
             new load.m6 bus1=sourcebus.1 phases=1 kv=7.2 model=6 daily=default\n\
             new load.m7 bus1=sourcebus.1 phases=1 kv=7.2 model=7\n",
        );
        let models: Vec<LoadModel> = f.loads.iter().map(|l| l.model).collect();
        assert_eq!(
            models,
            [
                LoadModel::Motor,
                LoadModel::Exponential {
                    watts: 0.8,
                    vars: 3.0
                },
                LoadModel::FixedQ,
                LoadModel::FixedQImpedance
            ]
        );
        let default = &f.load_shapes[0];
        assert_eq!(
            (default.name.as_str(), default.interval_min),
            ("default", 60.0)
        );
        assert_eq!((default.mult.len(), default.mult[16]), (24, 1.0));
        let e = refused("new load.m9 bus1=sourcebus.1 model=9\n");
        assert!(e.message.contains("model=9 is not one of OpenDSS's"), "{e}");
    }

    /// `Set loadmult` scales what variable loads draw (not a fixed-Q model's rated kvar);
    /// fixed loads follow neither it nor their shapes, exempt ones only their shapes.
    /// `Set controlmode=off` leaves every regulator at its tap.
    #[test]
    fn load_multiplier_status_and_control_mode_are_kept_as_opendss_applies_them() {
        let f = imported(
            "new loadshape.day npts=2 interval=12 mult=[0.5 1]\n\
             new load.var bus1=sourcebus.1 phases=1 kv=7.2 kw=10 kvar=4 daily=day\n\
             new load.fixed bus1=sourcebus.1 phases=1 kv=7.2 kw=10 kvar=4 daily=day status=fixed\n\
             new load.exempt bus1=sourcebus.1 phases=1 kv=7.2 kw=10 kvar=4 daily=day status=exempt\n\
             new load.fixedq bus1=sourcebus.1 phases=1 kv=7.2 kw=10 kvar=4 model=6\n\
             new transformer.t phases=3 windings=2 buses=[sourcebus n2] kvs=[12.47 12.47] \
             kvas=[5000 5000] xhl=1\n\
             new regcontrol.r transformer=t winding=2\n\
             set loadmult=0.5 controlmode=off\n",
        );
        let got: Vec<(f64, f64, Option<&str>)> = f
            .loads
            .iter()
            .map(|l| (l.kw, l.kvar, l.shape.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (5.0, 2.0, Some("day")),
                (10.0, 4.0, None),
                (10.0, 4.0, Some("day")),
                (5.0, 4.0, None)
            ]
        );
        assert!(!f.regulators[0].enabled);
        let e = refused("set controlmode=sometimes\n");
        assert!(e.message.contains("control mode `sometimes`"), "{e}");
    }

    /// A regulator's delay, limit per change and PT phase are kept; what the twin cannot do
    /// (a voltage limit, inverse time) is refused where it is given.
    #[test]
    fn a_regulator_keeps_its_delay_limit_and_pt_phase() {
        let t = "new transformer.t phases=3 windings=2 buses=[sourcebus n2] kvs=[12.47 12.47] \
                 kvas=[5000 5000] xhl=1\n";
        let f = imported(&format!(
            "{t}new regcontrol.r transformer=t winding=2 delay=30 maxtapchange=1 ptphase=max\n"
        ));
        let r = &f.regulators[0];
        assert_eq!(
            (r.delay_s, r.max_tap_change, r.pt_phase),
            (30.0, 1, PtPhase::Max)
        );
        let f = imported(&format!("{t}new regcontrol.r transformer=t ptphase=3\n"));
        assert_eq!(f.regulators[0].pt_phase, PtPhase::Phase(3));
        for (prop, says) in [
            ("vlimit=125", "vlimit"),
            ("inversetime=yes", "inverse-time"),
        ] {
            let e = refused(&format!("{t}new regcontrol.r transformer=t {prop}\n"));
            assert_eq!(e.line, 4, "{e}");
            assert!(e.message.contains(says), "{prop}: {e}");
        }
    }

    /// A center-tapped unit is a transformer of three windings, the second and third on one
    /// bus; its reactances come by name or as an array. Four windings, or a third winding on
    /// a bus of its own, are refused.
    #[test]
    fn a_three_winding_center_tapped_transformer_imports() {
        let ct = "new transformer.ct phases=1 windings=3 buses=[sourcebus.1 s.1.0 s.0.2] \
                  conns=[wye wye wye] kvs=[7.2 0.12 0.12] kvas=[25 25 25]";
        let f = imported(&format!("{ct} xscarray=[2.04 2.04 1.36]\n"));
        let t = &f.transformers[0];
        assert_eq!(t.windings.len(), 3);
        assert_eq!((t.xhl_pct, t.xht_pct, t.xlt_pct), (2.04, 2.04, 1.36));
        assert_eq!(t.windings[2].bus, "s.0.2");
        let f = imported(&format!("{ct} x12=2 x13=3 x23=1\n"));
        let t = &f.transformers[0];
        assert_eq!((t.xhl_pct, t.xht_pct, t.xlt_pct), (2.0, 3.0, 1.0));
        let e = refused("new transformer.t phases=1 windings=4\n");
        assert!(e.message.contains("4 windings"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.dss");
        std::fs::write(
            &master,
            "clear\nnew circuit.c basekv=12.47 phases=3\nnew transformer.t phases=1 windings=3 \
             buses=[sourcebus.1 a.1.0 b.0.2] kvs=[7.2 0.12 0.12]\n",
        )
        .unwrap();
        let f = import(&master).unwrap();
        let e = crate::feeder::PowerFlow::new(&f).err().unwrap().to_string();
        assert!(e.contains("second and third share a bus"), "{e}");
    }

    /// A switch control leaves its line in the switch's normal position; fuses and reclosers
    /// in their normal state leave the circuit as it is.
    #[test]
    fn switch_controls_set_their_lines_and_protection_leaves_the_circuit_as_it_is() {
        let f = imported(
            "new line.tie bus1=sourcebus bus2=n2 r1=0.1 x1=0.1 switch=yes\n\
             new line.feed bus1=sourcebus bus2=n3 r1=0.1 x1=0.1\n\
             new swtcontrol.s1 switchedobj=line.tie normal=open state=closed\n\
             new swtcontrol.s2 switchedobj=Line.FEED action=open\n\
             new fuse.f1 monitoredobj=line.feed switchedobj=line.feed fusecurve=tlink ratedcurrent=65\n\
             new recloser.r1 monitoredobj=line.feed phasetrip=400\n",
        );
        let closed: Vec<(&str, bool)> = f
            .lines
            .iter()
            .map(|l| (l.name.as_str(), l.closed))
            .collect();
        assert_eq!(closed, [("tie", false), ("feed", false)]);
        let e = refused("new swtcontrol.s switchedobj=line.none normal=open\n");
        assert!(
            e.message.contains("switchedobj=line.none: no such line"),
            "{e}"
        );
        let e = refused(
            "new line.l bus1=sourcebus bus2=x r1=1\nnew swtcontrol.s switchedobj=line.l normal=ajar\n",
        );
        assert!(e.message.contains("`ajar`: open or closed"), "{e}");
    }

    /// Objects copying each other in turn would double their property lists each time.
    #[test]
    fn objects_copying_each_other_are_refused_before_they_grow_without_bound() {
        let mut body = "new load.a bus1=sourcebus.1 phases=1 kv=7.2 kw=10\n\
                        new load.b bus1=sourcebus.1 phases=1 kv=7.2 kw=10\n"
            .to_string();
        for _ in 0..40 {
            body.push_str("edit load.a like=b\nedit load.b like=a\n");
        }
        let e = refused(&body);
        assert!(
            e.message.contains("more than 10000 property assignments"),
            "{e}"
        );
    }

    #[test]
    fn tokens_pair_keys_values_and_brackets() {
        let t = tokenize("~ rmatrix = (0.3465 | 0.1560 0.3375) units=mi ! comment").unwrap();
        let p = pairs(&t[1..]).unwrap();
        assert_eq!(p[0].0, "rmatrix");
        assert!(p[0].1.bracketed);
        assert_eq!(p[1].0, "units");
        assert_eq!(p[1].1.text, "mi");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn rpn_and_matrices() {
        let loc = Loc {
            file: "x".into(),
            line: 1,
            command: "new".into(),
        };
        assert_eq!(
            num(
                &Val {
                    text: "8 1000 /".into(),
                    bracketed: true
                },
                &loc
            )
            .unwrap(),
            0.008
        );
        // The IEEE 8500-node substation reactor's X: its per-unit impedance on 115 kV, less the
        // transformer's, moved to 12.47 kV.
        let rpn = |text: &str| {
            let v = Val {
                text: text.into(),
                bracketed: true,
            };
            num(&v, &loc)
        };
        let x = rpn("1.051 0.88 0.001 3 * - - 115 12.47 / sqr *").unwrap();
        assert!((x - (1.051 - (0.88 - 0.003)) * (115.0f64 / 12.47).powi(2)).abs() < 1e-12);
        assert!((rpn("30 sin").unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(rpn("4 inv").unwrap(), 0.25);
        assert!(
            rpn("sqr")
                .unwrap_err()
                .message
                .contains("`sqr` needs a value")
        );
        let m = matrix(
            &Val {
                text: "1 | 2 3".into(),
                bracketed: true,
            },
            &loc,
        )
        .unwrap();
        assert_eq!(m, vec![vec![1.0, 2.0], vec![2.0, 3.0]]);
        let m = matrix(
            &Val {
                text: "1 2 2 3".into(),
                bracketed: true,
            },
            &loc,
        )
        .unwrap();
        assert_eq!(m, vec![vec![1.0, 2.0], vec![2.0, 3.0]]);
        assert!(
            num(
                &Val {
                    text: "8 /".into(),
                    bracketed: true
                },
                &loc
            )
            .is_err()
        );
    }
}
