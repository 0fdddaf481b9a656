//! bcrypt password hashing, off the async runtime.

use std::fmt;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, anyhow, bail, ensure};
use async_trait::async_trait;
use bcrypt::HashParts;
use voice_scheduler_domain::NewPassword;
use voice_scheduler_domain::ports::PasswordHasher;
use voice_scheduler_domain::user::PasswordHash;

/// The lowest cost accepted: the project's floor.
pub const MIN_COST: u32 = 12;
/// The highest cost accepted (each step doubles the work; 16 is 16 times 12).
pub const MAX_COST: u32 = 16;
/// The cost of [`BcryptHasher::default`].
pub const DEFAULT_COST: u32 = MIN_COST;

/// The most bytes of a password bcrypt reads (the domain's limit too).
const MAX_PASSWORD_BYTES: usize = NewPassword::MAX_BYTES;

/// What the dummy hash is a hash of; never compared with anything a user can
/// make match, since its answer is always thrown away.
const DUMMY_PASSWORD: &str = "voice-scheduler dummy password";

/// The production [`PasswordHasher`]: bcrypt with a cost of at least 12.
#[derive(Clone)]
pub struct BcryptHasher {
    inner: Arc<Inner>,
}

struct Inner {
    cost: u32,
    /// A hash at `cost`, made on first need, verified against for unknown
    /// accounts and too-long passwords.
    dummy: OnceLock<String>,
}

impl BcryptHasher {
    /// A hasher of the given cost; refuses a cost below [`MIN_COST`] or above
    /// [`MAX_COST`].
    pub fn new(cost: u32) -> anyhow::Result<Self> {
        ensure!(
            cost >= MIN_COST,
            "the bcrypt cost must be at least {MIN_COST}, got {cost}"
        );
        ensure!(
            cost <= MAX_COST,
            "the bcrypt cost must be at most {MAX_COST}, got {cost}"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                cost,
                dummy: OnceLock::new(),
            }),
        })
    }

    /// The cost new hashes get.
    pub fn cost(&self) -> u32 {
        self.inner.cost
    }

    /// Computes the dummy hash now rather than at the first sign-in attempt
    /// for an unknown account (which otherwise takes twice as long once).
    pub async fn warm_up(&self) -> anyhow::Result<()> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.dummy().map(|_| ()))
            .await
            .context("the bcrypt task did not finish")?
    }
}

impl Default for BcryptHasher {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                cost: DEFAULT_COST,
                dummy: OnceLock::new(),
            }),
        }
    }
}

impl fmt::Debug for BcryptHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BcryptHasher")
            .field("cost", &self.inner.cost)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn dummy(&self) -> anyhow::Result<&str> {
        if let Some(hash) = self.dummy.get() {
            return Ok(hash);
        }
        // Two threads may both compute one; the first stored wins. Both are
        // valid hashes of the same cost, so either serves.
        let hash = bcrypt::non_truncating_hash(DUMMY_PASSWORD, self.cost)
            .context("could not compute the dummy bcrypt hash")?;
        Ok(self.dummy.get_or_init(|| hash))
    }

    /// bcrypt's work against the dummy hash, with the answer thrown away.
    fn burn(&self, password: &[u8]) -> anyhow::Result<()> {
        let dummy = self.dummy()?;
        let usable = &password[..password.len().min(MAX_PASSWORD_BYTES)];
        let _ = verify_untruncated(usable, dummy)
            .map_err(|e| anyhow!("could not verify against the dummy bcrypt hash: {e}"))?;
        Ok(())
    }

    fn verify(&self, password: &[u8], stored: Option<&str>) -> anyhow::Result<bool> {
        let Some(stored) = stored else {
            self.burn(password)?;
            return Ok(false);
        };
        // The hash is not in the messages: it is a secret too.
        let parts: HashParts = stored
            .parse()
            .map_err(|e| anyhow!("the stored password hash is malformed: {e}"))?;
        ensure!(
            parts.get_cost() <= MAX_COST,
            "the stored password hash has cost {}, above the maximum of {MAX_COST}",
            parts.get_cost()
        );
        if password.len() > MAX_PASSWORD_BYTES {
            // It could only match by truncation: same work, no match.
            self.burn(password)?;
            return Ok(false);
        }
        verify_untruncated(password, stored)
            .map_err(|e| anyhow!("the stored password hash could not be used: {e}"))
    }
}

/// bcrypt without truncation, for passwords of at most 72 bytes.
///
/// `non_truncating_*` refuse 72 bytes as well as more (bcrypt appends a NUL to
/// shorter keys, which a 72-byte key has no room for), while the domain allows
/// 72: such a key is used whole, so the plain function drops nothing for it.
fn hash_untruncated(password: &[u8], cost: u32) -> bcrypt::BcryptResult<String> {
    if password.len() == MAX_PASSWORD_BYTES {
        bcrypt::hash(password, cost)
    } else {
        bcrypt::non_truncating_hash(password, cost)
    }
}

/// See [`hash_untruncated`].
fn verify_untruncated(password: &[u8], hash: &str) -> bcrypt::BcryptResult<bool> {
    if password.len() == MAX_PASSWORD_BYTES {
        bcrypt::verify(password, hash)
    } else {
        bcrypt::non_truncating_verify(password, hash)
    }
}

#[async_trait]
impl PasswordHasher for BcryptHasher {
    async fn hash(&self, password: &NewPassword) -> anyhow::Result<PasswordHash> {
        let password = password.expose().to_owned();
        if password.len() > MAX_PASSWORD_BYTES {
            // NewPassword guarantees this; never let bcrypt truncate anyway.
            bail!("the password is longer than {MAX_PASSWORD_BYTES} bytes");
        }
        let cost = self.inner.cost;
        let hash = tokio::task::spawn_blocking(move || hash_untruncated(password.as_bytes(), cost))
            .await
            .context("the bcrypt task did not finish")?
            .map_err(|e| anyhow!("could not hash the password: {e}"))?;
        Ok(PasswordHash(hash))
    }

    async fn verify(&self, password: &str, hash: Option<&PasswordHash>) -> anyhow::Result<bool> {
        let password = password.to_owned();
        let stored = hash.map(|h| h.0.clone());
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.verify(password.as_bytes(), stored.as_deref()))
            .await
            .context("the bcrypt task did not finish")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> NewPassword {
        NewPassword::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = BcryptHasher::default();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horsf", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("", Some(&hash)).await.unwrap());
        // Salted: the same password hashes differently each time.
        let again = hasher.hash(&password("correct horse")).await.unwrap();
        assert_ne!(hash, again);
    }

    #[tokio::test]
    async fn the_cost_is_in_the_hash() {
        let hash = BcryptHasher::default()
            .hash(&password("correct horse"))
            .await
            .unwrap();
        assert!(hash.0.starts_with("$2b$12$"), "{}", hash.0);
        assert_eq!(hash.0.len(), 60);
    }

    #[test]
    fn costs_below_12_or_above_16_are_refused() {
        assert!(BcryptHasher::new(11).is_err());
        assert!(BcryptHasher::new(4).is_err());
        assert!(BcryptHasher::new(0).is_err());
        assert!(BcryptHasher::new(17).is_err());
        assert!(BcryptHasher::new(31).is_err());
        assert_eq!(BcryptHasher::new(12).unwrap().cost(), 12);
        assert_eq!(BcryptHasher::new(16).unwrap().cost(), 16);
        assert_eq!(BcryptHasher::default().cost(), 12);
        let message = BcryptHasher::new(11).unwrap_err().to_string();
        assert!(message.contains("at least 12"), "{message}");
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches() {
        let hasher = BcryptHasher::default();
        assert!(!hasher.verify("correct horse", None).await.unwrap());
        assert!(!hasher.verify(DUMMY_PASSWORD, None).await.unwrap());
        assert!(!hasher.verify("", None).await.unwrap());
        assert!(!hasher.verify(&"x".repeat(500), None).await.unwrap());
    }

    #[tokio::test]
    async fn passwords_longer_than_72_bytes_never_match() {
        let hasher = BcryptHasher::default();
        let exact = "a".repeat(72);
        let hash = hasher.hash(&password(&exact)).await.unwrap();
        // All 72 bytes count.
        assert!(hasher.verify(&exact, Some(&hash)).await.unwrap());
        assert!(
            !hasher
                .verify(&format!("{}b", "a".repeat(71)), Some(&hash))
                .await
                .unwrap()
        );
        assert!(!hasher.verify(&"a".repeat(71), Some(&hash)).await.unwrap());
        // Truncated to 72 these would match: they must not.
        assert!(!hasher.verify(&"a".repeat(73), Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&"a".repeat(1000), Some(&hash)).await.unwrap());
        // Multi-byte characters: 72 bytes is 24 "€".
        let euros = "€".repeat(24);
        let hash = hasher.hash(&password(&euros)).await.unwrap();
        assert!(hasher.verify(&euros, Some(&hash)).await.unwrap());
        assert!(
            !hasher
                .verify(&format!("{euros}!"), Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_71_byte_password_round_trips() {
        let hasher = BcryptHasher::default();
        let raw = "z".repeat(71);
        let hash = hasher.hash(&password(&raw)).await.unwrap();
        assert!(hasher.verify(&raw, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&"z".repeat(72), Some(&hash)).await.unwrap());
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error() {
        let hasher = BcryptHasher::default();
        let valid = bcrypt::hash("correct horse", 4).unwrap();
        let body = &valid[7..];
        assert_eq!(body.len(), 53);
        for stored in [
            String::new(),
            "plain text".to_owned(),
            "$2b$12$tooshort".to_owned(),
            // 60 bytes, but not base64 in the bcrypt alphabet.
            format!("$2b$04${}", "!".repeat(53)),
            // 60 bytes with a multi-byte character.
            format!("$2b$04$£{}", &body[2..]),
            // Not a bcrypt prefix; not a number for the cost.
            format!("$9z$04${body}"),
            format!("$2b$x4${body}"),
            // Below bcrypt's minimum cost.
            format!("$2b$03${body}"),
        ] {
            let hash = PasswordHash(stored.clone());
            let error = hasher
                .verify("correct horse", Some(&hash))
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains("stored password hash"),
                "{stored:?}: {error:#}"
            );
            // The error never shows the hash.
            assert!(stored.len() < 20 || !format!("{error:#}").contains(&stored));
        }
        // The unmodified hash does verify: the cases above fail for their
        // own reason.
        assert!(
            hasher
                .verify("correct horse", Some(&PasswordHash(valid)))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn a_stored_hash_above_the_maximum_cost_is_an_error_not_hours_of_work() {
        let hasher = BcryptHasher::default();
        let valid = bcrypt::hash("correct horse", 4).unwrap();
        for cost in ["17", "31"] {
            let stored = format!("$2b${cost}${}", &valid[7..]);
            let error = hasher
                .verify("correct horse", Some(&PasswordHash(stored)))
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains(&format!("cost {cost}")),
                "{error:#}"
            );
        }
    }

    #[tokio::test]
    async fn hashes_of_a_lower_legacy_cost_still_verify() {
        // Made elsewhere (another tool, an older setting): the cost is read
        // from the hash.
        let legacy = PasswordHash(bcrypt::hash("correct horse", 4).unwrap());
        let hasher = BcryptHasher::default();
        assert!(hasher.verify("correct horse", Some(&legacy)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&legacy)).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_hash_is_made_once_at_the_hasher_cost() {
        let hasher = BcryptHasher::default();
        hasher.warm_up().await.unwrap();
        let first = hasher.inner.dummy.get().unwrap().clone();
        assert!(first.starts_with("$2b$12$"), "{first}");
        assert!(!hasher.verify("x", None).await.unwrap());
        assert_eq!(hasher.inner.dummy.get().unwrap(), &first);
        // Clones share it.
        assert_eq!(hasher.clone().inner.dummy.get().unwrap(), &first);
    }

    #[test]
    fn debug_shows_the_cost_only() {
        assert_eq!(
            format!("{:?}", BcryptHasher::default()),
            "BcryptHasher { cost: 12, .. }"
        );
    }
}
