//! Unknown accounts take as long as real ones. Its own test binary, so no
//! other test of this crate competes for the CPU while it measures.

use std::time::{Duration, Instant};

use voice_scheduler_auth::BcryptHasher;
use voice_scheduler_domain::NewPassword;
use voice_scheduler_domain::ports::PasswordHasher;

#[tokio::test]
async fn an_unknown_account_takes_as_long_as_a_real_one() {
    let hasher = BcryptHasher::default();
    let hash = hasher
        .hash(&NewPassword::parse("correct horse").unwrap())
        .await
        .unwrap();
    // The first unknown-account check also makes the dummy hash.
    assert!(!hasher.verify("correct horse", None).await.unwrap());

    // Interleaved, the fastest of each: the least disturbed by anything else
    // running on the machine.
    let mut real = Duration::MAX;
    let mut unknown = Duration::MAX;
    let mut too_long = Duration::MAX;
    let long = "a".repeat(200);
    for _ in 0..3 {
        let start = Instant::now();
        assert!(!hasher.verify("wrong horse", Some(&hash)).await.unwrap());
        real = real.min(start.elapsed());

        let start = Instant::now();
        assert!(!hasher.verify("wrong horse", None).await.unwrap());
        unknown = unknown.min(start.elapsed());

        let start = Instant::now();
        assert!(!hasher.verify(&long, Some(&hash)).await.unwrap());
        too_long = too_long.min(start.elapsed());
    }
    let ratio = unknown.as_secs_f64() / real.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown {unknown:?} vs real {real:?}: ratio {ratio:.2}"
    );
    let ratio = too_long.as_secs_f64() / real.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "too long {too_long:?} vs real {real:?}: ratio {ratio:.2}"
    );
    // Cost 12 is real work, not a skipped check (a quick return would take
    // microseconds).
    assert!(unknown > Duration::from_millis(20), "{unknown:?}");
}
