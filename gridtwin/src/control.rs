//! Switching a load, as every front end asks for it (the web's API, MQTT commands): the
//! caller's role, the load's existence, the confirmation a critical load's switching off
//! needs, the controller's verdict, and the audit entry naming who asked.

use std::future::Future;

use control_core::OperatorCommand;
use serde::Deserialize;

use crate::live::Live;
use crate::store::{Role, now_ms};

/// What switching needs of the service it runs in: the live loop, and the audit log.
pub trait Switchboard {
    fn live(&self) -> &Live;
    /// Stores an audit entry: at `now` (ms), `user` did `action` to `subject`.
    fn audit(
        &self,
        now: i64,
        user: String,
        action: String,
        subject: String,
        detail: &'static str,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// What a command asks of a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum To {
    On,
    Off,
    /// Clear a trip or lockout.
    Reset,
}

impl To {
    pub fn name(self) -> &'static str {
        match self {
            To::On => "on",
            To::Off => "off",
            To::Reset => "reset",
        }
    }
}

/// A switching request, as JSON: `{"to": "on" | "off" | "reset", "confirm": bool}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    pub to: To,
    /// Required to switch a critical load off.
    #[serde(default)]
    pub confirm: bool,
}

/// Why a request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{user} is a {role}; this needs the operator role")]
    Forbidden { user: String, role: &'static str },
    #[error("no load is named {0:?}")]
    NoSuchLoad(String),
    #[error("{0} is critical: switching it off needs \"confirm\": true")]
    NeedsConfirm(String),
    /// The controller's own refusal (a locked-out load switched on, say).
    #[error("{0}")]
    Controller(String),
    /// Carried out, but the audit entry could not be stored.
    #[error("{0}")]
    Audit(String),
}

/// Switch `load` for `user`, who has `role`; audited as `user` on success.
pub async fn switch(
    app: &impl Switchboard,
    user: &str,
    role: Role,
    load: &str,
    s: Switch,
) -> Result<(), Refusal> {
    if role < Role::Operator {
        return Err(Refusal::Forbidden {
            user: user.to_string(),
            role: role.name(),
        });
    }
    let Some(cfg) = app.live().load_settings(load) else {
        return Err(Refusal::NoSuchLoad(load.to_string()));
    };
    if cfg.critical && s.to == To::Off && !s.confirm {
        return Err(Refusal::NeedsConfirm(load.to_string()));
    }
    let name = load.to_string();
    let cmd = match s.to {
        To::On => OperatorCommand::On(name),
        To::Off => OperatorCommand::Off(name),
        To::Reset => OperatorCommand::Reset(name),
    };
    app.live()
        .operator(cmd)
        .await
        .map_err(Refusal::Controller)?;
    let (user, load, now) = (user.to_string(), load.to_string(), now_ms());
    let detail = if s.confirm { "confirmed" } else { "" };
    let action = format!("load-{}", s.to.name());
    app.audit(now, user, action, load, detail)
        .await
        .map_err(Refusal::Audit)
}
