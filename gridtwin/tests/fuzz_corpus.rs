//! Every fuzz target's committed corpus (`fuzz/corpus/NAME/`), replayed through the target's
//! entry point: whatever once made a parser panic, and every seed, must pass in every build.

use std::path::Path;

#[test]
fn every_corpus_replays_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for target in gridtwin::fuzz::TARGETS {
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{target}: an empty corpus");
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let ok = std::panic::catch_unwind(|| gridtwin::fuzz::run(target, &data));
            assert!(
                matches!(ok, Ok(true)),
                "{target}: {} fails (cargo xtask fuzz {target} reproduces it)",
                f.display()
            );
        }
    }
}

/// The node seeds named `valid_*` carry frames with right PECs (so the fuzzer starts from
/// frames that get past the check, as a node's do), `bad_pec` one that fails. (The fuzzer's
/// own finds beside them, named by their hash, may be anything.)
#[test]
fn the_node_seeds_are_what_they_say() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/node_frames");
    let mut seeds = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.starts_with("valid_") || name.starts_with("bad_pec")) {
            continue;
        }
        seeds += 1;
        let data = std::fs::read(&path).unwrap();
        let address = 0x20 + (data[0] >> 4);
        let status = &data[1..4];
        let pec_ok = hil::pec::of_read(address, hil::node::STATUS, &status[..2]) == status[2];
        assert_eq!(pec_ok, name.starts_with("valid_"), "{name}");
    }
    assert_eq!(seeds, 3, "valid_3ch, valid_8ch and bad_pec");
}
