//! Alert rules against a site's recorded channels: each rule's scope and quantity resolved to
//! the channels of `record::schema` its value is made of, for the core's `Alerts`.

use chrono::NaiveDateTime;
use control_core::{
    AlertRule, Alerts, Combine, Crossing, Event, EventKind, Input, Quantity, Scope,
};
use record::schema::{self, J_PER_KWH};

/// The first rule that does not fit, by its index, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub index: usize,
    pub message: String,
}

/// The rules on a site with these channels (`record::schema` names); `epoch` is the local
/// time at the site loop's start.
pub fn alerts(
    rules: &[AlertRule],
    channels: &[String],
    epoch: NaiveDateTime,
) -> Result<Alerts, RuleError> {
    Ok(Alerts::new(epoch, resolve(rules, channels)?))
}

/// Each rule with its input from `channels`, as `Alerts` takes them.
pub fn resolve(
    rules: &[AlertRule],
    channels: &[String],
) -> Result<Vec<(AlertRule, Input)>, RuleError> {
    let mut resolved = Vec::with_capacity(rules.len());
    for (index, r) in rules.iter().enumerate() {
        let twice = rules[..index]
            .iter()
            .any(|o| o.name == r.name)
            .then(|| format!("alert {:?} is defined twice", r.name));
        let input = match r.problem().or(twice) {
            Some(message) => Err(message),
            None => input(r, channels),
        };
        let input = input.map_err(|message| RuleError { index, message })?;
        resolved.push((r.clone(), input));
    }
    Ok(resolved)
}

/// What alert events ask of the loads: (rule, its loads, hold them off) for each alert raised
/// or cleared by a rule whose action sheds.
pub fn holds<'a>(
    events: &'a [Event],
    rules: &'a [AlertRule],
) -> impl Iterator<Item = (&'a str, Vec<String>, bool)> + 'a {
    events.iter().filter_map(move |e| {
        let (rule, hold) = match &e.kind {
            EventKind::AlertRaised { rule, .. } => (rule, true),
            EventKind::AlertCleared { rule, .. } => (rule, false),
            _ => return None,
        };
        let r = rules.iter().find(|r| &r.name == rule)?;
        let loads = r.shed_targets();
        (!loads.is_empty()).then_some((r.name.as_str(), loads, hold))
    })
}

/// Where a rule's value comes from among `channels`.
pub fn input(rule: &AlertRule, channels: &[String]) -> Result<Input, String> {
    let name = &rule.name;
    let has = |c: &str| channels.iter().any(|x| x == c);
    let load_base = |n: &str| format!("{}/{n}/", schema::LOAD);
    if let Some(n) = rule
        .shed
        .iter()
        .find(|n| !channels.iter().any(|c| c.starts_with(&load_base(n))))
    {
        return Err(format!(
            "alert {name:?}: this site has no load {n:?} to shed"
        ));
    }
    let pdu = has("bus/v");
    // The members whose `{base}{quantity}` channels make the value.
    let member = |scope: &str, n: &str, what: &str| {
        let base = format!("{scope}/{n}/");
        let known = channels.iter().any(|c| c.starts_with(&base));
        known
            .then_some(base)
            .ok_or_else(|| format!("alert {name:?}: this site has no {what} {n:?}"))
    };
    let bases: Vec<String> = match &rule.scope {
        Scope::Site if pdu => vec!["main/".into(), "backup/".into()],
        Scope::Site => vec!["source/".into()],
        Scope::Source(_) if !pdu => {
            return Err(format!(
                "alert {name:?}: a feeder's source is its Site scope"
            ));
        }
        Scope::Source(_) => vec![format!("{}/", rule.scope.subject())],
        Scope::Load(n) => vec![member(schema::LOAD, n, "load")?],
        Scope::Group { loads, .. } => loads
            .iter()
            .map(|n| member(schema::LOAD, n, "load"))
            .collect::<Result<_, _>>()?,
        Scope::Home(n) => vec![member(schema::HOME, n, "home")?],
        Scope::Head(n) => vec![member(schema::HEAD, n, "transformer secondary")?],
    };
    let of = |q: &str| bases.iter().map(|b| format!("{b}{q}")).collect::<Vec<_>>();
    let worst = match rule.when {
        Crossing::Above => Combine::Max,
        Crossing::Below => Combine::Min,
    };
    let one = |c: &str| (Combine::Sum, vec![c.to_string()], Vec::new(), 1.0);
    let head = matches!(rule.scope, Scope::Head(_));
    let site = rule.scope == Scope::Site;
    let (combine, names, reactive, scale) = match rule.quantity {
        Quantity::V if site && pdu => one("bus/v"),
        Quantity::V if site => match rule.when {
            Crossing::Above => one("feeder/v_max"),
            Crossing::Below => one("feeder/v_min"),
        },
        Quantity::Hz if site && pdu => one("bus/hz"),
        Quantity::Thd if site && pdu => one("site/thd"),
        Quantity::ThdV if site && pdu => one("bus/thd"),
        Quantity::VoltageUnbalance if site && !pdu => one("feeder/vuf"),
        Quantity::I if head => {
            let phases = channels
                .iter()
                .filter(|c| c.starts_with(&bases[0]) && c[bases[0].len()..].starts_with("i_"))
                .cloned()
                .collect();
            (Combine::Max, phases, Vec::new(), 1.0)
        }
        Quantity::Neutral if head => (Combine::Sum, of("neutral"), Vec::new(), 1.0),
        Quantity::CurrentUnbalance if head => (Combine::Sum, of("unbalance"), Vec::new(), 1.0),
        _ if head => return Err(refused(rule)),
        Quantity::V | Quantity::Hz | Quantity::Thd => {
            let q = match rule.quantity {
                Quantity::V => "v",
                Quantity::Hz => "hz",
                _ => "thd",
            };
            (worst, of(q), Vec::new(), 1.0)
        }
        Quantity::I => (Combine::Sum, of("i"), Vec::new(), 1.0),
        Quantity::P | Quantity::Demand { .. } => (Combine::Sum, of("p"), Vec::new(), 1.0),
        Quantity::Q => (Combine::Sum, of("q"), Vec::new(), 1.0),
        Quantity::S => (Combine::Apparent, of("p"), of("q"), 1.0),
        Quantity::Pf => (Combine::Pf, of("p"), of("q"), 1.0),
        Quantity::EnergyPerDay => (Combine::Sum, of("energy"), Vec::new(), 1.0 / J_PER_KWH),
        Quantity::ThdV
        | Quantity::VoltageUnbalance
        | Quantity::CurrentUnbalance
        | Quantity::Neutral => return Err(refused(rule)),
    };
    let index = |c: &String| {
        channels
            .iter()
            .position(|x| x == c)
            .ok_or_else(|| refused(rule))
    };
    let channels_of = |cs: &[String]| cs.iter().map(index).collect::<Result<Vec<_>, _>>();
    let input = Input {
        combine,
        channels: channels_of(&names)?,
        reactive: channels_of(&reactive)?,
        scale,
    };
    if input.channels.is_empty() {
        return Err(refused(rule));
    }
    Ok(input)
}

fn refused(rule: &AlertRule) -> String {
    format!(
        "alert {:?}: {:?} is not measured for {} on this site",
        rule.name,
        rule.quantity,
        match &rule.scope {
            Scope::Site => "the site".to_string(),
            s => format!("{s:?}"),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use control_core::{AlertAction, Secs};

    fn rule(quantity: Quantity, scope: Scope) -> AlertRule {
        AlertRule {
            name: "r".into(),
            quantity,
            scope,
            when: Crossing::Below,
            warning: Some(1.0),
            critical: None,
            after: Secs::lit(0.0),
            hysteresis: 0.0,
            clear_after: Secs::lit(0.0),
            action: AlertAction::Log,
            notify: None,
            escalate: None,
            shed: Vec::new(),
        }
    }

    fn names(cs: Vec<schema::Channel>) -> Vec<String> {
        cs.into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn a_pdu_rule_reads_the_channels_its_scope_and_quantity_name() {
        let ch = names(schema::pdu_channels(&["a".into(), "b".into()]));
        let at = |c: &str| ch.iter().position(|x| x == c).unwrap();
        let get = |q, s| input(&rule(q, s), &ch).unwrap();
        let site_pf = get(Quantity::Pf, Scope::Site);
        assert_eq!(site_pf.combine, Combine::Pf);
        assert_eq!(site_pf.channels, [at("main/p"), at("backup/p")]);
        assert_eq!(site_pf.reactive, [at("main/q"), at("backup/q")]);
        assert_eq!(get(Quantity::V, Scope::Site).channels, [at("bus/v")]);
        assert_eq!(get(Quantity::Thd, Scope::Site).channels, [at("site/thd")]);
        let load = get(Quantity::Thd, Scope::Load("b".into()));
        assert_eq!(load.channels, [at("load/b/thd")]);
        let group = Scope::Group {
            name: "g".into(),
            loads: vec!["a".into(), "b".into()],
        };
        let energy = get(Quantity::EnergyPerDay, group.clone());
        assert_eq!(energy.channels, [at("load/a/energy"), at("load/b/energy")]);
        assert_eq!(energy.scale, 1.0 / J_PER_KWH);
        // The worst member's voltage: the lowest for an undervoltage rule.
        assert_eq!(get(Quantity::V, group).combine, Combine::Min);
        let main = get(Quantity::Hz, Scope::Source(grid_types::SourceId::Main));
        assert_eq!(main.channels, [at("main/hz")]);
    }

    #[test]
    fn a_rule_that_does_not_fit_the_site_says_why() {
        let ch = names(schema::pdu_channels(&["a".into()]));
        let err = |q, s| input(&rule(q, s), &ch).unwrap_err();
        assert!(err(Quantity::P, Scope::Load("x".into())).contains("no load \"x\""));
        assert!(err(Quantity::Neutral, Scope::Site).contains("Neutral is not measured"));
        assert!(err(Quantity::P, Scope::Home("h".into())).contains("no home"));
        let twice = [
            rule(Quantity::P, Scope::Site),
            rule(Quantity::Q, Scope::Site),
        ];
        let epoch = control_core::WallTime::parse("2026-01-05T00:00").unwrap().0;
        let e = alerts(&twice, &ch, epoch).unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e.message.contains("twice"), "{e}");
    }

    #[test]
    fn a_feeder_rule_reads_its_heads_and_homes() {
        let ch = names(schema::feeder_channels(
            &[("lv".into(), vec![1, 2, 3])],
            &["h1".into()],
        ));
        let at = |c: &str| ch.iter().position(|x| x == c).unwrap();
        let get = |q, s| input(&rule(q, s), &ch).unwrap();
        let i = get(Quantity::I, Scope::Head("lv".into()));
        assert_eq!(i.combine, Combine::Max);
        assert_eq!(
            i.channels,
            [at("head/lv/i_A"), at("head/lv/i_B"), at("head/lv/i_C")]
        );
        let n = get(Quantity::Neutral, Scope::Head("lv".into()));
        assert_eq!(n.channels, [at("head/lv/neutral")]);
        assert_eq!(get(Quantity::V, Scope::Site).channels, [at("feeder/v_min")]);
        let vuf = get(Quantity::VoltageUnbalance, Scope::Site);
        assert_eq!(vuf.channels, [at("feeder/vuf")]);
        assert_eq!(
            get(Quantity::V, Scope::Home("h1".into())).channels,
            [at("home/h1/v")]
        );
        assert!(input(&rule(Quantity::Thd, Scope::Site), &ch).is_err());
    }
}
