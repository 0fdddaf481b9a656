//! Users of the staff side: who they are, what they may do, and the secrets
//! they sign in with.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::calendar::Calendar;
use crate::person::{Email, PersonName};

/// The id of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, on every calendar.
    Admin,
    /// Their own calendars and what hangs off them.
    Staff,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Staff => "staff",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "staff" => Some(Self::Staff),
            _ => None,
        }
    }
}

/// A user account (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: PersonName,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Administrators see every calendar; staff their own.
    pub fn can_access(&self, calendar: &Calendar) -> bool {
        self.is_admin() || calendar.owner == Some(self.id)
    }
}

/// The key an email address is looked up by: the whole address lower-cased,
/// so `Ann@Example.com` and `ann@example.com` are one account.
pub fn account_key(email: &Email) -> String {
    email.as_str().to_lowercase()
}

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {min} characters long")]
    TooShort { min: usize },
    /// bcrypt reads only the first 72 bytes: a longer password would be
    /// silently truncated, so it is refused.
    #[error("the password must be at most {max} bytes long (UTF-8)")]
    TooLong { max: usize },
    /// One of the most common passwords (the list is the auth adapter's):
    /// the first a guesser tries.
    #[error(
        "this password is one of the 1,000 most common passwords and is easily guessed: choose another"
    )]
    Common,
}

/// A password a user chose: at least 8 characters and at most 72 bytes
/// (bcrypt's limit; `validator`'s `length` counts characters, so bytes are
/// counted here). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_BYTES: usize = 72;

    pub fn parse(raw: &str) -> Result<Self, PasswordError> {
        if raw.len() > Self::MAX_BYTES {
            return Err(PasswordError::TooLong {
                max: Self::MAX_BYTES,
            });
        }
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(PasswordError::TooShort {
                min: Self::MIN_CHARS,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// A stored password hash (a bcrypt string). Opaque to the domain.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// The id of a sign-in (a refresh-token family): every refresh token issued
/// by rotation from one login shares it, and access tokens carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(Uuid);

impl SessionId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An opaque refresh token: 32 random bytes, URL-safe. Only its
/// [`digest`](Self::digest) is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A fresh token from a CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        // ThreadRng: ChaCha12 seeded from the operating system, a CSPRNG.
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("rt_{}", hex(&bytes)))
    }

    /// A token as a client presented it (not checked beyond its length).
    pub fn from_presented(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (!raw.is_empty() && raw.len() <= 256).then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the token, hex: what the store keeps and looks up by.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest(hex(&Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

/// The stored form of a [`RefreshToken`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub String);

fn hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_counted_in_characters_below_and_bytes_above() {
        assert_eq!(
            NewPassword::parse("short"),
            Err(PasswordError::TooShort { min: 8 })
        );
        assert!(NewPassword::parse("eight ch").is_ok());
        // 72 ASCII bytes pass; 73 do not.
        assert!(NewPassword::parse(&"a".repeat(72)).is_ok());
        assert_eq!(
            NewPassword::parse(&"a".repeat(73)),
            Err(PasswordError::TooLong { max: 72 })
        );
        // 25 three-byte characters: 25 characters (enough) but 75 bytes (too many).
        assert_eq!(
            NewPassword::parse(&"€".repeat(25)),
            Err(PasswordError::TooLong { max: 72 })
        );
        // 8 characters of 2 bytes each: long enough by characters.
        assert!(NewPassword::parse(&"é".repeat(8)).is_ok());
    }

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let p = NewPassword::parse("correct horse").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
        let t = RefreshToken::generate();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_as_digests() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 3 + 64);
        assert_eq!(a.digest(), a.clone().digest());
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest().0.len(), 64);
        assert!(!a.digest().0.contains(a.expose()));
        assert_eq!(
            RefreshToken::from_presented(&format!(" {} ", a.expose())),
            Some(a)
        );
        assert_eq!(RefreshToken::from_presented(""), None);
    }

    #[test]
    fn account_keys_ignore_case() {
        let a = Email::parse("Ann.Lee@Example.com").unwrap();
        let b = Email::parse("ann.lee@example.COM").unwrap();
        assert_eq!(account_key(&a), account_key(&b));
    }
}
