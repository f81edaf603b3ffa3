//! `gridtwin serve` and `gridtwin user`: open the store, start the loop, print the first
//! start's setup link, serve until ctrl-c; manage users offline.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use controller::backend::Backend;
use controller::run::{FieldLoop, Rig};
use controller::scenario::Loaded;

use crate::auth;
use crate::hardware::{self, Hil};
use crate::live::{Live, LiveOptions};
use crate::store::{Role, Store};
use crate::web::{self, AppState};

/// How long the first start's setup link stays valid.
const SETUP_TTL_MS: i64 = 24 * 3600 * 1000;

/// A site's field (`serve --field`): its file, and whether its devices are emulated. A feeder's
/// home nodes and transformer meter, or (with `--hil`) the meters of a PDU's circuits.
pub struct Field {
    pub file: field::config::Field,
    pub emulated: bool,
}

pub struct ServeOptions<'a> {
    pub listen: SocketAddr,
    pub data: &'a Path,
    pub speed: f64,
    /// Run a PDU's controller on this bench instead of the twin.
    pub hil: Option<&'a Hil>,
    /// Run a feeder's balancer on these home nodes instead of the twin; with `hil`, the PDU's
    /// circuits measured by these meters.
    pub field: Option<&'a Field>,
    /// Publish to an MQTT broker (and announce to Home Assistant).
    pub mqtt: Option<&'a crate::mqtt::client::Options>,
    /// Serve HTTPS with this configuration (`web::https::config`); cookies are then Secure.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Mark cookies Secure though serving plain HTTP (behind a TLS-terminating proxy).
    pub secure_cookies: bool,
}

/// Open the store and start the loop; with no users yet, make a setup token and return it.
pub fn start(l: &Loaded, o: &ServeOptions) -> Result<(AppState, Option<String>), String> {
    if !(o.speed.is_finite() && o.speed > 0.0 && o.speed <= 10_000.0) {
        return Err(format!(
            "--speed must be > 0 and at most 10000, found {}",
            o.speed
        ));
    }
    // Hardware and the field run on the wall clock.
    let real = [(o.hil.is_some(), "--hil"), (o.field.is_some(), "--field")];
    if let Some((_, flag)) = real.iter().find(|r| r.0)
        && o.speed != 1.0
    {
        return Err(format!(
            "{flag} runs in real time: --speed must be 1, not {}",
            o.speed
        ));
    }
    let rig = match (o.hil, o.field) {
        (Some(hil), Some(f)) => Rig::Bench(open_metered(l, hil, f)?),
        (Some(hil), None) => Rig::Bench(open_bench(l, hil)?),
        (None, Some(f)) => Rig::Field(Box::new(open_field(l, f)?)),
        (None, None) => Rig::Twin,
    };
    let db = Store::open(o.data).map_err(|e| e.to_string())?;
    let writer = Store::open(o.data).map_err(|e| e.to_string())?;
    let now = chrono::Local::now();
    let live = Live::start(
        l,
        &db,
        writer,
        LiveOptions {
            speed: o.speed,
            start_ms: now.timestamp_millis(),
            utc_offset_s: now.offset().local_minus_utc(),
        },
        rig,
    )?;
    let setup = if db.user_count().map_err(|e| e.to_string())? == 0 {
        let token = auth::new_token().map_err(|e| e.to_string())?;
        let expires = now.timestamp_millis() + SETUP_TTL_MS;
        db.add_setup_token(&auth::digest(&token), expires)
            .map_err(|e| e.to_string())?;
        Some(token)
    } else {
        None
    };
    let site = crate::site_report::SiteRecord {
        meta: controller::run::output::site_meta(l, true)?,
        utc_offset_s: now.offset().local_minus_utc(),
    };
    db.set_state(crate::site_report::SITE, &site)
        .map_err(|e| e.to_string())?;
    let mut state = AppState::new(live, db, o.data);
    state.secure_cookies = o.secure_cookies || o.tls.is_some();
    Ok((state, setup))
}

/// The bench's hardware for the scenario's PDU; what it says on opening goes to stderr.
fn open_bench(l: &Loaded, hil: &Hil) -> Result<Box<dyn Backend + Send>, String> {
    let spec = l
        .pdu()
        .ok_or("--hil drives a PDU; this scenario is a feeder")?;
    let names: Vec<String> = spec.loads.iter().map(|x| x.name.clone()).collect();
    let (hw, notes) =
        hardware::open(hil, &names, l.scenario.step()).map_err(|e| format!("bench: {e}"))?;
    for n in notes {
        tracing::info!("{n}");
    }
    if !l.scenario.timeline.is_empty() {
        tracing::warn!(
            "the scenario's timeline ({} actions) is not played on hardware",
            l.scenario.timeline.len()
        );
    }
    Ok(hw)
}

/// The scenario's PDU switched by the bench's relays and measured by the field's meters.
fn open_metered(l: &Loaded, hil: &Hil, f: &Field) -> Result<Box<dyn Backend + Send>, String> {
    let spec = l
        .pdu()
        .ok_or("--hil with --field meters a PDU; this scenario is a feeder")?;
    let names: Vec<String> = spec.loads.iter().map(|x| x.name.clone()).collect();
    hardware::open_metered(hil, &f.file, &names)
}

/// The scenario's feeder on the field's home nodes.
fn open_field(l: &Loaded, f: &Field) -> Result<FieldLoop, String> {
    let site = FieldLoop::new(l, &f.file, f.emulated).map_err(|e| format!("field: {e}"))?;
    if !l.scenario.timeline.is_empty() && !f.emulated {
        tracing::warn!(
            "the scenario's timeline ({} actions) is not played on the field",
            l.scenario.timeline.len()
        );
    }
    Ok(site)
}

/// Serve until ctrl-c; the last batch is stored before this returns.
pub fn serve(l: &Loaded, o: &ServeOptions) -> Result<(), String> {
    let (state, setup) = start(l, o)?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let state = Arc::new(state);
    let shared = state.clone();
    let listen = o.listen;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let scheme = if o.tls.is_some() { "https" } else { "http" };
        println!("gridtwin: serving {} on {scheme}://{addr}/", l.scenario.name);
        if let Some(token) = setup {
            println!(
                "gridtwin: no users yet. Create the first admin within 24 h (the link works once):\n  \
                 {scheme}://{addr}/setup#{token}\n  \
                 or offline: gridtwin user add NAME --role admin --data {}",
                o.data.display()
            );
        }
        if let Some(m) = o.mqtt {
            println!("gridtwin: publishing to {}", m.broker);
            tokio::spawn(crate::mqtt::client::run(shared.clone(), m.clone()));
        }
        tokio::spawn(web::reports::schedule(shared.clone()));
        web::serve(shared, listener, o.tls.clone())
            .await
            .map_err(|e| e.to_string())
    })?;
    state.live.shutdown();
    Ok(())
}

/// `gridtwin hq` until ctrl-c or SIGTERM.
#[cfg(feature = "hq")]
pub fn hq(o: crate::hq::Options, listen: SocketAddr) -> Result<(), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!(
            "gridtwin: hq: taking telemetry from {}, serving http://{addr}/api/sites",
            o.broker
        );
        crate::hq::serve(o, listener, web::stop_signal()).await
    })
}

/// `gridtwin user add`: the password from stdin's first line with `password_stdin`, else
/// asked twice on the terminal.
pub fn add_user(data: &Path, name: &str, role: Role, password_stdin: bool) -> Result<(), String> {
    auth::check_name(name).map_err(|e| e.to_string())?;
    let password = if password_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let a = rpassword::prompt_password(format!("password for {name}: "))
            .map_err(|e| e.to_string())?;
        let b = rpassword::prompt_password("again: ").map_err(|e| e.to_string())?;
        if a != b {
            return Err("the passwords differ".into());
        }
        a
    };
    let hash = auth::hash_password(&password).map_err(|e| e.to_string())?;
    let db = Store::open(data).map_err(|e| e.to_string())?;
    let now = crate::store::now_ms();
    db.add_user(name, role, &hash, now)
        .map_err(|e| e.to_string())?;
    db.audit(now, "(cli)", "user-add", name, role.name())
        .map_err(|e| e.to_string())
}

pub fn list_users(data: &Path) -> Result<String, String> {
    let db = Store::open(data).map_err(|e| e.to_string())?;
    let users = db.users().map_err(|e| e.to_string())?;
    Ok(users
        .iter()
        .map(|u| format!("{}\t{}\n", u.name, u.role.name()))
        .collect())
}

pub fn remove_user(data: &Path, name: &str) -> Result<(), String> {
    let db = Store::open(data).map_err(|e| e.to_string())?;
    if !db.delete_user(name).map_err(|e| e.to_string())? {
        return Err(format!("no user is named {name:?}"));
    }
    db.audit(crate::store::now_ms(), "(cli)", "user-delete", name, "")
        .map_err(|e| e.to_string())
}
