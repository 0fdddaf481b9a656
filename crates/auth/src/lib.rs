//! Authentication adapters of voice-scheduler: the production implementations
//! of the domain's [`PasswordHasher`](voice_scheduler_domain::ports::PasswordHasher)
//! and [`AccessTokens`](voice_scheduler_domain::ports::AccessTokens) ports.
//!
//! # Passwords: [`BcryptHasher`]
//!
//! - **bcrypt, cost 12 to 16.** [`BcryptHasher::new`] refuses a cost below 12
//!   (the project's floor) or above 16 (over four seconds a hash: a typo, not
//!   a policy). The cost is written into every hash (`$2b$12$…`), so raising
//!   it later still verifies the old hashes.
//! - **Off the async runtime.** Each hash and verification runs on tokio's
//!   blocking pool (`spawn_blocking`): a cost-12 bcrypt takes a quarter of a
//!   second of CPU, which would stall every request sharing the worker thread.
//! - **Nothing is truncated.** bcrypt reads at most 72 bytes of a password and
//!   silently ignores the rest; the domain's `NewPassword` refuses longer
//!   passwords, hashing uses `non_truncating_hash`, and a presented password
//!   longer than 72 bytes never matches (it could only match by truncation).
//!   `bcrypt`'s `non_truncating_*` functions also refuse exactly 72 bytes
//!   (they count the NUL terminator that bcrypt appends to shorter keys), but
//!   the domain allows 72: a 72-byte key is used whole, so for that length
//!   alone the plain functions are called — nothing is dropped either way.
//! - **No account enumeration by timing.** Verifying for an unknown account
//!   (`None`) runs the same bcrypt work against a dummy hash of the same cost,
//!   computed once per hasher, and answers false; so does a too-long password.
//! - **Corrupt hashes are errors**, never panics nor silent `false`: a stored
//!   hash that does not parse, or whose cost is above 16 (hours of CPU at
//!   cost 31), is reported with context so an operator sees it.
//!
//! # Common passwords: [`new_password`]
//!
//! - The 1,000 most common passwords are refused for new passwords, compared
//!   case-insensitively ([`is_common_password`]). The list is
//!   `src/common_passwords.txt`, the first 1,000 entries of the zxcvbn
//!   crate's password frequency list (MIT licence), lower-cased and compiled
//!   in with `include_str!`.
//!
//! # Access tokens: [`JwtAccessTokens`]
//!
//! - **jsonwebtoken with its pure-Rust (RustCrypto) backend**, default
//!   features off: no OpenSSL, no aws-lc (a C/assembly build), no PEM parser
//!   (we use no keys in PEM). Since version 10 the crate panics at first use
//!   without a backend feature; [`JwtAccessTokens::new`] also installs the
//!   RustCrypto provider as the process default, so a workspace that turns on
//!   both backends (which makes jsonwebtoken's automatic choice panic) still
//!   works.
//! - **HS256 only, pinned**, with a secret of at least 32 bytes (256 bits, the
//!   size of HMAC-SHA-256's output). The header is read before jsonwebtoken
//!   sees the token: anything but `"alg":"HS256"` (`none`, HS384, RS256, …) is
//!   refused, and so are `crit` extensions. A single secret means no key ids,
//!   no JWKs, nothing in the header that could pick a key.
//! - **Claims**: `sub` (user id), `sid` (session id, the refresh-token family),
//!   `iat`, `nbf` (= `iat`), `exp`, `iss`, `aud` and a random `jti`; all are
//!   required. Issuer and audience must match.
//! - **Time comes from the caller.** The application reads an injectable
//!   clock, so jsonwebtoken's own checks (which read the system clock) are
//!   turned off and `exp`, `nbf` and `iat` are checked against `now` with
//!   [`LEEWAY_SECONDS`] (30 s) of leeway. Tokens carry whole seconds: the
//!   verified claims' times are the issued ones rounded down to the second.
//! - **Refusals are values.** Any input — empty, garbage, huge — gives a
//!   [`TokenRejected`](voice_scheduler_domain::ports::TokenRejected) with a
//!   short reason (`expired`, `wrong signature`, `algorithm not allowed`, …),
//!   never a panic.
//! - [`generate_secret`] makes a secret from the operating system's CSPRNG
//!   for installations that keep a generated one in the database.

mod common;
mod jwt_crypto;
mod password;
mod tokens;

pub use common::{is_common_password, new_password};
pub use password::{BcryptHasher, DEFAULT_COST, MAX_COST, MIN_COST};
pub use tokens::{
    JwtAccessTokens, LEEWAY_SECONDS, MAX_LIFETIME_SECONDS, MIN_SECRET_BYTES, generate_secret,
};
