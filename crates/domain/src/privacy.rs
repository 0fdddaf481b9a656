//! Privacy: a user's own data (export, account deletion) and a caller's
//! erasure (administrators).
//!
//! - **Export** ([`PrivacyService::export`]): the signed-in user's profile,
//!   the calendars they own (an administrator gets only the ones they own,
//!   not every calendar), those calendars' appointments and calls, and the
//!   audit entries whose actor is the user.
//! - **Account deletion** ([`PrivacyService::delete_account`]): one
//!   transaction ([`PrivacyRepository::delete_user`]) deletes the user row
//!   (sign-ins and refresh tokens go with it), leaves the user's calendars
//!   without an owner (they and their appointments belong to the business;
//!   administrators still see them and can give them to someone), and
//!   anonymises the audit entries about the user: their actor id becomes
//!   [`ERASED_ACTOR`], the id wherever a resource or detail mentions it
//!   becomes [`ERASED_MARK`] (`user:<id>` → [`ERASED_RESOURCE`]) and the
//!   client address of the user's own entries is cleared. Entries are
//!   changed, never deleted: the log otherwise stays append-only. The last
//!   administrator cannot delete their account. The deletion itself is then
//!   recorded as `account.delete` by the `system` actor, so the log does not
//!   name the erased account either.
//! - **Caller erasure** ([`PrivacyService::erase_caller`]): in one
//!   transaction, every appointment of the number keeps its time and status
//!   but gets the name [`ERASED_NAME`], no email address, no purpose, no
//!   cancellation reason and the placeholder number [`erased_phone`]; every
//!   call of the number loses its number, summary, transcript and recording
//!   URL (and retention's "purged" mark stops later messages from filling the
//!   transcript again). Rows are kept, so counts and statistics stay right.
//!   Recorded as `privacy.erase_caller` with the number masked.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::accounts::{Origin, Principal};
use crate::appointment::Appointment;
use crate::audit::record;
use crate::calendar::Calendar;
use crate::calls::{Call, CallQuery, CallRepository};
use crate::person::PhoneNumber;
use crate::ports::{
    Actor, AppointmentQuery, AppointmentRepository, AuditEntry, AuditLog, AuditQuery, AuditReader,
    AuditRecord, CalendarRepository, CalendarScope, Clock,
};
use crate::user::{User, UserId};

/// The name an erased caller's appointments keep.
pub const ERASED_NAME: &str = "Erased";
/// The actor id of audit entries whose user account was deleted.
pub const ERASED_ACTOR: &str = "erased-user";
/// What a deleted user's id becomes wherever an audit entry mentioned it
/// (`user:<id>` → `user:erased`, in resources and details).
pub const ERASED_MARK: &str = "erased";
/// The resource of audit entries that named a deleted user account.
pub const ERASED_RESOURCE: &str = "user:erased";
/// The number an erased caller's appointments keep: a fictional number
/// (the North American 555-01XX range reserved for fiction), valid E.164 so
/// the appointment still reads back.
pub const ERASED_PHONE: &str = "+12025550100";

/// [`ERASED_PHONE`] as a phone number.
pub fn erased_phone() -> Result<PhoneNumber, crate::person::PersonError> {
    PhoneNumber::from_e164(ERASED_PHONE)
}

/// Rows read per page while exporting.
const EXPORT_PAGE: u64 = 500;

/// What an erasure changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasedCaller {
    pub appointments: u64,
    pub calls: u64,
    /// Kept replay copies of answers that repeated the caller's details.
    pub replies: u64,
}

/// What an account deletion changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeletedUser {
    /// Sign-ins that were still open.
    pub sessions_ended: u64,
    /// Calendars left without an owner.
    pub calendars_unowned: u64,
    /// Audit entries anonymised.
    pub audit_entries_anonymised: u64,
}

/// Why [`PrivacyRepository::delete_user`] deleted nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreDeleteUserError {
    #[error("no such user")]
    NotFound,
    #[error("the user is the last administrator")]
    LastAdministrator,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Where personal data is erased, each operation atomically.
#[async_trait]
pub trait PrivacyRepository: Send + Sync {
    /// In one transaction: every appointment whose number is `phone` gets
    /// the name [`ERASED_NAME`], the number `placeholder`, no email, purpose
    /// or cancellation reason; every call whose number is `phone` gets no
    /// number, summary, transcript or recording URL (and is marked purged);
    /// kept replay copies of answers (voice tool calls, `Idempotency-Key`
    /// answers) that repeat the number, the names of those appointments, or
    /// that booked them, MUST be deleted. Appointment and call rows are kept.
    /// How many of each changed.
    async fn erase_caller(
        &self,
        phone: &PhoneNumber,
        placeholder: &PhoneNumber,
        at: DateTime<Utc>,
    ) -> anyhow::Result<ErasedCaller>;

    /// In one transaction: refuses ([`StoreDeleteUserError::LastAdministrator`])
    /// when `user` is the only administrator — atomically with respect to
    /// other deletions — else leaves the user's calendars unowned,
    /// anonymises the audit entries about the user (actor id →
    /// [`ERASED_ACTOR`] with no address, the id in resources and details →
    /// [`ERASED_MARK`]),
    /// forgets the account's failed sign-ins and deletes the user (their
    /// sign-ins and refresh tokens with it).
    async fn delete_user(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> Result<DeletedUser, StoreDeleteUserError>;
}

/// Everything the application holds about a user.
#[derive(Debug, Clone)]
pub struct DataExport {
    pub exported_at: DateTime<Utc>,
    pub user: User,
    pub calendars: Vec<Calendar>,
    pub appointments: Vec<Appointment>,
    pub calls: Vec<Call>,
    /// Newest first.
    pub audit: Vec<AuditRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeleteAccountError {
    #[error("the last administrator cannot delete their account")]
    LastAdministrator,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum EraseCallerError {
    #[error("only administrators can erase a caller's data")]
    Forbidden,
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// The ports [`PrivacyService`] uses.
#[derive(Clone)]
pub struct PrivacyPorts {
    pub privacy: Arc<dyn PrivacyRepository>,
    pub calendars: Arc<dyn CalendarRepository>,
    pub appointments: Arc<dyn AppointmentRepository>,
    pub calls: Arc<dyn CallRepository>,
    pub audit_reader: Arc<dyn AuditReader>,
    pub audit: Option<Arc<dyn AuditLog>>,
    pub clock: Arc<dyn Clock>,
}

/// Export, account deletion and caller erasure.
#[derive(Clone)]
pub struct PrivacyService {
    ports: PrivacyPorts,
}

impl PrivacyService {
    pub fn new(ports: PrivacyPorts) -> Self {
        Self { ports }
    }

    /// All of the principal's data (see the module documentation).
    pub async fn export(&self, principal: &Principal) -> anyhow::Result<DataExport> {
        let user = principal.user.clone();
        let exported_at = self.ports.clock.now();
        let scope = CalendarScope::OwnedBy(user.id);
        let calendars = self.ports.calendars.list(scope).await?;

        let mut appointments = Vec::new();
        let mut query = AppointmentQuery {
            scope,
            from: None,
            to: None,
            status: None,
            phone: None,
            after: None,
            limit: EXPORT_PAGE,
        };
        loop {
            let page = self.ports.appointments.list(&query).await?;
            let full = page.len() as u64 >= EXPORT_PAGE;
            query.after = page.last().map(|a| (a.range().start(), a.id()));
            appointments.extend(page);
            if !full || query.after.is_none() {
                break;
            }
        }

        let mut calls = Vec::new();
        let mut query = CallQuery {
            scope,
            from: None,
            to: None,
            phone: None,
            before: None,
            limit: EXPORT_PAGE,
        };
        loop {
            let page = self.ports.calls.list(&query).await?;
            let full = page.len() as u64 >= EXPORT_PAGE;
            query.before = page.last().map(|c| (c.listed_at(), c.id));
            calls.extend(page);
            if !full || query.before.is_none() {
                break;
            }
        }

        let mut audit = Vec::new();
        let mut query = AuditQuery {
            actor_id: Some(user.id.to_string()),
            limit: EXPORT_PAGE,
            ..AuditQuery::default()
        };
        loop {
            let page = self.ports.audit_reader.list(&query).await?;
            let full = page.len() as u64 >= EXPORT_PAGE;
            query.before = page.last().map(|e| (e.at, e.id));
            audit.extend(page);
            if !full || query.before.is_none() {
                break;
            }
        }

        record(
            self.ports.audit.as_ref(),
            AuditEntry {
                at: exported_at,
                actor: Actor::User(user.id),
                action: "privacy.export",
                resource: Some(format!("user:{}", user.id)),
                outcome: "success",
                address: None,
                detail: Some(format!(
                    "{} calendars, {} appointments, {} calls, {} audit entries",
                    calendars.len(),
                    appointments.len(),
                    calls.len(),
                    audit.len()
                )),
            },
        )
        .await;
        Ok(DataExport {
            exported_at,
            user,
            calendars,
            appointments,
            calls,
            audit,
        })
    }

    /// Deletes the principal's account (see the module documentation).
    pub async fn delete_account(
        &self,
        principal: &Principal,
    ) -> Result<DeletedUser, DeleteAccountError> {
        let now = self.ports.clock.now();
        let role = principal.user.role;
        match self.ports.privacy.delete_user(principal.user.id, now).await {
            Ok(done) => {
                record(
                    self.ports.audit.as_ref(),
                    AuditEntry {
                        at: now,
                        actor: Actor::System,
                        action: "account.delete",
                        resource: Some(ERASED_RESOURCE.to_owned()),
                        outcome: "success",
                        address: None,
                        detail: Some(format!(
                            "{} account deleted at its own request; {} sign-ins ended, {} calendars left without an owner, {} audit entries anonymised",
                            role.as_str(),
                            done.sessions_ended,
                            done.calendars_unowned,
                            done.audit_entries_anonymised
                        )),
                    },
                )
                .await;
                Ok(done)
            }
            Err(StoreDeleteUserError::LastAdministrator) => {
                Err(DeleteAccountError::LastAdministrator)
            }
            // Deleted concurrently (another request of the same user).
            Err(StoreDeleteUserError::NotFound) => Ok(DeletedUser::default()),
            Err(StoreDeleteUserError::Unknown(e)) => Err(DeleteAccountError::Unknown(e)),
        }
    }

    /// Erases the personal data of the caller `phone` (administrators only).
    pub async fn erase_caller(
        &self,
        principal: &Principal,
        phone: &PhoneNumber,
        origin: &Origin,
    ) -> Result<ErasedCaller, EraseCallerError> {
        if !principal.user.is_admin() {
            return Err(EraseCallerError::Forbidden);
        }
        let now = self.ports.clock.now();
        let placeholder =
            erased_phone().map_err(|e| EraseCallerError::Unknown(anyhow::Error::new(e)))?;
        let done = self
            .ports
            .privacy
            .erase_caller(phone, &placeholder, now)
            .await
            .map_err(EraseCallerError::Unknown)?;
        record(
            self.ports.audit.as_ref(),
            AuditEntry {
                at: now,
                actor: Actor::User(principal.user.id),
                action: "privacy.erase_caller",
                resource: None,
                outcome: "success",
                address: origin.address.clone(),
                detail: Some(format!(
                    "{}: {} appointments, {} calls",
                    phone.masked(),
                    done.appointments,
                    done.calls
                )),
            },
        )
        .await;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_number_reads_back() {
        let phone = erased_phone().unwrap();
        assert_eq!(phone.as_str(), ERASED_PHONE);
    }
}
