//! `use super::entities::prelude::*` brings every entity under its table name.

#![allow(unused_imports)]

pub use super::appointments::Entity as Appointments;
pub use super::calendars::Entity as Calendars;
pub use super::tool_replies::Entity as ToolReplies;
