//! The site loop as the live service and the window drive it: the recorded row in the one
//! schema, its energy registers, and what only one kind of site can do refused by the other.

use std::path::Path;

use control_core::OperatorCommand;
use controller::run::SiteLoop;
use grid_types::Phase;

fn site(path: &str) -> SiteLoop {
    let l = controller::scenario::load(Path::new(path)).unwrap();
    SiteLoop::new(&l).unwrap()
}

/// After some steps: a value for every channel, each in its schema's unit, and each energy
/// register's channel holding that register.
fn check_row(mut s: SiteLoop, steps: usize) {
    let mut events = Vec::new();
    for _ in 0..steps {
        s.step(&mut events);
    }
    let channels = s.channels();
    let registers = s.registers();
    assert_eq!(registers.len(), s.energy_j().len());
    let mut row = Vec::new();
    s.row(s.energy_j(), &mut row);
    assert_eq!(row.len(), channels.len());
    for (r, j) in registers.iter().zip(s.energy_j()) {
        let name = format!("{r}/energy");
        let i = channels.iter().position(|c| c.name == name).unwrap();
        assert_eq!(channels[i].unit, "J", "{name}");
        assert_eq!(row[i], *j, "{name}");
    }
    assert!(s.energy_j().iter().any(|j| *j > 0.0), "energy was counted");
}

#[test]
fn a_pdu_row_holds_every_channel_and_its_registers() {
    let s = site("../scenarios/backup_overload_shedding.ron");
    let SiteLoop::Pdu(p) = &s else {
        panic!("a PDU")
    };
    let n = p.names().len();
    // Each load's 9 channels, each source's 7 and the site's 8.
    assert_eq!(s.channels().len(), 9 * n + 2 * 7 + 8);
    assert_eq!(s.registers()[n], "main");
    check_row(s, 500);
}

#[test]
fn a_feeder_row_holds_every_channel_and_its_registers() {
    let s = site("../scenarios/feeder_lv_day.ron");
    let SiteLoop::Feeder(f) = &s else {
        panic!("a feeder")
    };
    let homes = f.pf().feeder().loads.len();
    assert_eq!(s.registers().len(), homes + 1);
    assert_eq!(s.registers()[homes], "source");
    check_row(s, 30);
}

#[test]
fn each_kind_refuses_what_only_the_other_can_do() {
    let mut pdu = site("../scenarios/backup_overload_shedding.ron");
    let mut feeder = site("../scenarios/feeder_lv_day.ron");
    let mut events = Vec::new();
    let e = pdu.move_phase("x", Phase::A, &mut events).unwrap_err();
    assert!(e.contains("no phase selectors"), "{e}");
    let e = feeder
        .operator(&OperatorCommand::Off("x".into()))
        .unwrap_err();
    assert!(e.contains("no relays"), "{e}");
    let e = feeder
        .move_phase("nobody", Phase::A, &mut events)
        .unwrap_err();
    assert!(e.contains("nobody"), "{e}");
    assert!(events.is_empty());
    assert!(feeder.load_settings().is_empty());
    assert_eq!(
        pdu.load_settings().len(),
        match &pdu {
            SiteLoop::Pdu(p) => p.names().len(),
            SiteLoop::Feeder(_) | SiteLoop::Field(_) => unreachable!(),
        }
    );
}
