//! `gridtwin alerts test --data DIR [--group NAME]`: one test message to each target of a
//! notification group (every group when none), with the site's stored notification settings,
//! as the control center's Test button sends it; prints how each went and how long it took.

use std::path::PathBuf;

use chrono::{Local, Offset};

use super::{Failure, Outcome, Verdict, open_store, print};
use gridtwin::live::ServiceSettings;
use gridtwin::notify::send::Sender;
use gridtwin::store::now_ms;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Send a test notification (exit 0: every target took it, 1: one did not).
    Test(Test),
}

#[derive(clap::Args)]
struct Test {
    /// The data directory, as `serve --data` was given.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// One group (default: every group).
    #[arg(long)]
    group: Option<String>,
    /// The site's name in the subject (default: the data directory's name).
    #[arg(long)]
    site: Option<String>,
}

pub fn run(a: Args) -> Outcome {
    let Command::Test(t) = a.command;
    let db = open_store(&t.data)?;
    let settings: ServiceSettings = db
        .setting::<ServiceSettings>(gridtwin::live::SETTINGS)
        .map_err(|e| Failure::BadInput(e.to_string()))?
        .unwrap_or_default();
    let cfg = settings.notifications;
    let site = t.site.unwrap_or_else(|| {
        let dir = std::path::absolute(&t.data).unwrap_or(t.data.clone());
        dir.file_name()
            .map_or("gridtwin".into(), |n| n.to_string_lossy().into_owned())
    });
    let sender = Sender {
        site,
        utc_offset_s: Local::now().offset().fix().local_minus_utc(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let outcomes = rt
        .block_on(sender.test(&cfg, t.group.as_deref(), now_ms()))
        .map_err(Failure::BadInput)?;
    let mut failed = false;
    for o in &outcomes {
        match (&o.error, o.ms) {
            (None, Some(ms)) => print(&format!("ok      {}  ({ms:.0} ms)", o.target)),
            (e, _) => {
                failed = true;
                print(&format!(
                    "FAILED  {}: {}",
                    o.target,
                    e.as_deref().unwrap_or("?")
                ));
            }
        }
    }
    Ok(if failed {
        Verdict::Failed
    } else {
        Verdict::Passed
    })
}
