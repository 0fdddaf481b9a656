//! `use super::entities::prelude::*` brings every entity under its table name.

#![allow(unused_imports)]

pub use super::appointments::Entity as Appointments;
pub use super::audit_log::Entity as AuditLog;
pub use super::calendar_routes::Entity as CalendarRoutes;
pub use super::calendars::Entity as Calendars;
pub use super::calls::Entity as Calls;
pub use super::login_failures::Entity as LoginFailures;
pub use super::refresh_tokens::Entity as RefreshTokens;
pub use super::sessions::Entity as Sessions;
pub use super::tool_replies::Entity as ToolReplies;
pub use super::users::Entity as Users;
