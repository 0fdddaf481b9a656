//! `/audit`: the audit log, for administrators (staff get the 403 page),
//! newest first, paged, filtered by action and outcome — through the audit
//! trail `GET /api/v1/audit` reads.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use voice_scheduler_domain::accounts::SessionError;
use voice_scheduler_domain::audit::{AuditFilter, AuditReadError};

use crate::next::encode;
use crate::session::Browser;
use crate::view::{Nav, html};
use crate::{WebError, WebState};

/// Entries per page.
const PAGE: u64 = 50;
const OUTCOMES: [&str; 3] = ["success", "failure", "denied"];
const MAX_FILTER_CHARS: usize = 200;

pub struct EntryView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub resource: Option<String>,
    pub outcome: String,
    pub ok: bool,
    pub address: Option<String>,
    pub detail: Option<String>,
}

pub struct OutcomeChoice {
    pub value: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    title: &'static str,
    nav: Option<Nav>,
    action: String,
    outcomes: Vec<OutcomeChoice>,
    entries: Vec<EntryView>,
    filtered: bool,
    next_href: Option<String>,
    first_href: Option<String>,
}

#[derive(Deserialize)]
pub struct AuditQuery {
    action: Option<String>,
    outcome: Option<String>,
    /// `<unix seconds>_<entry id>` (as the API's `next_cursor`).
    before: Option<String>,
}

fn cursor(raw: &str) -> Result<(DateTime<Utc>, i64), WebError> {
    let bad = || WebError::BadRequest(format!("not a page of the audit log: {raw}"));
    let (at, id) = raw.split_once('_').ok_or_else(bad)?;
    let at = at
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or_else(bad)?;
    Ok((at, id.parse::<i64>().map_err(|_| bad())?))
}

pub async fn list(
    state: web::Data<WebState>,
    browser: Browser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    if !browser.principal.user.is_admin() {
        return Err(WebError::Forbidden);
    }
    let action = query
        .action
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.chars().take(MAX_FILTER_CHARS).collect::<String>());
    let outcome = query
        .outcome
        .as_deref()
        .filter(|o| OUTCOMES.contains(o))
        .map(str::to_owned);
    let before = query
        .before
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(cursor)
        .transpose()?;
    let page = state
        .audit
        .list(
            &browser.principal,
            AuditFilter {
                action: action.clone(),
                outcome: outcome.clone(),
                before,
                limit: PAGE,
                ..AuditFilter::default()
            },
        )
        .await
        .map_err(|e| match e {
            AuditReadError::Forbidden => WebError::Forbidden,
            AuditReadError::Unknown(e) => WebError::Internal(e),
        })?;
    // Users by id, to name the actors.
    let users: HashMap<String, String> = state
        .accounts
        .users()
        .await
        .map_err(|e| match e {
            SessionError::Unknown(e) => WebError::Internal(e),
        })?
        .into_iter()
        .map(|u| {
            (
                u.id.to_string(),
                format!("{} ({})", u.name.as_str(), u.email.as_str()),
            )
        })
        .collect();
    let filters = format!(
        "action={}&outcome={}",
        encode(action.as_deref().unwrap_or_default()),
        outcome.as_deref().unwrap_or_default()
    );
    let entries = page
        .items
        .into_iter()
        .map(|e| EntryView {
            at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: match (e.actor_kind.as_str(), e.actor_id.as_deref()) {
                ("user", Some(id)) => users
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("user {id}")),
                ("vapi_call", Some(id)) => format!("VAPI call {id}"),
                (kind, Some(id)) => format!("{kind} {id}"),
                (kind, None) => kind.to_owned(),
            },
            ok: e.outcome == "success",
            action: e.action,
            resource: e.resource,
            outcome: e.outcome,
            address: e.address,
            detail: e.detail,
        })
        .collect();
    let page = AuditPage {
        title: "Audit log",
        nav: Nav::of(&browser),
        filtered: action.is_some() || outcome.is_some(),
        outcomes: OUTCOMES
            .iter()
            .map(|o| OutcomeChoice {
                value: o,
                selected: outcome.as_deref() == Some(o),
            })
            .collect(),
        action: action.unwrap_or_default(),
        entries,
        next_href: page
            .next
            .map(|(at, id)| format!("/audit?{filters}&before={}_{id}", at.timestamp())),
        first_href: before.map(|_| format!("/audit?{filters}")),
    };
    Ok(html(StatusCode::OK, &page))
}
