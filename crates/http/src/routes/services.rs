//! `/api/v1/calendars/{id}/services`: the services (appointment types) a
//! calendar offers — list, create, read, change, delete.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use voice_scheduler_domain::catalog::{ServiceFields, ServiceWriteError};
use voice_scheduler_domain::{CalendarId, Service, ServiceId};

use crate::auth::Authenticated;
use crate::errors::FieldProblem;
use crate::openapi::ErrorBody;
use crate::{ApiError, AppState};

/// A service as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceBody {
    pub id: uuid::Uuid,
    pub calendar_id: uuid::Uuid,
    /// Spoken to callers, and matched against what they say.
    pub name: String,
    /// Spoken by `list_services`.
    pub description: Option<String>,
    pub duration_minutes: i64,
    /// Kept free before each appointment of the service.
    pub buffer_before_minutes: i64,
    /// Kept free after each appointment of the service.
    pub buffer_after_minutes: i64,
    /// At most this many appointments of the service per day (the
    /// calendar's day); `null`: no limit.
    pub daily_limit: Option<i64>,
    /// Booked when a caller names no service.
    pub default: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Service> for ServiceBody {
    fn from(s: &Service) -> Self {
        let settings = s.settings();
        Self {
            id: s.id.as_uuid(),
            calendar_id: s.calendar_id.as_uuid(),
            name: settings.name.as_str().to_owned(),
            description: settings.description.map(|d| d.as_str().to_owned()),
            duration_minutes: settings.duration_minutes,
            buffer_before_minutes: settings.buffer_before_minutes,
            buffer_after_minutes: settings.buffer_after_minutes,
            daily_limit: settings.daily_limit,
            default: s.is_default,
            created_at: s.created_at,
        }
    }
}

/// A service's settings. On creation `name` is required and the others
/// default (30 minutes, no buffers, no limit, not the default — except the
/// calendar's first service, which is); on a change, absent fields keep
/// their value and `null` clears `description` or `daily_limit`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceInput {
    /// 1–60 characters.
    pub name: Option<String>,
    /// At most 300 characters; empty or `null`: none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// 5–480.
    pub duration_minutes: Option<i64>,
    /// 0–240.
    pub buffer_before_minutes: Option<i64>,
    /// 0–240.
    pub buffer_after_minutes: Option<i64>,
    /// 1–1000, or `null` for no limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub daily_limit: Option<Option<i64>>,
    /// Makes this the calendar's default service (the previous default
    /// stops being it). `false` on the default is ignored: one always is.
    pub default: Option<bool>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl From<ServiceInput> for ServiceFields {
    fn from(i: ServiceInput) -> Self {
        Self {
            name: i.name,
            description: i.description,
            duration_minutes: i.duration_minutes,
            buffer_before_minutes: i.buffer_before_minutes,
            buffer_after_minutes: i.buffer_after_minutes,
            daily_limit: i.daily_limit,
            is_default: i.default,
        }
    }
}

fn write_error(e: ServiceWriteError) -> ApiError {
    match e {
        ServiceWriteError::NotFound => {
            ApiError::NotFound("there is no such calendar or service".to_owned())
        }
        ServiceWriteError::Invalid(problems) => ApiError::invalid_fields(
            problems
                .into_iter()
                .map(|f| FieldProblem {
                    field: f.field,
                    message: f.message,
                })
                .collect(),
        ),
        ServiceWriteError::NameTaken(_) => ApiError::Conflict {
            code: "service_name_taken",
            message: e.to_string(),
        },
        ServiceWriteError::TooMany(_) => ApiError::Conflict {
            code: "too_many_services",
            message: e.to_string(),
        },
        ServiceWriteError::Unknown(e) => ApiError::internal(e),
    }
}

/// The calendar's services, oldest first.
#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/services", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The services", body = [ServiceBody]),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
    )
)]
pub async fn list_services(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    let list = state
        .services
        .list(&who.0, CalendarId::from_uuid(id.into_inner()))
        .await
        .map_err(write_error)?;
    Ok(HttpResponse::Ok().json(list.iter().map(ServiceBody::from).collect::<Vec<_>>()))
}

/// Adds a service to the calendar (at most 50; the first becomes the default).
#[utoipa::path(
    post, path = "/api/v1/calendars/{id}/services", tag = "calendars",
    params(("id" = uuid::Uuid, Path, description = "Calendar id")),
    request_body = ServiceInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ServiceBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar (or not yours)", body = ErrorBody),
        (status = 409, description = "The name is taken in this calendar, or it has 50 services", body = ErrorBody),
        (status = 422, description = "Invalid settings (each field named)", body = ErrorBody),
    )
)]
pub async fn create_service(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<uuid::Uuid>,
    input: crate::json::Json<ServiceInput>,
) -> Result<HttpResponse, ApiError> {
    let created = state
        .services
        .create(
            &who.0,
            CalendarId::from_uuid(id.into_inner()),
            input.into_inner().into(),
        )
        .await
        .map_err(write_error)?;
    Ok(HttpResponse::Created().json(ServiceBody::from(&created)))
}

/// One service of the calendar.
#[utoipa::path(
    get, path = "/api/v1/calendars/{id}/services/{service_id}", tag = "calendars",
    params(
        ("id" = uuid::Uuid, Path, description = "Calendar id"),
        ("service_id" = uuid::Uuid, Path, description = "Service id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The service", body = ServiceBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar or service (or not yours)", body = ErrorBody),
    )
)]
pub async fn get_service(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(uuid::Uuid, uuid::Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (calendar, service) = path.into_inner();
    let found = state
        .services
        .get(
            &who.0,
            CalendarId::from_uuid(calendar),
            ServiceId::from_uuid(service),
        )
        .await
        .map_err(write_error)?;
    Ok(HttpResponse::Ok().json(ServiceBody::from(&found)))
}

/// Changes a service; absent fields keep their value. Appointments already
/// booked keep their length and buffers.
#[utoipa::path(
    patch, path = "/api/v1/calendars/{id}/services/{service_id}", tag = "calendars",
    params(
        ("id" = uuid::Uuid, Path, description = "Calendar id"),
        ("service_id" = uuid::Uuid, Path, description = "Service id"),
    ),
    request_body = ServiceInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = ServiceBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar or service (or not yours)", body = ErrorBody),
        (status = 409, description = "The name is taken in this calendar", body = ErrorBody),
        (status = 422, description = "Invalid settings (each field named)", body = ErrorBody),
    )
)]
pub async fn update_service(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(uuid::Uuid, uuid::Uuid)>,
    input: crate::json::Json<ServiceInput>,
) -> Result<HttpResponse, ApiError> {
    let (calendar, service) = path.into_inner();
    let changed = state
        .services
        .update(
            &who.0,
            CalendarId::from_uuid(calendar),
            ServiceId::from_uuid(service),
            input.into_inner().into(),
        )
        .await
        .map_err(write_error)?;
    Ok(HttpResponse::Ok().json(ServiceBody::from(&changed)))
}

/// Deletes a service. Its appointments stay, keeping its name; when it was
/// the default, the oldest remaining service becomes the default.
#[utoipa::path(
    delete, path = "/api/v1/calendars/{id}/services/{service_id}", tag = "calendars",
    params(
        ("id" = uuid::Uuid, Path, description = "Calendar id"),
        ("service_id" = uuid::Uuid, Path, description = "Service id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such calendar or service (or not yours)", body = ErrorBody),
    )
)]
pub async fn delete_service(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(uuid::Uuid, uuid::Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (calendar, service) = path.into_inner();
    state
        .services
        .delete(
            &who.0,
            CalendarId::from_uuid(calendar),
            ServiceId::from_uuid(service),
        )
        .await
        .map_err(write_error)?;
    Ok(HttpResponse::NoContent().finish())
}
