//! The only cryptography jsonwebtoken gets from us: HMAC with SHA-2.
//!
//! jsonwebtoken's own `rust_crypto` provider also compiles RSA, ECDSA and
//! EdDSA, and with them the `rsa` crate (RUSTSEC-2023-0071, a timing side
//! channel with no fixed release). Access tokens are HS256 only, so this
//! provider implements the HMAC family (HS384 and HS512 too, so tests can
//! build tokens that verification must refuse) and answers every other
//! algorithm with `InvalidAlgorithm`. JWK helpers are not provided: tokens
//! are never verified against a JWK.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use sha2::{Sha256, Sha384, Sha512};

/// The provider installed process-wide by [`install`].
static HMAC_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Installs the HMAC-only provider; when another one is already installed
/// (another crate of the same process did), that one stays.
pub(crate) fn install() {
    let _ = HMAC_ONLY.install_default();
}

/// An HMAC keyed with a token secret, for one of the three SHA-2 sizes.
#[derive(Clone)]
enum Keyed {
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

struct HmacJwt {
    algorithm: Algorithm,
    keyed: Keyed,
}

impl HmacJwt {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Result<Self> {
        let invalid = |_| ErrorKind::InvalidKeyFormat;
        let keyed = match algorithm {
            Algorithm::HS256 => Keyed::Sha256(Hmac::new_from_slice(secret).map_err(invalid)?),
            Algorithm::HS384 => Keyed::Sha384(Hmac::new_from_slice(secret).map_err(invalid)?),
            Algorithm::HS512 => Keyed::Sha512(Hmac::new_from_slice(secret).map_err(invalid)?),
            _ => return Err(ErrorKind::InvalidAlgorithm.into()),
        };
        Ok(Self { algorithm, keyed })
    }

    fn tag(&self, message: &[u8]) -> Vec<u8> {
        match self.keyed.clone() {
            Keyed::Sha256(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            Keyed::Sha384(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            Keyed::Sha512(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }
}

impl Signer<Vec<u8>> for HmacJwt {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.tag(message))
    }
}

impl JwtSigner for HmacJwt {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

impl Verifier<Vec<u8>> for HmacJwt {
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        // `verify_slice` compares in constant time.
        let checked = match self.keyed.clone() {
            Keyed::Sha256(mut mac) => {
                mac.update(message);
                mac.verify_slice(tag)
            }
            Keyed::Sha384(mut mac) => {
                mac.update(message);
                mac.verify_slice(tag)
            }
            Keyed::Sha512(mut mac) => {
                mac.update(message);
                mac.verify_slice(tag)
            }
        };
        checked.map_err(signature::Error::from_source)
    }
}

impl JwtVerifier for HmacJwt {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(HmacJwt::new(*algorithm, key.as_bytes())?))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if key.family() != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Box::new(HmacJwt::new(*algorithm, key.try_get_as_bytes()?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn the_tags_are_rfc_4231_hmac_sha2() {
        let message = b"what do ya want for nothing?";
        let hex = |alg| {
            HmacJwt::new(alg, b"Jefe")
                .unwrap()
                .tag(message)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(
            hex(Algorithm::HS256),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hex(Algorithm::HS384).starts_with("af45d2e376484031617f78d2b58a6b1b"));
        assert!(hex(Algorithm::HS512).starts_with("164b7a7bfcf819e2e395fbe73b56e0a3"));
    }

    #[test]
    fn other_algorithms_and_keys_are_refused() {
        for alg in [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::PS256,
        ] {
            assert!(HmacJwt::new(alg, b"secret").is_err(), "{alg:?}");
        }
        let tag = HmacJwt::new(Algorithm::HS256, b"one").unwrap().tag(b"m");
        let other = HmacJwt::new(Algorithm::HS256, b"two").unwrap();
        assert!(Verifier::verify(&other, b"m", &tag).is_err());
        let same = HmacJwt::new(Algorithm::HS256, b"one").unwrap();
        assert!(Verifier::verify(&same, b"m", &tag).is_ok());
    }
}
