//! What the assistant actually sends: dates, times, time zones and lengths
//! as a caller says them, read in one place.
//!
//! The strict forms (`2027-01-05`, `14:30`, `America/New_York`, `30`) are
//! read as before; these add the spoken ones (`January 5, 2027`, `next
//! Tuesday`, `half past three in the afternoon`, `Eastern`, `an hour and a
//! half`). Whatever is read from words rather than a strict form is said back
//! to the caller with the answer, so a wrong reading is heard at once.
//! docs/vapi-setup.md lists every accepted form.

mod clock;
mod date;
mod duration;
mod words;
mod zone;

pub use clock::parse_worded_time;
pub use date::{DateProblem, parse_date};
pub use duration::parse_minutes;
pub use zone::{ZoneReading, parse_zone};

/// Which number comes first in a date written with slashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// `01/04/2027` is January 4 (the United States and a few others).
    MonthFirst,
    /// `01/04/2027` is 1 April (most of the world).
    DayFirst,
}

impl DateOrder {
    /// How people in the phone region `region` (ISO 3166 code, as in
    /// `DEFAULT_PHONE_REGION`) write dates: month first in the United States
    /// and its territories, Canada, the Philippines, Micronesia, the Marshall
    /// Islands and Palau; day first elsewhere.
    pub fn of_region(region: &str) -> Self {
        const MONTH_FIRST: [&str; 13] = [
            "US", "PR", "GU", "VI", "AS", "MP", "UM", "CA", "PH", "FM", "MH", "PW", "BZ",
        ];
        if MONTH_FIRST.iter().any(|r| r.eq_ignore_ascii_case(region)) {
            Self::MonthFirst
        } else {
            Self::DayFirst
        }
    }
}

/// A value read from an argument, with the words it was read from when they
/// were not a strict form (to be said back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading<T> {
    pub value: T,
    pub heard: Option<String>,
}

impl<T> Reading<T> {
    pub(crate) fn exact(value: T) -> Self {
        Self { value, heard: None }
    }

    pub(crate) fn spoken(value: T, heard: &str) -> Self {
        Self {
            value,
            heard: Some(heard.trim().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_order_follows_the_region() {
        assert_eq!(DateOrder::of_region("US"), DateOrder::MonthFirst);
        assert_eq!(DateOrder::of_region("ca"), DateOrder::MonthFirst);
        assert_eq!(DateOrder::of_region("GB"), DateOrder::DayFirst);
        assert_eq!(DateOrder::of_region("DE"), DateOrder::DayFirst);
        assert_eq!(DateOrder::of_region("AU"), DateOrder::DayFirst);
    }
}
