//! Where everything lives under one site's root, `gridtwin/SITE/`:
//!
//! - `status`: `online` or `offline` (retained; `offline` is the last will);
//! - `load/NAME`: a load's state as JSON (retained);
//! - `source/main|backup`: a PDU source's state as JSON (retained);
//! - `phase/a|b|c|n`: a feeder transformer's phase and neutral current (retained);
//! - `event`: each event as the loop logs it, JSON (not retained);
//! - `telemetry`: every recorded frame, batched each period (QoS 1, not retained; `telemetry`);
//! - `cmd/USER/load/NAME/set`: a command from MQTT user USER, and `.../result` its outcome.
//!   The broker's ACL lets each user write and read only under its own `cmd/USER/`
//!   (mosquitto: `pattern readwrite gridtwin/+/cmd/%u/#`), so the topic says who asked, and
//!   the user's role decides, as on the web.

/// A site's topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    root: String,
}

/// A command read from a topic: who sent it, for which load (its topic level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTopic {
    pub user: String,
    pub load: String,
}

impl Topics {
    /// `site` becomes one topic level: lower case, anything but letters, digits, `-` and `_`
    /// turned into `_` (no `/`, `+` or `#` can reach a topic).
    pub fn new(site: &str) -> Topics {
        Topics {
            root: format!("gridtwin/{}", level(site)),
        }
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn status(&self) -> String {
        format!("{}/status", self.root)
    }

    pub fn load(&self, name: &str) -> String {
        format!("{}/load/{}", self.root, level(name))
    }

    /// A PDU source (`main`, `backup`).
    pub fn source(&self, name: &str) -> String {
        format!("{}/source/{}", self.root, level(name))
    }

    pub fn phase(&self, phase: &str) -> String {
        format!("{}/phase/{}", self.root, level(phase))
    }

    pub fn telemetry(&self) -> String {
        format!("{}/telemetry", self.root)
    }

    pub fn events(&self) -> String {
        format!("{}/event", self.root)
    }

    /// Where `user` (a name `check_user` accepts) sends commands for load `name`.
    pub fn command(&self, user: &str, name: &str) -> String {
        format!("{}/cmd/{user}/load/{}/set", self.root, level(name))
    }

    /// What the site subscribes to: every user's commands.
    pub fn commands(&self) -> String {
        format!("{}/cmd/+/load/+/set", self.root)
    }

    /// Where a command's outcome goes, beside the command.
    pub fn result(&self, c: &CommandTopic) -> String {
        format!("{}/cmd/{}/load/{}/result", self.root, c.user, c.load)
    }

    /// A command topic's user and load level; None for any other topic.
    pub fn parse_command(&self, topic: &str) -> Option<CommandTopic> {
        let rest = topic.strip_prefix(&self.root)?.strip_prefix("/cmd/")?;
        let mut parts = rest.split('/');
        let (user, kind, load, set) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if kind != "load" || set != "set" || parts.next().is_some() || user.is_empty() {
            return None;
        }
        if load.is_empty() {
            return None;
        }
        Some(CommandTopic {
            user: user.to_string(),
            load: load.to_string(),
        })
    }
}

/// The load whose topic level is `load`.
pub fn load_named<'a>(loads: &'a [String], load: &str) -> Option<&'a String> {
    loads.iter().find(|n| level(n) == load)
}

/// An MQTT user name as it appears in command topics (the broker's `%u`): used as it is, so
/// it must be one topic level.
pub fn check_user(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("an MQTT user name has 1 to 64 bytes: {name:?}"));
    }
    if name
        .chars()
        .any(|c| matches!(c, '/' | '+' | '#') || c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "an MQTT user name here cannot hold /, +, #, spaces or control characters: {name:?}"
        ));
    }
    Ok(())
}

/// A name as one topic level.
pub fn level(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn user_names_are_one_level() {
        assert!(check_user("homeassistant").is_ok());
        assert!(check_user("Ops_1").is_ok());
        for bad in ["", "a/b", "a+", "#", "a b", "x\n"] {
            assert!(check_user(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_layout() {
        let t = Topics::new("Demo PDU");
        assert_eq!(t.status(), "gridtwin/demo_pdu/status");
        assert_eq!(t.load("Fridge"), "gridtwin/demo_pdu/load/fridge");
        assert_eq!(t.phase("A"), "gridtwin/demo_pdu/phase/a");
        assert_eq!(t.source("main"), "gridtwin/demo_pdu/source/main");
        assert_eq!(t.events(), "gridtwin/demo_pdu/event");
        assert_eq!(t.telemetry(), "gridtwin/demo_pdu/telemetry");
        assert_eq!(t.commands(), "gridtwin/demo_pdu/cmd/+/load/+/set");
        assert_eq!(
            t.command("homeassistant", "Fridge"),
            "gridtwin/demo_pdu/cmd/homeassistant/load/fridge/set"
        );
    }

    #[test]
    fn a_command_topic_names_its_user_and_load() {
        let t = Topics::new("demo");
        let loads = vec!["server".to_string(), "Fridge".to_string()];
        let c = t
            .parse_command("gridtwin/demo/cmd/HA-1/load/fridge/set")
            .unwrap();
        assert_eq!(
            c,
            CommandTopic {
                user: "HA-1".into(),
                load: "fridge".into()
            }
        );
        assert_eq!(load_named(&loads, &c.load), Some(&loads[1]));
        assert_eq!(t.result(&c), "gridtwin/demo/cmd/HA-1/load/fridge/result");
        assert_eq!(load_named(&loads, "oven"), None);
        for bad in [
            "gridtwin/demo/cmd/ha/load//set",
            "gridtwin/demo/cmd/ha/load/fridge/result",
            "gridtwin/demo/cmd/ha/load/fridge",
            "gridtwin/demo/cmd/ha/load/fridge/set/x",
            "gridtwin/demo/cmd//load/fridge/set",
            "gridtwin/other/cmd/ha/load/fridge/set",
            "gridtwin/demo/load/fridge",
        ] {
            assert_eq!(t.parse_command(bad), None, "{bad}");
        }
    }

    proptest! {
        /// Whatever a name holds, it is one topic level with no wildcard, and a command
        /// topic made for it reads back as it.
        #[test]
        fn names_never_escape_their_level(site in ".{0,12}", user in "[a-z]{1,8}", name in ".{1,12}") {
            let t = Topics::new(&site);
            let l = level(&name);
            prop_assert!(!l.is_empty());
            prop_assert!(!l.contains(['/', '+', '#']));
            let loads = vec![name.clone()];
            let back = t.parse_command(&t.command(&user, &name)).unwrap();
            prop_assert_eq!(load_named(&loads, &back.load), Some(&name));
            prop_assert_eq!(back.user, user);
        }
    }
}
