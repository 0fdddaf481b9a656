//! Google adapter of voice-scheduler: the OAuth web-server flow that connects
//! a user's Google Calendar, the Calendar API calls that keep it in step with
//! our bookings, and the encryption of the refresh tokens we store.
//!
//! Every Google address is configurable ([`GoogleEndpoints`]) so tests run
//! against a local fake (the `voice-scheduler-fake-google` crate). One TLS
//! stack: rustls with the `ring` provider.

pub mod adapter;
pub mod api;
pub mod crypto;
pub mod oauth;

pub use adapter::{
    GoogleCalendar, GoogleSettings, key_id_hex, reseal_all, seal_token, token_binding,
};
pub use api::{
    ApiError, BadSendUpdates, CalendarApi, EventContent, SendUpdates, event_for, event_id,
};
pub use crypto::{KeyError, KeyRing, OpenError};
pub use oauth::{
    AccessToken, EVENTS_SCOPE, FREEBUSY_SCOPE, GoogleEndpoints, GrantedTokens, OAuthClient,
    OAuthError, SCOPES, code_challenge,
};
