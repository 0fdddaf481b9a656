//! Lengths of time in words: "half an hour", "an hour", "90 minutes",
//! "1.5 hours", "an hour and a half".

use super::words::{Said, number_at, tokens};

/// Reads a duration in whole minutes; `None` when it is not one.
pub fn parse_minutes(raw: &str) -> Option<i64> {
    if raw.len() > 60 || raw.trim_start().starts_with('-') {
        return None;
    }
    let words = tokens(raw);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let hours = |w: &str| matches!(w, "hour" | "hours" | "hr" | "hrs" | "h");
    let minutes = |w: &str| matches!(w, "minute" | "minutes" | "min" | "mins" | "m");
    match words.as_slice() {
        ["half", "an", "hour"] | ["half", "hour"] | ["a", "half", "hour"] => return Some(30),
        ["quarter", "of", "an", "hour"]
        | ["a", "quarter", "of", "an", "hour"]
        | ["quarter", "hour"] => {
            return Some(15);
        }
        ["an" | "one" | "a", h] if hours(h) => return Some(60),
        ["an" | "one" | "a", h, "and", "a", "half"] | ["one", "and", "a", "half", h]
            if hours(h) =>
        {
            return Some(90);
        }
        _ => {}
    }
    // "1.5 hours", "1.5h", "2 hours", "90 minutes", "90", "two hours", "1h30"
    let (amount, unit): (f64, Option<&str>) = match words.as_slice() {
        [one] => {
            let split = one
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(one.len());
            let (number, unit) = one.split_at(split);
            // "1h30", "1h30m"
            if let Some(rest) = unit
                .strip_prefix('h')
                .filter(|r| !r.is_empty() && !hours(unit))
            {
                let hours_part: f64 = number.parse().ok()?;
                let extra: f64 = rest
                    .trim_end_matches("min")
                    .trim_end_matches('m')
                    .parse()
                    .ok()?;
                return whole(hours_part * 60.0 + extra);
            }
            (number.parse().ok()?, (!unit.is_empty()).then_some(unit))
        }
        [n, unit] => match n.parse::<f64>() {
            Ok(n) => (n, Some(*unit)),
            Err(_) => {
                let (n, Said::Cardinal, 1) = number_at(&[n.to_string()])? else {
                    return None;
                };
                (f64::from(n), Some(*unit))
            }
        },
        [tens, unit_word, unit] => {
            let owned = [tens.to_string(), unit_word.to_string()];
            let (n, Said::Cardinal, 2) = number_at(&owned)? else {
                return None;
            };
            (f64::from(n), Some(*unit))
        }
        _ => return None,
    };
    match unit {
        None => whole(amount),
        Some(u) if minutes(u) => whole(amount),
        Some(u) if hours(u) => whole(amount * 60.0),
        Some(_) => None,
    }
}

fn whole(minutes: f64) -> Option<i64> {
    (minutes.is_finite() && minutes > 0.0 && minutes <= 24.0 * 60.0 && minutes.fract() == 0.0)
        .then_some(minutes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_forms_the_issue_names() {
        assert_eq!(parse_minutes("half an hour"), Some(30));
        assert_eq!(parse_minutes("an hour"), Some(60));
        assert_eq!(parse_minutes("90 minutes"), Some(90));
        assert_eq!(parse_minutes("1.5 hours"), Some(90));
    }

    #[test]
    fn more_lengths() {
        for (said, minutes) in [
            ("30", 30),
            ("45 min", 45),
            ("45 mins", 45),
            ("2 hours", 120),
            ("two hours", 120),
            ("forty five minutes", 45),
            ("an hour and a half", 90),
            ("one and a half hours", 90),
            ("1h30", 90),
            ("1h", 60),
            ("1.5h", 90),
            ("90min", 90),
            ("a quarter of an hour", 15),
            ("0.25 hours", 15),
        ] {
            assert_eq!(parse_minutes(said), Some(minutes), "{said}");
        }
    }

    #[test]
    fn what_is_not_a_length() {
        for bad in [
            "",
            "a while",
            "0",
            "-30",
            "1.3 minutes",
            "2 days",
            "25 hours",
            "NaN",
            "inf minutes",
            "half",
        ] {
            assert_eq!(parse_minutes(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn minutes_and_hours_round_trip(m in 1i64..=600) {
            prop_assert_eq!(parse_minutes(&m.to_string()), Some(m));
            prop_assert_eq!(parse_minutes(&format!("{m} minutes")), Some(m));
            if m % 30 == 0 {
                prop_assert_eq!(parse_minutes(&format!("{} hours", m as f64 / 60.0)), Some(m));
            }
        }

        #[test]
        fn no_string_panics(raw in ".{0,80}") {
            let _ = parse_minutes(&raw);
        }
    }
}
