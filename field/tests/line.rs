//! The master (tokio-modbus over tokio-serial) against register-exact emulated slaves on a
//! real pseudo-terminal pair made by Debian's socat, and through a Modbus TCP gateway.

use std::time::Duration;

use field::config::{Parity, Transport};
use field::home_node as map;
use field::line::{Device, Fault, Line, PtyPair};
use field::master::{LinkError, Master};
use field::meter::{MeterKind, MeterReading, PhaseReading};
use field::slave::{HomeNode, Meter};
use grid_types::Phase;
use tokio_serial::SerialPortBuilderExt;

const NODE: u8 = 1;
const PZEM: u8 = 2;
const SDM630: u8 = 100;

fn line(baud: u32) -> Line {
    let line = Line::new(baud, 11);
    let mut node = HomeNode::new(4242, NODE, Phase::A);
    node.set_measurement(0.0, 231.2, 8.5, 1900.0, 300.0, 50.01);
    line.attach(NODE.into(), Device::Node(node));
    let mut pzem = Meter::new(MeterKind::Pzem004t, PZEM);
    pzem.set_reading(
        0.0,
        MeterReading {
            phases: vec![PhaseReading {
                v: 229.9,
                i: 2.5,
                p: 560.0,
                q: None,
                pf: 0.97,
            }],
            hz: 49.9,
            ..Default::default()
        },
    );
    line.attach(PZEM.into(), Device::Meter(pzem));
    line.attach(
        SDM630.into(),
        Device::Meter(Meter::new(MeterKind::Sdm630, SDM630)),
    );
    line
}

/// The line served on the far end of a pty pair, and a master on the near end.
async fn on_pty(dir: &std::path::Path, baud: u32) -> (PtyPair, Line, Master) {
    let pair = PtyPair::open(dir).unwrap();
    let line = line(baud);
    let port = tokio_serial::new(pair.slaves.to_string_lossy(), baud)
        .open_native_async()
        .unwrap();
    tokio::spawn(line.clone().serve_rtu(port));
    let t = Transport::Rtu {
        port: pair.master.to_string_lossy().into(),
        baud,
        parity: Parity::Even,
        stop_bits: 1,
    };
    let master = Master::open(&t, Duration::from_millis(300)).await.unwrap();
    (pair, line, master)
}

#[tokio::test]
async fn a_home_node_is_identified_read_and_moved_over_rs485() {
    let dir = tempfile::tempdir().unwrap();
    let (_pair, line, mut m) = on_pty(dir.path(), 19200).await;
    let id = m
        .read_input(NODE, map::REG_IDENTITY, map::IDENTITY_LEN)
        .await
        .unwrap();
    assert_eq!(map::decode_identity(&id).unwrap().serial, 4242);
    let r = m
        .read_input(NODE, map::REG_REPORT, map::REPORT_LEN)
        .await
        .unwrap();
    let r = map::decode_report(&r).unwrap();
    assert_eq!((r.phase, r.v, r.p), (Some(Phase::A), 231.2, 1900.0));
    m.write(NODE, map::REG_COMMAND, &map::command(1, Phase::B))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = map::decode_report(
        &m.read_input(NODE, map::REG_REPORT, map::REPORT_LEN)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (r.phase, r.result, r.last_command),
        (Some(Phase::B), map::CommandResult::Done, 1)
    );
    // A phase out of the map: the node answers exception 03, which the master reports.
    let e = m.write(NODE, map::REG_COMMAND, &[2, 9]).await.unwrap_err();
    assert!(
        matches!(&e, LinkError::Exception(x) if x.contains("IllegalDataValue")),
        "{e:?}"
    );
    assert_eq!(line.stats().garbled, 0);
}

#[tokio::test]
async fn meters_are_read_and_the_pzem_energy_reset_by_its_own_function() {
    let dir = tempfile::tempdir().unwrap();
    let (_pair, _line, mut m) = on_pty(dir.path(), 9600).await;
    let b = MeterKind::Pzem004t.blocks()[0];
    let r = m.read_input(PZEM, b.start, b.count).await.unwrap();
    let got = MeterKind::Pzem004t.decode(&[&r]).unwrap();
    assert_eq!(
        (got.phases[0].v, got.phases[0].p, got.hz),
        (229.9, 560.0, 49.9)
    );
    assert_eq!(m.custom(PZEM, 0x42, &[]).await.unwrap(), Vec::<u8>::new());
    let mut blocks = Vec::new();
    for b in MeterKind::Sdm630.blocks() {
        blocks.push(m.read_input(SDM630, b.start, b.count).await.unwrap());
    }
    let refs: Vec<&[u16]> = blocks.iter().map(|b| b.as_slice()).collect();
    assert_eq!(MeterKind::Sdm630.decode(&refs).unwrap().phases.len(), 3);
}

#[tokio::test]
async fn silence_noise_and_absence_are_told_apart_and_the_line_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let (_pair, line, mut m) = on_pty(dir.path(), 19200).await;
    line.inject(Fault::Silent {
        address: NODE.into(),
    });
    let e = m
        .read_input(NODE, map::REG_REPORT, map::REPORT_LEN)
        .await
        .unwrap_err();
    assert_eq!(e, LinkError::Timeout);
    line.clear_faults(Some(NODE.into()));
    line.inject(Fault::Corrupt {
        address: NODE.into(),
        count: 1,
    });
    // A reply that fails its CRC is never taken as one: the request fails.
    let e = m
        .read_input(NODE, map::REG_REPORT, map::REPORT_LEN)
        .await
        .unwrap_err();
    assert!(
        matches!(e, LinkError::Timeout | LinkError::Garbled(_)),
        "{e:?}"
    );
    // No device at 77: nobody answers.
    assert_eq!(
        m.read_input(77, 0, 1).await.unwrap_err(),
        LinkError::Timeout
    );
    // And the line works again.
    let r = m
        .read_input(NODE, map::REG_REPORT, map::REPORT_LEN)
        .await
        .unwrap();
    assert!(map::decode_report(&r).is_ok());
}

#[tokio::test]
async fn a_tcp_gateway_serves_the_same_devices() {
    let line = line(9600);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(line.clone().serve_tcp(listener));
    let t = Transport::Tcp {
        address,
        baud: 9600,
    };
    let mut m = Master::open(&t, Duration::from_millis(500)).await.unwrap();
    let r = m
        .read_input(NODE, map::REG_REPORT, map::REPORT_LEN)
        .await
        .unwrap();
    assert_eq!(map::decode_report(&r).unwrap().v, 231.2);
    line.inject(Fault::Silent {
        address: NODE.into(),
    });
    assert_eq!(
        m.read_input(NODE, 0, 6).await.unwrap_err(),
        LinkError::Timeout
    );
}

#[tokio::test]
async fn the_selftest_reads_a_field_files_emulation_and_fails_the_silent_node() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("street.ron");
    let f = field::config::load(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let e = field::emulated::emulate(&f, dir.path()).await.unwrap();
    e.lines["street"].inject(Fault::Silent { address: 3 });
    let checks = field::selftest::run(&e.field).await;
    assert_eq!(checks.len(), f.homes.len() + f.meters.len());
    for c in &checks {
        assert_eq!(c.pass, c.name != "no5", "{c:?}");
    }
    let no5 = checks.iter().find(|c| c.name == "no5").unwrap();
    assert_eq!(no5.detail, "identity: no answer within the timeout");
    let table = field::selftest::table(&checks);
    assert!(table.ends_with("11 of 12 pass\n"), "{table}");
}
