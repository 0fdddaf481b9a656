//! The scheduling rules of voice-scheduler.
//!
//! This crate is the centre of the hexagon: validated value types
//! ([`PersonName`], [`Email`], [`PhoneNumber`], [`TimeZoneId`], [`TimeRange`]),
//! the [`Schedule`] of a calendar, the pure [`availability`] function, the
//! [`Appointment`] model, the ports that adapters implement ([`ports`]) and the
//! [`SchedulingService`] that uses them.
//!
//! It depends on no web framework, database driver or HTTP client, so other
//! teams can reuse the rules alone.

pub mod accounts;
pub mod appointment;
pub mod audit;
pub mod availability;
pub mod calendar;
pub mod calendars;
pub mod caller;
pub mod calls;
pub mod catalog;
pub mod closures;
pub mod desk;
pub mod dialer;
pub mod person;
pub mod ports;
pub mod privacy;
pub mod schedule;
pub mod service;
pub mod sync;
pub mod time;
pub mod user;
pub mod webhooks;

pub use appointment::{
    Appointment, AppointmentId, AppointmentStatus, BookedBy, BookedService, Channel,
    ConfirmationCode, DailyLimit, NewAppointment, ServiceBooking,
};
pub use availability::{SlotRejection, free_slots, nearest_slots};
pub use calendar::{Calendar, CalendarId, CalendarName, Slug, VapiId, VapiRoutes};
pub use caller::{Caller, OwnNumber, PrivacyRefusal};
pub use calls::{Call, CallDirection, CallId, CallSource, CallStatus, CallUpdate};
pub use catalog::{
    Padding, Service, ServiceDescription, ServiceError, ServiceId, ServiceMatch, ServiceName,
    ServiceSettings, match_service,
};
pub use closures::{ClosureLabel, Closures, DateOverride, TimeOff};
pub use person::{Email, PersonName, PhoneNumber, PhoneRegion};
pub use schedule::{LocalRange, Schedule, ScheduleError, WeeklyHours};
pub use service::SchedulingService;
pub use time::{TimeRange, TimeZoneId};
pub use user::{NewPassword, Role, SessionId, User, UserId};
