//! Passwords (argon2id), session and setup tokens, and the login rate limit. The HTTP side
//! (cookies, extractors, roles per route) is in `web::session`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("a password needs at least {MIN_PASSWORD} characters")]
    TooShort,
    #[error("a user name is 1 to 64 letters, digits, '.', '_' or '-'")]
    BadName,
    #[error("the system's random source failed: {0}")]
    Random(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// A user name must be safe to show and log as it is.
pub fn check_name(name: &str) -> Result<(), AuthError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(AuthError::BadName) }
}

/// An argon2id hash (PHC string) of `password`, with a fresh salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(AuthError::TooShort);
    }
    let salt =
        SaltString::encode_b64(&random::<16>()?).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches the stored hash (false for a damaged hash).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new secret token: 32 random bytes, URL-safe base64.
pub fn new_token() -> Result<String, AuthError> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>()?))
}

/// What is stored for a token: its SHA-256, hex. A stolen database holds no usable token.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn random<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(b)
}

/// Failed logins per key (user name, and client address): at most `max` in any `window`.
/// Time is an argument, so the limit is tested without waiting.
#[derive(Debug)]
pub struct RateLimit {
    max: usize,
    window: Duration,
    failures: HashMap<String, VecDeque<Instant>>,
}

impl RateLimit {
    pub fn new(max: usize, window: Duration) -> Self {
        RateLimit {
            max,
            window,
            failures: HashMap::new(),
        }
    }

    /// None when `key` may try now; else how long until it may.
    pub fn check(&mut self, key: &str, now: Instant) -> Option<Duration> {
        let q = self.failures.get_mut(key)?;
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.is_empty() {
            self.failures.remove(key);
            return None;
        }
        (q.len() >= self.max).then(|| self.window - now.duration_since(q[0]))
    }

    pub fn failed(&mut self, key: &str, now: Instant) {
        self.failures
            .entry(key.to_string())
            .or_default()
            .push_back(now);
        // Keys are bounded by the window; drop idle ones so a scan of names cannot grow this.
        if self.failures.len() > 10_000 {
            let w = self.window;
            self.failures
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < w));
        }
    }

    pub fn succeeded(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
        assert!(matches!(hash_password("short"), Err(AuthError::TooShort)));
    }

    #[test]
    fn tokens_are_random_and_stored_as_digests() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn names_are_plain() {
        assert!(check_name("ops-1.night_shift").is_ok());
        for bad in ["", "a b", "<script>", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_rate_limit_blocks_after_max_failures_until_the_window_passes() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(3, Duration::from_secs(60));
        for k in 0..3 {
            assert_eq!(r.check("alice", t0), None);
            r.failed("alice", t0 + Duration::from_secs(k));
        }
        let wait = r.check("alice", t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(r.check("bob", t0), None, "other keys are not affected");
        assert_eq!(r.check("alice", t0 + Duration::from_secs(60)), None);
        r.succeeded("alice");
        assert!(r.failures.is_empty());
    }
}
