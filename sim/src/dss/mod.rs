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
mod elements;
mod lexer;
mod lines;
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
