//! `gridtwin user add|list|remove`: the control center's users, offline, on the data directory.

use std::path::PathBuf;

use gridtwin::service;
use gridtwin::store::Role;

use super::{Outcome, printed};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Add a user; the password is asked twice on a terminal, or read from stdin's first line.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from stdin's first line.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// List users and their roles.
    List {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Remove a user and end their sessions.
    Remove {
        name: String,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

pub fn run(a: Args) -> Outcome {
    printed(match a.action {
        Action::Add {
            name,
            role,
            password_stdin,
            data,
        } => service::add_user(&data, &name, role, password_stdin)
            .map(|()| format!("added {name} ({})\n", role.name())),
        Action::List { data } => service::list_users(&data),
        Action::Remove { name, data } => {
            service::remove_user(&data, &name).map(|()| format!("removed {name}\n"))
        }
    })
}
