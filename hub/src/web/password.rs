//! Dashboard passwords: argon2id with the crate's default cost (19 MiB,
//! two passes), kept as PHC strings, which carry their own salt and cost,
//! so a later cost change still verifies the old hashes.

use crate::error::{HubError, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;

/// The PHC string of `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String> {
    if password.chars().count() < MIN_LEN {
        return Err(HubError::Invalid(format!(
            "password is not valid: use at least {MIN_LEN} characters"
        )));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| HubError::Internal(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HubError::Internal(format!("password hash: {e}")))
}

/// Whether `password` is the one `phc` was made from. A hash that does not
/// parse verifies nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash no password matches in practice, verified against when the user
/// does not exist or has no password, so that a wrong name costs the same
/// time as a wrong password and the time tells a guesser nothing.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let mut secret = [0u8; 24];
        rand::rng().fill_bytes(&mut secret);
        hash(&hex::encode(secret)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("geheim-密码-1").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("geheim-密码-1", &h));
        assert!(!verify("geheim-密码-2", &h));
        assert!(!verify("geheim-密码-1", "not a hash"));
        assert_ne!(
            h,
            hash("geheim-密码-1").unwrap(),
            "each hash has its own salt"
        );
    }

    #[test]
    fn a_short_password_is_refused() {
        let e = hash("short").unwrap_err().to_string();
        assert!(e.contains("at least 8"), "{e}");
    }

    #[test]
    fn the_decoy_matches_no_ordinary_password() {
        assert!(decoy().starts_with("$argon2id$"));
        assert!(!verify("", decoy()));
        assert!(!verify("password", decoy()));
    }
}
