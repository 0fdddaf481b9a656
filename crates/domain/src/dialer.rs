//! Calling out through the voice platform (VAPI): phone calls to a caller on
//! behalf of a calendar, and browser test calls.

use std::sync::Arc;

use async_trait::async_trait;

use crate::accounts::Principal;
use crate::calendar::{Calendar, CalendarId, VapiId};
use crate::calendars::{CalendarLookupError, CalendarService};
use crate::calls::{CallDirection, CallRepository, CallSource, CallStatus, CallUpdate};
use crate::person::{PersonName, PhoneNumber};
use crate::ports::Clock;

/// A phone call to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    pub assistant_id: VapiId,
    pub phone_number_id: VapiId,
    pub customer: PhoneNumber,
    pub customer_name: Option<PersonName>,
}

/// A call the platform accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedCall {
    /// The platform's call id.
    pub id: String,
    /// As the platform reported it (`queued`, …).
    pub status: String,
}

/// A browser call the platform created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebCall {
    pub id: String,
    pub assistant_id: String,
    pub web_call_url: String,
}

/// Why the platform did not place a call.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The platform refused the request (a 4xx): its message, for people.
    #[error("VAPI refused the call: {0}")]
    Rejected(String),
    /// The platform could not be reached, timed out or failed (5xx).
    #[error("VAPI is unavailable: {0}")]
    Unavailable(String),
    /// No API key is configured.
    #[error("calling out is not configured (VAPI_API_KEY is not set)")]
    NotConfigured,
}

/// The voice platform's outbound API.
#[async_trait]
pub trait VoicePlatform: Send + Sync {
    /// Places a phone call. MUST NOT retry on its own (a retried call rings twice).
    async fn place_call(&self, call: &OutboundCall) -> Result<PlacedCall, PlatformError>;

    /// Creates a browser (web) call with `assistant_id`.
    async fn web_call(&self, assistant_id: &VapiId) -> Result<WebCall, PlatformError>;
}

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("no such calendar")]
    NotFound,
    /// The calendar lacks what a call needs (named).
    #[error("the calendar has no {0}: add one with PATCH /api/v1/calendars/{{id}}")]
    NotSetUp(&'static str),
    #[error(transparent)]
    Platform(PlatformError),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// Places calls for signed-in staff, on calendars they may see, and records
/// them.
#[derive(Clone)]
pub struct Dialer {
    calendars: CalendarService,
    platform: Arc<dyn VoicePlatform>,
    calls: Arc<dyn CallRepository>,
    clock: Arc<dyn Clock>,
}

impl Dialer {
    pub fn new(
        calendars: CalendarService,
        platform: Arc<dyn VoicePlatform>,
        calls: Arc<dyn CallRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            calendars,
            platform,
            calls,
            clock,
        }
    }

    /// Calls `customer` with the calendar's (first) assistant from its
    /// (first) VAPI phone number.
    pub async fn call(
        &self,
        principal: &Principal,
        calendar: CalendarId,
        customer: PhoneNumber,
        customer_name: Option<PersonName>,
    ) -> Result<(PlacedCall, Calendar), DialError> {
        let calendar = self.calendar(principal, calendar).await?;
        let assistant_id = first(&calendar.routes.assistant_ids, "VAPI assistant id")?;
        let phone_number_id = first(&calendar.routes.phone_number_ids, "VAPI phone-number id")?;
        let placed = self
            .platform
            .place_call(&OutboundCall {
                assistant_id,
                phone_number_id,
                customer: customer.clone(),
                customer_name,
            })
            .await
            .map_err(DialError::Platform)?;
        // The call is placed whatever happens next; VAPI's own status updates
        // would create the record too, so a failure here is only logged.
        let mut update = CallUpdate::new(&placed.id, CallSource::StatusUpdate);
        update.calendar_id = Some(calendar.id);
        update.direction = Some(CallDirection::Outbound);
        update.customer_phone = Some(customer);
        update.status = Some(CallStatus::Queued);
        let now = self.clock.now();
        update.timestamp = Some(now);
        if let Err(e) = self.calls.record(&update, now).await {
            tracing::error!(vapi_call_id = %placed.id, error = format!("{e:#}"), "could not record a placed call");
        }
        Ok((placed, calendar))
    }

    /// A browser test call with the calendar's (first) assistant: the given
    /// calendar, or the principal's only calendar.
    pub async fn web_call(
        &self,
        principal: &Principal,
        calendar: Option<CalendarId>,
    ) -> Result<WebCall, DialError> {
        let calendar = match calendar {
            Some(id) => self.calendar(principal, id).await?,
            None => {
                let mine = self.calendars.list(principal).await.map_err(|e| match e {
                    CalendarLookupError::NotFound => DialError::NotFound,
                    CalendarLookupError::Unknown(e) => DialError::Unknown(e),
                })?;
                mine.into_iter()
                    .find(|c| !c.routes.assistant_ids.is_empty())
                    .ok_or(DialError::NotSetUp("VAPI assistant id"))?
            }
        };
        let assistant_id = first(&calendar.routes.assistant_ids, "VAPI assistant id")?;
        self.platform
            .web_call(&assistant_id)
            .await
            .map_err(DialError::Platform)
    }

    async fn calendar(&self, principal: &Principal, id: CalendarId) -> Result<Calendar, DialError> {
        self.calendars
            .get(principal, id)
            .await
            .map_err(|e| match e {
                CalendarLookupError::NotFound => DialError::NotFound,
                CalendarLookupError::Unknown(e) => DialError::Unknown(e),
            })
    }
}

fn first(ids: &[VapiId], what: &'static str) -> Result<VapiId, DialError> {
    ids.first().cloned().ok_or(DialError::NotSetUp(what))
}
