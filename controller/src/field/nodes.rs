//! The balancer on real home nodes (`field::site`): the same `control_core::balance::Balancer`
//! as in the twin, fed from what the field heard instead of a link model. Sans-IO: the caller
//! passes the homes as last heard and the time, and sends the commands this returns.
//!
//! A report is the balancer's when it is fresh and of a window not given before. A node's
//! report also says what became of its last command (its id and result), which is the
//! acknowledgement: done or already there acknowledges with the phase the node reports; refused
//! or failed does not, so the balancer repeats and gives up as it would on silence, and the
//! node (which takes an id once) moves nothing twice.

use control_core::balance::{Ack, Balancer, BalancerSettings, Note, Report};
use control_core::{Event, EventKind, Instant, NodeTrouble};
use field::home_node::CommandResult;
use field::site::{HomeSeen, SiteEvent};
use grid_types::Phase;

use super::note_event;

pub struct NodesBalancer {
    balancer: Balancer,
    names: Vec<String>,
    /// The window of each home last given to the balancer.
    given: Vec<Option<u16>>,
    /// Each home's command awaiting its node's word: the balancer's sequence number and target.
    outstanding: Vec<Option<(u32, Phase)>>,
}

/// A command for the site: the home's index, the id on the wire, the target phase.
pub type Move = (usize, u16, Phase);

impl NodesBalancer {
    pub fn new(settings: BalancerSettings, names: &[String]) -> NodesBalancer {
        NodesBalancer {
            balancer: Balancer::new(settings, names),
            names: names.to_vec(),
            given: vec![None; names.len()],
            outstanding: vec![None; names.len()],
        }
    }

    /// What the field heard of each home (in the balancer's order), at `now`.
    pub fn handle_homes(&mut self, now: Instant, homes: &[Option<HomeSeen>]) {
        for (k, h) in homes.iter().enumerate().take(self.names.len()) {
            let Some(h) = h else { continue };
            let r = &h.report;
            // The node's word on the command it was sent: the command's id is its sequence
            // number's low 16 bits.
            if let Some((seq, to)) = self.outstanding[k]
                && r.last_command == seq as u16
                && matches!(r.result, CommandResult::Done | CommandResult::AlreadyThere)
            {
                self.outstanding[k] = None;
                let switched = now.as_secs_f64() - f64::from(r.since_switch_s);
                self.balancer.ack(
                    now,
                    Ack {
                        node: k,
                        seq,
                        phase: r.phase.unwrap_or(to),
                        switched: Instant::from_secs_f64(switched.max(0.0)),
                    },
                );
            }
            if !h.fresh || self.given[k] == Some(r.seq) {
                continue;
            }
            // Switching: no phase to report yet.
            let Some(phase) = r.phase else { continue };
            self.given[k] = Some(r.seq);
            self.balancer.report(
                now,
                Report {
                    node: k,
                    measured: Instant::from_secs_f64(h.read_at.max(0.0)),
                    phase,
                    kw: r.p / 1e3,
                    amps: r.i,
                    volts: r.v,
                },
            );
        }
    }

    /// Advance the balancer to `now`: the moves to send, and what it did as events and as its
    /// notes (for a run's tallies).
    pub fn tick(
        &mut self,
        now: Instant,
        events: &mut Vec<Event>,
        notes: &mut Vec<Note>,
    ) -> Vec<Move> {
        let moves = self
            .balancer
            .tick(now)
            .into_iter()
            .map(|c| {
                self.outstanding[c.node] = Some((c.seq, c.to));
                (c.node, c.seq as u16, c.to)
            })
            .collect();
        for (at, n) in self.balancer.drain_notes() {
            if let Some((subject, kind)) = note_event(&n, &self.names) {
                events.push(Event::at(at.as_secs_f64(), subject, kind));
            }
            notes.push(n);
        }
        moves
    }
}

/// What the field said, as the event log keeps it: a node lost or back under its home's (or
/// meter's) name, a restart as its trouble. A command that could not be written is not an
/// event of its own: the balancer repeats it, and says so.
pub fn site_event(t: f64, e: SiteEvent) -> Option<Event> {
    let (subject, kind) = match e {
        SiteEvent::Lost { device, error } => (device, EventKind::NodeLost { error }),
        SiteEvent::Back { device } => (device, EventKind::NodeBack),
        SiteEvent::Restarted { home } => (
            home,
            EventKind::NodeTrouble {
                trouble: NodeTrouble::Reset,
            },
        ),
        SiteEvent::CommandFailed { .. } => return None,
    };
    Some(Event::at(t, subject.as_str(), kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use control_core::Secs;
    use field::home_node::{NodeReport, SelectorState};

    fn seen(seq: u16, phase: Phase, kw: f64, at: f64) -> Option<HomeSeen> {
        Some(HomeSeen {
            report: NodeReport {
                seq,
                age_s: 0.0,
                uptime_s: 100,
                phase: Some(phase),
                selector: SelectorState::Idle,
                status: 0,
                last_command: 0,
                result: CommandResult::None,
                since_switch_s: 65535,
                switches: 0,
                v: 230.0,
                i: kw * 1e3 / 230.0,
                p: kw * 1e3,
                q: 0.0,
                pf: 1.0,
                hz: 50.0,
                import_kwh: 0.0,
                export_kwh: 0.0,
            },
            read_at: at,
            fresh: true,
        })
    }

    #[test]
    fn the_balancer_moves_a_home_on_the_nodes_word_and_takes_its_report_as_the_ack() {
        // Six homes, all but one on A: a plan moves some off A.
        let names: Vec<String> = (0..6).map(|k| format!("h{k}")).collect();
        let settings = BalancerSettings {
            interval: Secs::lit(10.0),
            min_dwell: Secs::lit(0.0),
            ..BalancerSettings::default()
        };
        let mut b = NodesBalancer::new(settings, &names);
        let mut homes: Vec<Option<HomeSeen>> = (0..6)
            .map(|k| seen(1, if k == 5 { Phase::B } else { Phase::A }, 2.0, 1.0))
            .collect();
        let mut events = Vec::new();
        let mut moves = Vec::new();
        let mut t = 1.0;
        // The balancer looks every 10 s.
        while moves.is_empty() && t < 30.0 {
            b.handle_homes(Instant::from_secs_f64(t), &homes);
            moves = b.tick(Instant::from_secs_f64(t), &mut events, &mut Vec::new());
            t += 1.0;
        }
        assert!(!moves.is_empty(), "{events:?}");
        assert!(events.iter().any(|e| e.kind.name() == "balance_plan"));
        let (k, id, to) = moves[0];
        // The node moved and says so in its next report: that is the acknowledgement.
        let mut h = homes[k].unwrap();
        h.report.seq = 2;
        h.report.phase = Some(to);
        h.report.last_command = id;
        h.report.result = CommandResult::Done;
        h.report.since_switch_s = 1;
        h.read_at = t + 1.0;
        homes[k] = Some(h);
        events.clear();
        b.handle_homes(Instant::from_secs_f64(t + 1.0), &homes);
        b.tick(
            Instant::from_secs_f64(t + 1.0),
            &mut events,
            &mut Vec::new(),
        );
        assert!(
            events.iter().any(|e| e.subject == names[k]
                && matches!(e.kind, EventKind::PhaseMove { from: Phase::A, to: t } if t == to)),
            "{events:?}"
        );
        // A stale report, or the same window again, is not the balancer's.
        let j = (k + 1) % 6;
        let mut stale = homes[j].unwrap();
        stale.fresh = false;
        stale.report.seq = 9;
        assert_eq!(b.given[j], Some(1));
        homes[j] = Some(stale);
        b.handle_homes(Instant::from_secs_f64(t + 2.0), &homes);
        assert_eq!(b.given[j], Some(1));
    }
}
