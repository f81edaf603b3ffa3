//! `cargo xtask bench`: the emulated bus at the seed's scale. 100 measurement nodes of four
//! channels, each sampling its five inputs at 1800 samples/s, polled by the Pi side back to back
//! at 400 kHz (status, then FAST and four channels' values whenever a node has a new cycle), in
//! 20 ms poll budgets. Runs ten seconds of bus time; wall time over bus time is the CPU share on
//! one core that the emulation needs to keep up in real time.

use std::f64::consts::{SQRT_2, TAU};
use std::time::Instant;

use hil::emulated::EmulatedBus;
use hil::emulated::node::{NodeSpec, Signal, VirtualNode};
use hil::node::Node;
use hil::poll::{PollSettings, Poller};

const NODES: u8 = 100;
const SECONDS: u64 = 10;

fn main() {
    let bus = EmulatedBus::new(400_000);
    let mut nodes = Vec::new();
    for k in 0..NODES {
        let address = 0x08 + k;
        let lag = f64::from(k) * 0.01;
        let inputs = move |s: Signal, t: f64| match s {
            Signal::Voltage => 230.0 * SQRT_2 * (TAU * 50.0 * t).sin(),
            Signal::Current(ch) => f64::from(ch + 1) * 2.0 * SQRT_2 * (TAU * 50.0 * t - lag).sin(),
        };
        bus.attach(
            address,
            VirtualNode::new(address, NodeSpec::default(), Box::new(inputs)),
        );
        nodes.push(Node {
            address,
            channels: 4,
        });
    }
    let mut poller = Poller::new(nodes, PollSettings::default());
    let (mut i2c, mut delay, clock) = (bus.clone(), bus.clone(), bus.clone());
    let now = move || clock.now() as f64 / 1e9;
    let mut events = Vec::new();
    // Every node metered and read once before timing.
    while now() < 0.5 {
        poller.poll(&mut i2c, &mut delay, &now, 0.02, &mut events);
    }
    let (start_bus, before) = (bus.now(), bus.traffic());
    let wall = Instant::now();
    let mut polls = 0u64;
    while bus.now() - start_bus < SECONDS * 1_000_000_000 {
        poller.poll(&mut i2c, &mut delay, &now, 0.02, &mut events);
        polls += 1;
    }
    let wall = wall.elapsed().as_secs_f64();
    let bus_s = (bus.now() - start_bus) as f64 / 1e9;
    let t = bus.traffic();
    let fresh = (0..usize::from(NODES))
        .filter(|&n| poller.channel(n, 3, now()).is_some_and(|r| r.fresh))
        .count();
    assert!(events.is_empty(), "{events:?}");
    println!(
        "emulated bus, {NODES} nodes x 4 channels at 1800 samples/s, 400 kHz: {bus_s:.1} s of bus \
         time in {wall:.2} s wall: CPU share {:.1} % of one core",
        wall / bus_s * 100.0
    );
    println!(
        "  per bus second: {:.0} polls, {:.0} transactions, {:.0} bytes, bus busy {:.0} %; \
         {fresh} of {NODES} nodes fresh at the end",
        polls as f64 / bus_s,
        (t.transactions - before.transactions) as f64 / bus_s,
        (t.bytes - before.bytes) as f64 / bus_s,
        (t.busy - before.busy) as f64 / (bus.now() - start_bus) as f64 * 100.0
    );
}
