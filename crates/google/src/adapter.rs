//! The domain's ports on Google: [`GoogleCalendar`] is the
//! [`CalendarGateway`] (busy times), the [`CalendarMirror`] (events, for the
//! sync workers) and the [`GoogleAccount`] (consent, code exchange,
//! revocation) of calendars connected to Google Calendar.
//!
//! Busy times: a free/busy answer is kept per calendar and window for
//! [`GoogleSettings::busy_fresh`] (offering slots within a voice turn does
//! not ask Google again); right before a booking is confirmed the exact
//! interval is asked again ([`Freshness::Now`]). When Google cannot answer
//! (down, slow, the grant dead), an answer up to
//! [`GoogleSettings::busy_stale`] old that covers the window is used;
//! without one the calendar "cannot be checked right now" and nothing is
//! offered or confirmed. Free/busy has its own short timeout so a voice turn
//! never waits long.
//!
//! Access tokens are refreshed from the sealed refresh token when needed
//! and kept in this process until a minute before they expire (each
//! instance refreshes its own; nothing that matters lives here). Refreshes
//! are single-flight per calendar: callers that need a token while one is
//! being fetched wait for that refresh and share its outcome, so a burst of
//! bookings on a fresh instance asks Google's token endpoint once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use voice_scheduler_domain::ports::{CalendarGateway, Clock, Freshness, GatewayError, SystemClock};
use voice_scheduler_domain::sync::{
    CalendarMirror, Connection, ConnectionRepository, ConnectionStatus, GoogleAccount, Grant,
    GrantError, MirrorError, SealedToken, needs_reconnect_entry,
};
use voice_scheduler_domain::{Appointment, Calendar, CalendarId, TimeRange};

use crate::api::{ApiError, CalendarApi, SendUpdates, event_for, event_id};
use crate::crypto::{KeyRing, OpenError};
use crate::oauth::{EVENTS_SCOPE, OAuthClient, OAuthError};

/// How [`GoogleCalendar`] behaves.
#[derive(Debug, Clone)]
pub struct GoogleSettings {
    /// Who Google notifies of event changes (`sendUpdates`).
    pub send_updates: SendUpdates,
    /// How long a free/busy answer is reused for offering slots.
    pub busy_fresh: StdDuration,
    /// How old a free/busy answer may be when Google cannot answer.
    pub busy_stale: StdDuration,
    /// The timeout of a free/busy call (a voice turn waits for it).
    pub busy_timeout: StdDuration,
    /// How long "is this calendar connected?" is remembered.
    pub connection_ttl: StdDuration,
}

impl Default for GoogleSettings {
    fn default() -> Self {
        Self {
            send_updates: SendUpdates::All,
            busy_fresh: StdDuration::from_secs(30),
            busy_stale: StdDuration::from_secs(300),
            busy_timeout: StdDuration::from_secs(3),
            connection_ttl: StdDuration::from_secs(5),
        }
    }
}

/// What a sealed refresh token of `calendar` is bound to.
pub fn token_binding(calendar: CalendarId) -> String {
    format!("google-refresh-token:calendar:{calendar}")
}

/// A key id as stored beside a sealed token.
pub fn key_id_hex(id: [u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seals `refresh_token` for `calendar` with the current key.
pub fn seal_token(keys: &KeyRing, calendar: CalendarId, refresh_token: &str) -> SealedToken {
    SealedToken {
        bytes: keys.seal(refresh_token.as_bytes(), &token_binding(calendar)),
        key_id: key_id_hex(keys.current_key_id()),
    }
}

struct CachedToken {
    sealed: Vec<u8>,
    token: String,
    valid_until: Instant,
}

/// The last refresh of one calendar's token, behind that calendar's
/// refresh lock: a caller that waited for the lock while a refresh ran
/// takes that refresh's failure instead of asking Google again.
#[derive(Default)]
struct RefreshSlot {
    last_failure: Option<(Vec<u8>, Instant, TokenError)>,
}

struct BusyAnswer {
    window: TimeRange,
    busy: Vec<TimeRange>,
    fetched: Instant,
}

/// The most free/busy answers kept per calendar.
const BUSY_ANSWERS_PER_CALENDAR: usize = 16;

/// Google Calendar behind the domain's ports.
pub struct GoogleCalendar {
    oauth: OAuthClient,
    /// The same client with the free/busy timeout: a token refresh during a
    /// voice turn waits no longer than the free/busy call itself.
    busy_oauth: OAuthClient,
    api: CalendarApi,
    busy_api: CalendarApi,
    keys: Arc<KeyRing>,
    connections: Arc<dyn ConnectionRepository>,
    /// Whether a connection found dead is recorded in the audit log.
    audited: bool,
    clock: Arc<dyn Clock>,
    settings: GoogleSettings,
    tokens: Mutex<HashMap<CalendarId, CachedToken>>,
    /// One refresh at a time per calendar (single flight).
    refreshing: Mutex<HashMap<CalendarId, Arc<tokio::sync::Mutex<RefreshSlot>>>>,
    busy: Mutex<HashMap<CalendarId, Vec<BusyAnswer>>>,
    known: Mutex<HashMap<CalendarId, (Option<Connection>, Instant)>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why no access token could be had.
#[derive(Clone)]
enum TokenError {
    Reconnect(String),
    Unavailable(String),
}

impl From<TokenError> for MirrorError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Reconnect(m) => MirrorError::Reconnect(m),
            TokenError::Unavailable(m) => MirrorError::Retry {
                reason: m,
                after: None,
            },
        }
    }
}

fn mirror_error(e: ApiError) -> MirrorError {
    match e {
        ApiError::Retryable {
            reason,
            retry_after,
        } => MirrorError::Retry {
            reason,
            after: retry_after.and_then(|d| chrono::Duration::from_std(d).ok()),
        },
        ApiError::Unavailable(reason) => MirrorError::Retry {
            reason,
            after: None,
        },
        ApiError::Unauthorized => MirrorError::Retry {
            reason: "Google refused a fresh access token (401)".to_owned(),
            after: None,
        },
        ApiError::Rejected { status, reason } => {
            MirrorError::Rejected(format!("Google answered {status}: {reason}"))
        }
    }
}

impl GoogleCalendar {
    pub fn new(
        oauth: OAuthClient,
        api: CalendarApi,
        keys: Arc<KeyRing>,
        connections: Arc<dyn ConnectionRepository>,
        settings: GoogleSettings,
    ) -> Self {
        let busy_api = api.clone().with_timeout(settings.busy_timeout);
        let busy_oauth = oauth.clone().with_timeout(settings.busy_timeout);
        Self {
            oauth,
            busy_oauth,
            api,
            busy_api,
            keys,
            connections,
            audited: false,
            clock: Arc::new(SystemClock),
            settings,
            tokens: Mutex::new(HashMap::new()),
            refreshing: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashMap::new()),
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Records `google.needs_reconnect` in the audit log (in the same
    /// transaction as the flag) when a free/busy check finds the grant dead
    /// (the sync worker records it when a job does), with times from `clock`.
    #[must_use]
    pub fn audited(mut self, clock: Arc<dyn Clock>) -> Self {
        self.audited = true;
        self.clock = clock;
        self
    }

    /// The calendar's connection, remembered for a few seconds (every voice
    /// turn asks; most calendars are not connected).
    async fn connection_of(&self, calendar: CalendarId) -> anyhow::Result<Option<Connection>> {
        if let Some((known, at)) = locked(&self.known).get(&calendar)
            && at.elapsed() < self.settings.connection_ttl
        {
            return Ok(known.clone());
        }
        let found = self.connections.connection(calendar).await?;
        locked(&self.known).insert(calendar, (found.clone(), Instant::now()));
        Ok(found)
    }

    fn forget_connection(&self, calendar: CalendarId) {
        locked(&self.known).remove(&calendar);
    }

    /// The cached access token of `connection`, if still valid.
    fn cached_token(&self, connection: &Connection) -> Option<String> {
        locked(&self.tokens)
            .get(&connection.calendar_id)
            .filter(|c| {
                c.sealed == connection.refresh_token.bytes && c.valid_until > Instant::now()
            })
            .map(|c| c.token.clone())
    }

    /// A valid access token for `connection`, refreshed when needed
    /// (`quick`: within the free/busy timeout). Single flight: while one
    /// caller refreshes a calendar's token, the others wait for it (a
    /// `quick` one no longer than the free/busy timeout) and use its token,
    /// or its failure.
    async fn access_token(
        &self,
        connection: &Connection,
        quick: bool,
    ) -> Result<String, TokenError> {
        if let Some(token) = self.cached_token(connection) {
            return Ok(token);
        }
        let calendar = connection.calendar_id;
        let slot = locked(&self.refreshing)
            .entry(calendar)
            .or_default()
            .clone();
        let asked = Instant::now();
        let mut slot = if quick {
            tokio::time::timeout(self.settings.busy_timeout, slot.lock_owned())
                .await
                .map_err(|_| {
                    TokenError::Unavailable(
                        "timed out waiting for a Google token refresh in progress".to_owned(),
                    )
                })?
        } else {
            slot.lock_owned().await
        };
        // Refreshed (or failed) by whoever held the lock meanwhile.
        if let Some(token) = self.cached_token(connection) {
            return Ok(token);
        }
        if let Some((sealed, at, error)) = &slot.last_failure
            && *sealed == connection.refresh_token.bytes
            && *at >= asked
        {
            return Err(error.clone());
        }
        let outcome = self.refresh_token(connection, quick).await;
        slot.last_failure = outcome.as_ref().err().map(|e| {
            (
                connection.refresh_token.bytes.clone(),
                Instant::now(),
                e.clone(),
            )
        });
        outcome
    }

    /// Asks Google for a new access token of `connection` and caches it.
    async fn refresh_token(
        &self,
        connection: &Connection,
        quick: bool,
    ) -> Result<String, TokenError> {
        let calendar = connection.calendar_id;
        let refresh_token = self
            .keys
            .open(&connection.refresh_token.bytes, &token_binding(calendar))
            .map_err(|e| {
                TokenError::Reconnect(match e {
                    OpenError::UnknownKey => {
                        "the stored Google token was sealed with a key that is not configured"
                            .to_owned()
                    }
                    _ => "the stored Google token cannot be opened".to_owned(),
                })
            })?;
        let refresh_token = String::from_utf8_lossy(&refresh_token).into_owned();
        let oauth = if quick { &self.busy_oauth } else { &self.oauth };
        match oauth.refresh(&refresh_token).await {
            Ok(access) => {
                let lifetime = StdDuration::from_secs(
                    u64::try_from(access.expires_in.saturating_sub(60)).unwrap_or(0),
                );
                locked(&self.tokens).insert(
                    calendar,
                    CachedToken {
                        sealed: connection.refresh_token.bytes.clone(),
                        token: access.token.clone(),
                        valid_until: Instant::now() + lifetime,
                    },
                );
                Ok(access.token)
            }
            Err(OAuthError::InvalidGrant) => {
                Err(TokenError::Reconnect(OAuthError::InvalidGrant.to_string()))
            }
            Err(e) => Err(TokenError::Unavailable(e.to_string())),
        }
    }

    fn drop_token(&self, calendar: CalendarId) {
        locked(&self.tokens).remove(&calendar);
    }

    /// Forgets `token` if it is still the cached one (Google refused it); a
    /// newer token another caller fetched meanwhile stays.
    fn drop_refused_token(&self, calendar: CalendarId, token: &str) {
        let mut tokens = locked(&self.tokens);
        if tokens.get(&calendar).is_some_and(|c| c.token == token) {
            tokens.remove(&calendar);
        }
    }

    /// Runs `call` with an access token; a 401 refreshes the token and runs
    /// it once more.
    async fn with_token<T, F, Fut>(
        &self,
        connection: &Connection,
        quick: bool,
        call: F,
    ) -> Result<T, Failure>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        for first in [true, false] {
            let token = self
                .access_token(connection, quick)
                .await
                .map_err(Failure::Token)?;
            match call(token.clone()).await {
                Err(ApiError::Unauthorized) if first => {
                    self.drop_refused_token(connection.calendar_id, &token)
                }
                other => return other.map_err(Failure::Api),
            }
        }
        Err(Failure::Api(ApiError::Unauthorized))
    }

    /// A remembered answer covering `window`, no older than `max_age`.
    fn remembered(
        &self,
        calendar: CalendarId,
        window: TimeRange,
        max_age: StdDuration,
    ) -> Option<Vec<TimeRange>> {
        let answers = locked(&self.busy);
        answers
            .get(&calendar)?
            .iter()
            .filter(|a| a.fetched.elapsed() <= max_age)
            .filter(|a| a.window.start() <= window.start() && a.window.end() >= window.end())
            .max_by_key(|a| a.fetched)
            .map(|a| {
                a.busy
                    .iter()
                    .copied()
                    .filter(|b| b.overlaps(&window))
                    .collect()
            })
    }

    fn remember(&self, calendar: CalendarId, window: TimeRange, busy: &[TimeRange]) {
        let mut answers = locked(&self.busy);
        let list = answers.entry(calendar).or_default();
        list.retain(|a| a.fetched.elapsed() <= self.settings.busy_stale);
        if list.len() >= BUSY_ANSWERS_PER_CALENDAR {
            list.remove(0);
        }
        list.push(BusyAnswer {
            window,
            busy: busy.to_vec(),
            fetched: Instant::now(),
        });
    }

    /// Google's busy times now, or why not.
    async fn ask_google(
        &self,
        connection: &Connection,
        window: TimeRange,
    ) -> Result<Vec<TimeRange>, String> {
        if connection.status != ConnectionStatus::Connected {
            return Err("the Google connection needs reconnecting".to_owned());
        }
        let gcal = connection.google_calendar_id.as_str();
        match self
            .with_token(connection, true, |token| async move {
                // Google's free/busy counts our own events too: ask where
                // they are (at the same time) and take them out.
                let (busy, own) = tokio::try_join!(
                    self.busy_api.free_busy(&token, gcal, window),
                    self.busy_api.own_events(&token, gcal, window),
                )?;
                Ok(without(&busy, &own))
            })
            .await
        {
            Ok(busy) => Ok(busy),
            Err(Failure::Token(TokenError::Reconnect(reason))) => {
                self.needs_reconnect(connection.calendar_id, &reason).await;
                Err(reason)
            }
            Err(Failure::Token(TokenError::Unavailable(reason))) => Err(reason),
            Err(Failure::Api(e)) => Err(e.to_string()),
        }
    }

    async fn needs_reconnect(&self, calendar: CalendarId, reason: &str) {
        let now = self.clock.now();
        let entry = self
            .audited
            .then(|| needs_reconnect_entry(calendar, reason, now));
        match self
            .connections
            .mark_needs_reconnect(calendar, reason, now, entry.as_ref())
            .await
        {
            Ok(true) => tracing::warn!(%calendar, "the Google connection needs reconnecting"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(%calendar, error = %e, "could not mark the Google connection")
            }
        }
        self.forget_connection(calendar);
    }

    fn mirror_failure(&self, calendar: CalendarId, failure: Failure) -> MirrorError {
        match failure {
            Failure::Token(e) => {
                if matches!(e, TokenError::Reconnect(_)) {
                    self.forget_connection(calendar);
                }
                e.into()
            }
            Failure::Api(e) => mirror_error(e),
        }
    }
}

enum Failure {
    Token(TokenError),
    Api(ApiError),
}

/// `busy` without the times covered by `own` (our own events): what is
/// left of each busy period once every own event is cut out of it.
///
/// Google merges touching and overlapping busy periods, so a meeting that
/// overlaps one of our events is only seen where it sticks out of it. Our
/// database blocks the rest for as long as the appointment is there.
fn without(busy: &[TimeRange], own: &[TimeRange]) -> Vec<TimeRange> {
    let mut own = own.to_vec();
    own.sort();
    let mut left = Vec::new();
    for period in busy {
        let mut from = period.start();
        let end = period.end();
        for cut in own.iter().filter(|o| o.overlaps(period)) {
            if cut.start() > from
                && let Ok(piece) = TimeRange::new(from, cut.start().min(end))
            {
                left.push(piece);
            }
            from = from.max(cut.end());
            if from >= end {
                break;
            }
        }
        if from < end
            && let Ok(piece) = TimeRange::new(from, end)
        {
            left.push(piece);
        }
    }
    left
}

#[async_trait]
impl CalendarGateway for GoogleCalendar {
    async fn busy(
        &self,
        calendar: &Calendar,
        window: TimeRange,
        freshness: Freshness,
    ) -> Result<Vec<TimeRange>, GatewayError> {
        let Some(connection) = self.connection_of(calendar.id).await? else {
            return Ok(Vec::new());
        };
        if freshness == Freshness::Recent
            && let Some(busy) = self.remembered(calendar.id, window, self.settings.busy_fresh)
        {
            return Ok(busy);
        }
        match self.ask_google(&connection, window).await {
            Ok(busy) => {
                self.remember(calendar.id, window, &busy);
                Ok(busy)
            }
            Err(reason) => match self.remembered(calendar.id, window, self.settings.busy_stale) {
                Some(busy) => {
                    tracing::warn!(calendar = %calendar.id, %reason, "Google free/busy failed; using a recent answer");
                    Ok(busy)
                }
                None => {
                    tracing::warn!(calendar = %calendar.id, %reason, "Google free/busy failed and no recent answer is known");
                    Err(GatewayError::Unavailable(reason))
                }
            },
        }
    }
}

#[async_trait]
impl CalendarMirror for GoogleCalendar {
    async fn upsert(
        &self,
        connection: &Connection,
        appointment: &Appointment,
    ) -> Result<(), MirrorError> {
        let event = event_for(appointment);
        let gcal = connection.google_calendar_id.as_str();
        let send = self.settings.send_updates;
        let event = &event;
        self.with_token(connection, false, |token| async move {
            self.api.upsert_event(&token, gcal, event, send).await
        })
        .await
        .map_err(|f| self.mirror_failure(connection.calendar_id, f))
    }

    async fn remove(
        &self,
        connection: &Connection,
        appointment: &Appointment,
    ) -> Result<(), MirrorError> {
        let id = event_id(appointment.id());
        let gcal = connection.google_calendar_id.as_str();
        let send = self.settings.send_updates;
        let id = id.as_str();
        self.with_token(connection, false, |token| async move {
            self.api.delete_event(&token, gcal, id, send).await
        })
        .await
        .map_err(|f| self.mirror_failure(connection.calendar_id, f))
    }
}

#[async_trait]
impl GoogleAccount for GoogleCalendar {
    fn consent_url(&self, state: &str, code_verifier: &str) -> String {
        self.oauth.consent_url(state, code_verifier)
    }

    async fn exchange(
        &self,
        code: &str,
        code_verifier: Option<&str>,
        calendar: CalendarId,
    ) -> Result<Grant, GrantError> {
        let granted = self
            .oauth
            .exchange_code(code, code_verifier)
            .await
            .map_err(|e| match e {
                OAuthError::Unavailable(m) => GrantError::Unavailable(m),
                OAuthError::InvalidGrant => GrantError::Refused("invalid_grant".to_owned()),
                OAuthError::Rejected(m) => GrantError::Refused(m),
            })?;
        if let Some(scope) = &granted.scope
            && !scope.split_whitespace().any(|s| s == EVENTS_SCOPE)
        {
            return Err(GrantError::Refused(
                "permission to manage calendar events was not granted".to_owned(),
            ));
        }
        let refresh_token = granted
            .refresh_token
            .as_deref()
            .ok_or(GrantError::NoRefreshToken)?;
        self.forget_connection(calendar);
        Ok(Grant {
            refresh_token: seal_token(&self.keys, calendar, refresh_token),
            scopes: granted.scope.clone(),
        })
    }

    async fn revoke(&self, connection: &Connection) -> anyhow::Result<()> {
        self.forget_connection(connection.calendar_id);
        self.drop_token(connection.calendar_id);
        let token = self
            .keys
            .open(
                &connection.refresh_token.bytes,
                &token_binding(connection.calendar_id),
            )
            .map_err(|e| anyhow::anyhow!("the stored token cannot be opened: {e}"))?;
        self.oauth
            .revoke(&String::from_utf8_lossy(&token))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Re-seals every connection's token that is not sealed with the current
/// key; returns (re-sealed, already current, failed).
pub async fn reseal_all(
    keys: &KeyRing,
    connections: &dyn ConnectionRepository,
) -> anyhow::Result<(usize, usize, usize)> {
    let (mut resealed, mut current, mut failed) = (0, 0, 0);
    for c in connections.connections().await? {
        if keys.is_current(&c.refresh_token.bytes) {
            current += 1;
            continue;
        }
        match keys.reseal(&c.refresh_token.bytes, &token_binding(c.calendar_id)) {
            Ok(bytes) => {
                let new = SealedToken {
                    bytes,
                    key_id: key_id_hex(keys.current_key_id()),
                };
                if connections
                    .reseal(c.calendar_id, &c.refresh_token, &new)
                    .await?
                {
                    resealed += 1;
                } else {
                    // Replaced meanwhile (reconnected): sealed with the current key.
                    current += 1;
                }
            }
            Err(e) => {
                tracing::error!(calendar = %c.calendar_id, error = %e, "cannot re-seal a Google token");
                failed += 1;
            }
        }
    }
    Ok((resealed, current, failed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn r(from: u32, to: u32) -> TimeRange {
        let at = |m: u32| {
            Utc.with_ymd_and_hms(2030, 3, 4, 9 + m / 60, m % 60, 0)
                .unwrap()
        };
        TimeRange::new(at(from), at(to)).unwrap()
    }

    #[test]
    fn own_events_are_cut_out_of_busy_periods() {
        // Nothing of ours: unchanged.
        assert_eq!(without(&[r(0, 60)], &[]), vec![r(0, 60)]);
        // Exactly ours: nothing left.
        assert_eq!(without(&[r(0, 60)], &[r(0, 60)]), Vec::<TimeRange>::new());
        // A merged period of a foreign meeting and ours: the meeting stays.
        assert_eq!(without(&[r(0, 90)], &[r(30, 90)]), vec![r(0, 30)]);
        assert_eq!(without(&[r(0, 90)], &[r(0, 60)]), vec![r(60, 90)]);
        // Ours in the middle, several of ours, ours beyond the period.
        assert_eq!(
            without(&[r(0, 120)], &[r(60, 70), r(30, 40)]),
            vec![r(0, 30), r(40, 60), r(70, 120)]
        );
        assert_eq!(without(&[r(30, 60)], &[r(0, 120)]), Vec::<TimeRange>::new());
        // Other periods untouched.
        assert_eq!(
            without(&[r(0, 30), r(60, 90)], &[r(60, 90)]),
            vec![r(0, 30)]
        );
        // Back to back with ours: both kept whole.
        assert_eq!(without(&[r(0, 30)], &[r(30, 60)]), vec![r(0, 30)]);
    }
}
