//! A bookable calendar: who or what appointments are made with.

use std::fmt;

use uuid::Uuid;

use crate::schedule::Schedule;

/// The id of a calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CalendarId(Uuid);

impl CalendarId {
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

impl Default for CalendarId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CalendarId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A calendar with the schedule that decides when it can be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub id: CalendarId,
    /// Spoken to callers ("You're booked with {name}").
    pub name: String,
    pub schedule: Schedule,
}
