//! The 1,000 most common passwords, refused for new passwords (OWASP ASVS
//! 2.1.7). The list ships in the repository (`common_passwords.txt`, from the
//! zxcvbn crate's MIT-licensed frequency list; see its header) and is compiled
//! in: no file to deploy, no network.

use std::collections::HashSet;
use std::sync::OnceLock;

use voice_scheduler_domain::NewPassword;
use voice_scheduler_domain::user::PasswordError;

const LIST: &str = include_str!("common_passwords.txt");

fn list() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        LIST.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

/// Whether `password` is on the list, compared case-insensitively (the list
/// is lower-case; `Password1` is as common as `password1`).
pub fn is_common_password(password: &str) -> bool {
    list().contains(password.to_lowercase().as_str())
}

/// [`NewPassword::parse`] that also refuses the common passwords with
/// [`PasswordError::Common`]: what every place a user chooses a password
/// calls.
pub fn new_password(raw: &str) -> Result<NewPassword, PasswordError> {
    let password = NewPassword::parse(raw)?;
    if is_common_password(raw) {
        return Err(PasswordError::Common);
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_1000_lower_case_entries() {
        assert_eq!(list().len(), 1000);
        assert!(list().iter().all(|p| p.to_lowercase() == *p));
        // The header is a comment, not a password.
        assert!(!list().iter().any(|p| p.starts_with('#')));
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password",
            "PASSWORD",
            "Password1",
            "12345678",
            "qwertyuiop",
            "iloveyou",
            "baseball",
        ] {
            assert!(is_common_password(common), "{common}");
            assert!(
                matches!(new_password(common), Err(PasswordError::Common)),
                "{common}"
            );
        }
    }

    #[test]
    fn other_passwords_pass_and_length_rules_come_first() {
        for fine in ["correct horse battery", "admin password 1", "Tr0ub4dor&3x"] {
            assert!(!is_common_password(fine), "{fine}");
            assert!(new_password(fine).is_ok(), "{fine}");
        }
        // "dragon" is common but too short: the length rule answers.
        assert!(matches!(
            new_password("dragon"),
            Err(PasswordError::TooShort { .. })
        ));
    }
}
