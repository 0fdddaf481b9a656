//! Times of day in words: "half past three in the afternoon", "quarter to
//! 10", "noon", "3 o'clock", "three thirty pm".
//!
//! A worded time without "am", "pm" or a part of the day is read as a
//! daytime appointment: 7 to 11 are in the morning, 12 is noon, and 1 to 6
//! are in the afternoon ("half past three" is 15:30). Times in digits keep
//! their 24-hour reading (`3:30` is 03:30); see `args::parse_time`.

use chrono::NaiveTime;

use super::words::{Said, number_at, tokens};

/// Morning or afternoon, when the caller said which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Half {
    Am,
    Pm,
    /// "at night": 9 at night is 21:00, 12 at night is midnight.
    Night,
}

/// Removes the words that say which half of the day, and says which.
fn split_half(words: &mut Vec<String>) -> Option<Half> {
    let joined = format!(" {} ", words.join(" "));
    let phrases: [(&str, Half); 11] = [
        (" in the morning ", Half::Am),
        (" in the afternoon ", Half::Pm),
        (" in the evening ", Half::Pm),
        (" at night ", Half::Night),
        (" tonight ", Half::Pm),
        (" a m ", Half::Am),
        (" p m ", Half::Pm),
        (" am ", Half::Am),
        (" pm ", Half::Pm),
        (" morning ", Half::Am),
        (" afternoon ", Half::Pm),
    ];
    for (phrase, half) in phrases {
        if let Some(at) = joined.find(phrase) {
            let rest = format!("{}{}", &joined[..at], &joined[at + phrase.len() - 1..]);
            *words = rest.split_whitespace().map(str::to_owned).collect();
            return Some(half);
        }
    }
    // "3pm", "10am" as one word
    let last = words.last()?.clone();
    for (suffix, half) in [("am", Half::Am), ("pm", Half::Pm)] {
        if let Some(digits) = last.strip_suffix(suffix)
            && !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            words.pop();
            words.push(digits.to_owned());
            return Some(half);
        }
    }
    None
}

/// The 24-hour hour of a 12-hour `hour` (1–12) in `half`, or by the daytime
/// rule when no half was said.
fn hour24(hour: u32, half: Option<Half>) -> Option<u32> {
    if !(1..=12).contains(&hour) {
        return None;
    }
    Some(match half {
        Some(Half::Am) => hour % 12,
        Some(Half::Pm) => hour % 12 + 12,
        Some(Half::Night) if hour == 12 => 0,
        Some(Half::Night) if hour <= 4 => hour,
        Some(Half::Night) => hour % 12 + 12,
        None if (7..=11).contains(&hour) => hour,
        None => hour % 12 + 12,
    })
}

/// A single number word or digits that is an hour (1–12), and the words it took.
fn hour_at(words: &[String]) -> Option<(u32, usize)> {
    number_at(words)
        .filter(|(n, said, _)| *said == Said::Cardinal && (1..=12).contains(n))
        .map(|(n, _, used)| (n, used))
}

/// Reads a time of day in words (see the module docs); `None` when it is not one.
pub fn parse_worded_time(raw: &str) -> Option<NaiveTime> {
    if raw.len() > 60 {
        return None;
    }
    let mut words = tokens(raw);
    let half = split_half(&mut words);
    words.retain(|w| !matches!(w.as_str(), "at" | "around" | "about" | "exactly" | "sharp"));
    let at = |h: u32, m: u32| NaiveTime::from_hms_opt(h, m, 0);
    let joined = words.join(" ");
    match joined.as_str() {
        "noon" | "midday" | "twelve noon" | "12 noon" => {
            return (half != Some(Half::Am)).then(|| at(12, 0)).flatten();
        }
        "midnight" | "twelve midnight" | "12 midnight" => return at(0, 0),
        _ => {}
    }
    // "half past three", "quarter to ten", "twenty past 4", "ten to five"
    let (before, after, relation) =
        if let Some(i) = words.iter().position(|w| w == "past" || w == "after") {
            (&words[..i], &words[i + 1..], 1i64)
        } else if let Some(i) = words
            .iter()
            .position(|w| w == "to" || w == "till" || w == "before")
        {
            (&words[..i], &words[i + 1..], -1i64)
        } else {
            (&words[..0], &words[..], 0)
        };
    if relation != 0 {
        let minutes = match before
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["half"] => 30,
            ["quarter"] | ["a", "quarter"] => 15,
            _ => {
                let trimmed: Vec<String> = before
                    .iter()
                    .filter(|w| !matches!(w.as_str(), "minutes" | "minute" | "mins"))
                    .cloned()
                    .collect();
                match number_at(&trimmed) {
                    Some((n, Said::Cardinal, used))
                        if used == trimmed.len() && (1..=59).contains(&n) =>
                    {
                        n
                    }
                    _ => return None,
                }
            }
        };
        let mut hour_words: Vec<String> = after.to_vec();
        if hour_words.last().map(String::as_str) == Some("oclock") {
            hour_words.pop();
        }
        let (hour, used) = hour_at(&hour_words)?;
        if used != hour_words.len() || (relation < 0 && minutes == 30) {
            return None;
        }
        let base = i64::from(hour24(hour, half)?) * 60;
        let total = (base + relation * i64::from(minutes)).rem_euclid(24 * 60);
        return at(
            u32::try_from(total / 60).ok()?,
            u32::try_from(total % 60).ok()?,
        );
    }
    // "3 o'clock", "three", "three thirty", "ten oh five", "3 30"
    let (hour, used) = hour_at(after)?;
    let rest = &after[used..];
    let minute = match rest
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["oclock"] => 0,
        _ => match number_at(rest) {
            // "oh five"
            Some((0, Said::Cardinal, 1)) => match number_at(&rest[1..]) {
                Some((m, Said::Cardinal, used))
                    if used + 1 == rest.len() && (1..=9).contains(&m) =>
                {
                    m
                }
                _ => return None,
            },
            Some((m, Said::Cardinal, used)) if used == rest.len() && (10..=59).contains(&m) => m,
            _ => return None,
        },
    };
    // A bare number in digits ("14", "3") is not a time: too easily a
    // duration or a date. Words ("three") or o'clock or a half of the day are.
    let worded = after.iter().any(|w| !w.bytes().all(|b| b.is_ascii_digit()));
    if !worded && half.is_none() {
        return None;
    }
    at(hour24(hour, half)?, minute)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(h: u32, m: u32) -> Option<NaiveTime> {
        NaiveTime::from_hms_opt(h, m, 0)
    }

    #[test]
    fn the_forms_the_issue_names() {
        assert_eq!(
            parse_worded_time("half past three in the afternoon"),
            t(15, 30)
        );
        assert_eq!(parse_worded_time("quarter to 10"), t(9, 45));
        assert_eq!(parse_worded_time("noon"), t(12, 0));
        assert_eq!(parse_worded_time("3 o'clock"), t(15, 0));
        assert_eq!(parse_worded_time("three thirty pm"), t(15, 30));
    }

    #[test]
    fn more_spoken_times() {
        assert_eq!(parse_worded_time("half past three"), t(15, 30));
        assert_eq!(parse_worded_time("half past ten in the morning"), t(10, 30));
        assert_eq!(parse_worded_time("quarter past 2 pm"), t(14, 15));
        assert_eq!(
            parse_worded_time("a quarter to nine in the morning"),
            t(8, 45)
        );
        assert_eq!(parse_worded_time("twenty past four"), t(16, 20));
        assert_eq!(parse_worded_time("ten to five"), t(16, 50));
        assert_eq!(parse_worded_time("ten oh five am"), t(10, 5));
        assert_eq!(parse_worded_time("eleven fifteen"), t(11, 15));
        assert_eq!(parse_worded_time("nine"), t(9, 0));
        assert_eq!(parse_worded_time("nine at night"), t(21, 0));
        assert_eq!(parse_worded_time("twelve at night"), t(0, 0));
        assert_eq!(parse_worded_time("7 in the evening"), t(19, 0));
        assert_eq!(parse_worded_time("at 4 o'clock sharp"), t(16, 0));
        assert_eq!(parse_worded_time("quarter to one"), t(12, 45));
        assert_eq!(parse_worded_time("3 pm"), t(15, 0));
        assert_eq!(parse_worded_time("midnight"), t(0, 0));
    }

    #[test]
    fn what_is_not_a_time() {
        for bad in [
            "",
            "14",
            "3",
            "afternoon",
            "half past",
            "half to three",
            "quarter past thirteen",
            "sixty past two",
            "three forty-five and a bit",
            "noon am",
            "five past three past four",
        ] {
            assert_eq!(parse_worded_time(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn worded_times_round_trip(h in 1u32..=12, m in 1u32..=59, pm in any::<bool>()) {
            let h24 = h % 12 + if pm { 12 } else { 0 };
            let half = if pm { "in the afternoon" } else { "in the morning" };
            let expected = t(h24, m);
            if m >= 10 {
                prop_assert_eq!(parse_worded_time(&format!("{h} {m} {half}")), expected);
            }
            prop_assert_eq!(parse_worded_time(&format!("{m} minutes past {h} {half}")), expected);
            if m < 30 {
                let next24 = (h24 + 1) % 24;
                let next12 = if next24 % 12 == 0 { 12 } else { next24 % 12 };
                let suffix = if next24 >= 12 { "pm" } else { "am" };
                let expected = t(next24, 0).map(|x| x - chrono::Duration::minutes(i64::from(m)));
                prop_assert_eq!(parse_worded_time(&format!("{m} to {next12} {suffix}")), expected);
            }
        }

        #[test]
        fn no_string_panics(raw in ".{0,80}") {
            let _ = parse_worded_time(&raw);
        }
    }
}
