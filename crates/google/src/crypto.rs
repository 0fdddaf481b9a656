//! Encryption of Google refresh tokens at rest.
//!
//! A refresh token grants lasting access to someone's calendar, so a database
//! dump alone must not reveal it. Each token is sealed with
//! XChaCha20-Poly1305 (random 24-byte nonces are safe to draw at random) and
//! its associated data binds the ciphertext to the row it belongs to: copying
//! one row's ciphertext into another row fails to open.
//!
//! Several keys can be configured: the current one seals, older ones still
//! open what they sealed, so keys rotate without downtime and old rows can be
//! re-sealed ([`KeyRing::reseal`]) at leisure.

use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// One key with its id, kept in memory that is wiped on drop.
#[derive(Clone)]
struct Key {
    id: [u8; KEY_ID_LEN],
    bytes: Zeroizing<[u8; 32]>,
}

impl Key {
    fn new(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        Self {
            id: key_id(&bytes),
            bytes,
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.bytes).into())
    }
}

/// The id of a key: derived from the key itself so operators configure keys
/// only, and a sealed value says which key opens it without revealing it.
fn key_id(key: &[u8; 32]) -> [u8; KEY_ID_LEN] {
    let digest = Sha256::digest(key);
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The associated data: the purpose and row (`binding`) plus the key id, so a
/// ciphertext opens only for the row and key it was sealed for.
fn associated_data(binding: &str, id: &[u8; KEY_ID_LEN]) -> String {
    format!("voice-scheduler:{binding}:{}", hex(id))
}

/// The keys that seal and open refresh tokens: one current key and any number
/// of older ones kept for reading.
#[derive(Clone)]
pub struct KeyRing {
    current: Key,
    older: Vec<Key>,
}

/// Why a configured key was refused. Names the key, never prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the {which} encryption key is not valid standard base64")]
    NotBase64 { which: String },
    #[error(
        "the {which} encryption key decodes to {len} bytes; it must be exactly 32 (generate one with `openssl rand -base64 32`)"
    )]
    WrongLength { which: String, len: usize },
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Sealed with a key that is no longer configured.
    #[error("the value was sealed with a key that is not configured")]
    UnknownKey,
    /// Too short to be a sealed value.
    #[error("the value is not a sealed value (too short)")]
    Malformed,
    /// Tampered with, or sealed for another row or purpose.
    #[error("the value does not authenticate: tampered with or bound to another row")]
    Forged,
}

impl KeyRing {
    /// A key ring that seals with `current` and also opens what `older` sealed.
    pub fn new(current: [u8; 32], older: Vec<[u8; 32]>) -> KeyRing {
        KeyRing {
            current: Key::new(current),
            older: older.into_iter().map(Key::new).collect(),
        }
    }

    /// Reads keys as configured in the environment: standard base64 of exactly
    /// 32 bytes each (surrounding whitespace, as a mounted file may end with a
    /// newline, is ignored).
    pub fn from_base64(current: &str, older: &[&str]) -> Result<KeyRing, KeyError> {
        let current = decode_key(current, "current".to_owned())?;
        let older = older
            .iter()
            .enumerate()
            .map(|(i, raw)| decode_key(raw, format!("older (#{})", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeyRing {
            current: Key::new(*current),
            older: older.into_iter().map(|k| Key::new(*k)).collect(),
        })
    }

    /// The id stored in front of everything the current key seals.
    pub fn current_key_id(&self) -> [u8; 4] {
        self.current.id
    }

    /// Seals `plaintext` for the row named by `binding` (for example
    /// `google-refresh-token:calendar:<uuid>`): `key_id(4) || nonce(24) ||
    /// ciphertext+tag(16)`.
    pub fn seal(&self, plaintext: &[u8], binding: &str) -> Vec<u8> {
        let key = &self.current;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(binding, &key.id);
        let mut sealed = Vec::with_capacity(KEY_ID_LEN + NONCE_LEN + plaintext.len() + TAG_LEN);
        sealed.extend_from_slice(&key.id);
        sealed.extend_from_slice(&nonce);
        match key.cipher().encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        ) {
            Ok(ciphertext) => sealed.extend_from_slice(&ciphertext),
            // Encryption fails only for plaintexts beyond 256 GiB. Should it
            // ever happen, the value returned here has no tag and never
            // opens: it fails closed instead of panicking.
            Err(_) => tracing::error!("encryption failed; the sealed value will not open"),
        }
        sealed
    }

    /// Opens what [`KeyRing::seal`] sealed for the same `binding`, with
    /// whichever configured key sealed it. The plaintext is wiped on drop.
    pub fn open(&self, sealed: &[u8], binding: &str) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if sealed.len() < KEY_ID_LEN + NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let (id, rest) = sealed.split_at(KEY_ID_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed)?;
        let nonce = XNonce::from(nonce);
        let mut candidates = std::iter::once(&self.current)
            .chain(&self.older)
            .filter(|key| key.id == id)
            .peekable();
        if candidates.peek().is_none() {
            return Err(OpenError::UnknownKey);
        }
        // Two configured keys may share an id (a 1 in 2^32 chance): try each.
        for key in candidates {
            let aad = associated_data(binding, &key.id);
            if let Ok(plaintext) = key.cipher().decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            ) {
                return Ok(Zeroizing::new(plaintext));
            }
        }
        Err(OpenError::Forged)
    }

    /// How many older keys are kept for reading.
    pub fn older_count(&self) -> usize {
        self.older.len()
    }

    /// Whether `sealed` was sealed with the current key; if not, it is due for
    /// [`KeyRing::reseal`].
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.len() >= KEY_ID_LEN && sealed[..KEY_ID_LEN] == self.current.id
    }

    /// Opens with any configured key and seals again with the current one:
    /// the step of re-encrypting old rows after a key rotation.
    pub fn reseal(&self, sealed: &[u8], binding: &str) -> Result<Vec<u8>, OpenError> {
        let plaintext = self.open(sealed, binding)?;
        Ok(self.seal(&plaintext, binding))
    }
}

fn decode_key(raw: &str, which: String) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .map_err(|_| KeyError::NotBase64 {
                which: which.clone(),
            })?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if decoded.len() != key.len() {
        return Err(KeyError::WrongLength {
            which,
            len: decoded.len(),
        });
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current_key_id", &hex(&self.current.id))
            .field(
                "older_key_ids",
                &self.older.iter().map(|k| hex(&k.id)).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const BINDING: &str = "google-refresh-token:calendar:00000000-0000-7000-8000-000000000001";
    const OTHER: &str = "google-refresh-token:calendar:00000000-0000-7000-8000-000000000002";

    fn ring() -> KeyRing {
        KeyRing::new([7; 32], vec![])
    }

    #[test]
    fn round_trip() {
        let ring = ring();
        let sealed = ring.seal(b"1//refresh-token", BINDING);
        assert_eq!(sealed.len(), 4 + 24 + 16 + 16);
        assert_eq!(sealed[..4], ring.current_key_id());
        assert_eq!(&**ring.open(&sealed, BINDING).unwrap(), b"1//refresh-token");
        assert!(ring.is_current(&sealed));
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_does_not_open() {
        let ring = ring();
        let mine = ring.seal(b"token of calendar 1", BINDING);
        let theirs = ring.seal(b"token of calendar 2", OTHER);
        // Swap the two rows' ciphertexts.
        assert_eq!(ring.open(&mine, OTHER), Err(OpenError::Forged));
        assert_eq!(ring.open(&theirs, BINDING), Err(OpenError::Forged));
    }

    #[test]
    fn any_tampered_byte_is_detected() {
        let ring = ring();
        let sealed = ring.seal(b"secret", BINDING);
        for i in 4..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert_eq!(ring.open(&tampered, BINDING), Err(OpenError::Forged), "{i}");
        }
        assert_eq!(
            ring.open(&sealed[..sealed.len() - 1], BINDING),
            Err(OpenError::Forged)
        );
        assert_eq!(ring.open(&sealed[..20], BINDING), Err(OpenError::Malformed));
        assert_eq!(ring.open(b"", BINDING), Err(OpenError::Malformed));
    }

    #[test]
    fn older_keys_open_and_are_not_current() {
        let old = KeyRing::new([1; 32], vec![]);
        let sealed = old.seal(b"old secret", BINDING);
        let rotated = KeyRing::new([2; 32], vec![[1; 32]]);
        assert_ne!(rotated.current_key_id(), old.current_key_id());
        assert_eq!(&**rotated.open(&sealed, BINDING).unwrap(), b"old secret");
        assert!(!rotated.is_current(&sealed));

        let resealed = rotated.reseal(&sealed, BINDING).unwrap();
        assert!(rotated.is_current(&resealed));
        assert_eq!(&**rotated.open(&resealed, BINDING).unwrap(), b"old secret");
        // The old key alone cannot read the re-sealed value.
        assert_eq!(old.open(&resealed, BINDING), Err(OpenError::UnknownKey));
    }

    #[test]
    fn an_unknown_key_id_is_reported() {
        let sealed = KeyRing::new([3; 32], vec![]).seal(b"x", BINDING);
        assert_eq!(ring().open(&sealed, BINDING), Err(OpenError::UnknownKey));
        assert!(!ring().is_current(&sealed));
    }

    #[test]
    fn the_same_text_seals_differently_each_time() {
        let ring = ring();
        let a = ring.seal(b"same", BINDING);
        let b = ring.seal(b"same", BINDING);
        assert_ne!(a, b);
        assert_ne!(a[4..28], b[4..28], "nonces differ");
    }

    #[test]
    fn key_id_is_a_sha256_prefix() {
        // SHA-256 of 32 zero bytes starts with 66687aad.
        assert_eq!(
            KeyRing::new([0; 32], vec![]).current_key_id(),
            [0x66, 0x68, 0x7a, 0xad]
        );
    }

    #[test]
    fn keys_are_read_from_base64_and_bad_ones_named() {
        let current = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let older = base64::engine::general_purpose::STANDARD.encode([8u8; 32]);
        let ring = KeyRing::from_base64(&format!("{current}\n"), &[&older]).unwrap();
        assert_eq!(
            ring.current_key_id(),
            KeyRing::new([9; 32], vec![]).current_key_id()
        );
        let sealed = KeyRing::new([8; 32], vec![]).seal(b"x", BINDING);
        assert!(ring.open(&sealed, BINDING).is_ok());

        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let err = KeyRing::from_base64(&current, &[&older, &short]).unwrap_err();
        assert_eq!(
            err,
            KeyError::WrongLength {
                which: "older (#2)".into(),
                len: 16
            }
        );
        assert!(err.to_string().contains("older (#2)"));
        assert!(!err.to_string().contains(&short));

        let err = KeyRing::from_base64("not base64!", &[]).unwrap_err();
        assert!(matches!(err, KeyError::NotBase64 { ref which } if which == "current"));
        assert!(!err.to_string().contains("not base64!"));
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let ring = KeyRing::new([0xab; 32], vec![[0xcd; 32]]);
        let debug = format!("{ring:?}");
        assert!(debug.contains(&hex(&ring.current_key_id())), "{debug}");
        assert!(!debug.contains("171, 171"), "{debug}"); // 0xab as decimal bytes
        assert!(!debug.contains("abab"), "{debug}");
    }
}
