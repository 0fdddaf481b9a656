//! VAPI adapter of voice-scheduler.
//!
//! - [`wire`]: VAPI's server messages in every shape VAPI is known to send
//!   (see `docs/vapi-setup.md`), and the results we answer with.
//! - [`args`]: lenient reading of the arguments a language model produces
//!   (dates, times in many spellings, numbers as strings).
//! - [`speech`]: single-line sentences for the assistant to speak.
//! - [`tools`]: runs each tool call against the scheduling service.
//! - [`auth`]: verification of VAPI's shared secret in constant time.
//! - [`calls`]: what `status-update` and `end-of-call-report` tell about a call.
//! - [`hmac`]: verification of VAPI's HMAC credential (signed body and
//!   timestamp).

pub mod args;
pub mod auth;
pub mod calls;
pub mod client;
pub mod definitions;
pub mod hmac;
mod lenient;
pub mod speech;
pub mod spoken;
pub mod tools;
pub mod wire;

pub use tools::{ToolRunner, ToolSettings};
pub use wire::{CallContext, ServerMessage, ToolCall, ToolResult, WireError, parse_message};
