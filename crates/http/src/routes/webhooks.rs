//! Webhook endpoints: register (the signing secret is in this answer only),
//! list, read, delete; each endpoint's delivery log and redelivery.
//! Administrators manage every endpoint; a calendar's owner those scoped to
//! their calendars. Anyone else's endpoint is answered 404.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use voice_scheduler_domain::CalendarId;
use voice_scheduler_domain::webhooks::{
    Delivery, NewWebhook, TargetError, Webhook, WebhookError, WebhookId,
};

use crate::auth::Authenticated;
use crate::openapi::ErrorBody;
use crate::{ApiError, AppState};

/// The most events one registration may list.
const MAX_EVENTS: usize = 16;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where deliveries are POSTed: an `https` URL on a public address.
    pub url: String,
    /// Any of `appointment.booked`, `appointment.rescheduled`,
    /// `appointment.cancelled`, `call.ended`, `reminder.answered` (accepted,
    /// not emitted yet).
    pub events: Vec<String>,
    /// Only this calendar's events; required unless you are an administrator
    /// (absent: every calendar).
    pub calendar_id: Option<uuid::Uuid>,
    /// A note for people (at most 200 characters).
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookBody {
    pub id: uuid::Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// `null`: every calendar.
    pub calendar_id: Option<uuid::Uuid>,
    pub description: Option<String>,
    pub created_by: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedWebhookBody {
    #[serde(flatten)]
    pub webhook: WebhookBody,
    /// The signing secret (`whsec_…`), shown this once: keep it to verify
    /// `Webhook-Signature` (docs/webhooks.md).
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookListBody {
    pub items: Vec<WebhookBody>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryBody {
    pub id: i64,
    /// The event's id (the `id` of the body): the same on every attempt and
    /// redelivery, for receivers to de-duplicate by.
    pub event_id: uuid::Uuid,
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    /// The status code of the last answer (none: no answer).
    pub status_code: Option<u16>,
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeliveryListBody {
    /// Newest first.
    pub items: Vec<DeliveryBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// 1–100 (default 50).
    pub limit: Option<u64>,
}

fn body(hook: &Webhook) -> WebhookBody {
    WebhookBody {
        id: hook.id.as_uuid(),
        url: hook.url.clone(),
        events: hook.events.iter().map(|e| e.as_str().to_owned()).collect(),
        calendar_id: hook.calendar_id.map(|c| c.as_uuid()),
        description: hook.description.clone(),
        created_by: hook.created_by.map(|u| u.as_uuid()),
        created_at: hook.created_at,
    }
}

fn delivery_body(d: Delivery) -> DeliveryBody {
    DeliveryBody {
        id: d.id,
        event_id: d.event_id,
        event: d.event,
        status: d.status.as_str().to_owned(),
        attempts: d.attempts,
        status_code: d.last_status,
        last_error: d.last_error,
        created_at: d.created_at,
        updated_at: d.updated_at,
        next_attempt_at: d.next_attempt_at,
        delivered_at: d.delivered_at,
    }
}

fn error(e: WebhookError) -> ApiError {
    match e {
        WebhookError::NotFound => ApiError::NotFound("no such webhook".to_owned()),
        WebhookError::NoSuchCalendar => ApiError::invalid_field("calendar_id", "no such calendar"),
        WebhookError::CalendarRequired => ApiError::invalid_field("calendar_id", e.to_string()),
        WebhookError::Url(TargetError::Forbidden) => ApiError::invalid_field(
            "url",
            "the URL's host is, or resolves to, a private, loopback, link-local or otherwise internal address",
        ),
        WebhookError::Url(_) => ApiError::invalid_field("url", e.to_string()),
        WebhookError::UnknownEvent(_) | WebhookError::NoEvents => {
            ApiError::invalid_field("events", e.to_string())
        }
        WebhookError::BadDescription => ApiError::invalid_field("description", e.to_string()),
        WebhookError::TooMany => ApiError::Conflict {
            code: "too_many_webhooks",
            message: e.to_string(),
        },
        WebhookError::Unknown(e) => ApiError::internal(e),
    }
}

/// Registers an endpoint. The answer carries its signing secret, shown
/// this once.
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = WebhookInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered; keep the secret", body = CreatedWebhookBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "Too many webhooks", body = ErrorBody),
        (status = 422, description = "A refused URL, event, calendar or description (named)", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    who: Authenticated,
    input: crate::json::Json<WebhookInput>,
) -> Result<HttpResponse, ApiError> {
    let input = input.into_inner();
    if input.events.len() > MAX_EVENTS {
        return Err(ApiError::invalid_field(
            "events",
            format!("at most {MAX_EVENTS} events"),
        ));
    }
    let created = state
        .webhooks
        .create(
            &who.0,
            NewWebhook {
                url: input.url,
                events: input.events,
                calendar_id: input.calendar_id.map(CalendarId::from_uuid),
                description: input.description,
            },
        )
        .await
        .map_err(error)?;
    Ok(HttpResponse::Created().json(CreatedWebhookBody {
        webhook: body(&created.webhook),
        secret: created.secret,
    }))
}

/// The endpoints you may manage.
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your webhooks", body = WebhookListBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let hooks = state.webhooks.list(&who.0).await.map_err(error)?;
    Ok(HttpResponse::Ok().json(WebhookListBody {
        items: hooks.iter().map(body).collect(),
    }))
}

/// One endpoint (never its secret).
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The webhook", body = WebhookBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such webhook (or not yours)", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let hook = state
        .webhooks
        .get(&who.0, WebhookId::from_uuid(id.into_inner()))
        .await
        .map_err(error)?;
    Ok(HttpResponse::Ok().json(body(&hook)))
}

/// Deletes an endpoint and its delivery log; pending deliveries are dropped.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such webhook (or not yours)", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .webhooks
        .delete(&who.0, WebhookId::from_uuid(id.into_inner()))
        .await
        .map_err(error)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The endpoint's delivery log, newest first.
#[utoipa::path(
    get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id"), DeliveryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deliveries", body = DeliveryListBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such webhook (or not yours)", body = ErrorBody),
        (status = 422, description = "limit is not a whole number", body = ErrorBody),
    )
)]
pub async fn deliveries(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let items = state
        .webhooks
        .deliveries(
            &who.0,
            WebhookId::from_uuid(id.into_inner()),
            query.limit.unwrap_or(50),
        )
        .await
        .map_err(error)?;
    Ok(HttpResponse::Ok().json(DeliveryListBody {
        items: items.into_iter().map(delivery_body).collect(),
    }))
}

/// Sends a delivery again, with the same event id, from a fresh retry
/// budget.
#[utoipa::path(
    post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(
        ("id" = uuid::Uuid, Path, description = "Webhook id"),
        ("delivery_id" = i64, Path, description = "Delivery id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued again", body = DeliveryBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such webhook or delivery (or not yours)", body = ErrorBody),
    )
)]
pub async fn redeliver(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(uuid::Uuid, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let queued = state
        .webhooks
        .redeliver(&who.0, WebhookId::from_uuid(id), delivery)
        .await
        .map_err(error)?;
    Ok(HttpResponse::Accepted().json(delivery_body(queued)))
}
