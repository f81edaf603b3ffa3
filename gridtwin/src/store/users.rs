//! Users, their sessions (stored as token digests, never the tokens) and one-time setup links.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError};

/// What a user may do: viewers look, operators switch loads and acknowledge alarms, admins
/// also manage users and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role {s:?}; expected viewer, operator or admin"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRow {
    pub name: String,
    pub role: Role,
    pub created: i64,
}

/// The user a session or token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub name: String,
    pub role: Role,
    /// When the session or token ends, unix ms.
    pub expires: i64,
}

fn role(text: String) -> rusqlite::Result<Role> {
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

impl Store {
    /// Add a user with an already-hashed password; refuses a name taken.
    pub fn add_user(&self, name: &str, role: Role, hash: &str, now_ms: i64) -> Result<()> {
        let n = self.conn.execute(
            "INSERT INTO user(name, role, hash, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO NOTHING",
            params![name, role.name(), hash, now_ms],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid(format!("a user named {name:?} exists")));
        }
        Ok(())
    }

    pub fn users(&self) -> Result<Vec<UserRow>> {
        let mut q = self
            .conn
            .prepare("SELECT name, role, created FROM user ORDER BY name")?;
        let rows = q.query_map([], |r| {
            Ok(UserRow {
                name: r.get(0)?,
                role: role(r.get(1)?)?,
                created: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn user_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM user", [], |r| r.get(0))?)
    }

    /// A user's role and password hash.
    pub fn credentials(&self, name: &str) -> Result<Option<(Role, String)>> {
        Ok(self
            .conn
            .query_row("SELECT role, hash FROM user WHERE name = ?1", [name], |r| {
                Ok((role(r.get(0)?)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Remove a user and their sessions; false when there was none.
    pub fn delete_user(&self, name: &str) -> Result<bool> {
        self.conn
            .execute("DELETE FROM session WHERE user = ?1", [name])?;
        Ok(self
            .conn
            .execute("DELETE FROM user WHERE name = ?1", [name])?
            == 1)
    }

    pub fn add_session(&self, digest: &str, user: &str, now_ms: i64, expires: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO session(token, user, created, expires) VALUES (?1, ?2, ?3, ?4)",
            params![digest, user, now_ms, expires],
        )?;
        Ok(())
    }

    /// The live session with this token digest, and its user.
    pub fn session(&self, digest: &str, now_ms: i64) -> Result<Option<SessionUser>> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.name, u.role, s.expires FROM session s JOIN user u ON u.name = s.user
                 WHERE s.token = ?1 AND s.expires > ?2",
                params![digest, now_ms],
                |r| {
                    Ok(SessionUser {
                        name: r.get(0)?,
                        role: role(r.get(1)?)?,
                        expires: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn delete_session(&self, digest: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM session WHERE token = ?1", [digest])?;
        Ok(())
    }

    pub fn add_setup_token(&self, digest: &str, expires: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO setup(token, expires) VALUES (?1, ?2)",
            params![digest, expires],
        )?;
        Ok(())
    }

    /// Use up a setup token: true when it existed and had not expired.
    pub fn take_setup_token(&self, digest: &str, now_ms: i64) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM setup WHERE token = ?1 AND expires > ?2",
            params![digest, now_ms],
        )? == 1)
    }
}
