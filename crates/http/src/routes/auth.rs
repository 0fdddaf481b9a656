//! `/auth/*`: registration, sign-in, token refresh, sign-out, password change;
//! `GET /api/v1/users` for administrators.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use voice_scheduler_domain::accounts::{
    LoginError, PasswordChangeError, RefreshError, RegisterError, Registered, Registration,
    TokenPair,
};
use voice_scheduler_domain::{Email, PersonName, Role, User};

use crate::auth::{Authenticated, MaybeAuthenticated, origin};
use crate::errors::FieldProblem;
use crate::openapi::ErrorBody;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterBody {
    pub email: String,
    /// 8 characters to 72 bytes.
    pub password: String,
    pub name: String,
    /// `admin` or `staff`; only an administrator may set it (default `staff`).
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserBody {
    pub id: uuid::Uuid,
    pub email: String,
    pub name: String,
    /// `admin` or `staff`.
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&User> for UserBody {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_uuid(),
            email: u.email.to_string(),
            name: u.name.to_string(),
            role: u.role.as_str().to_owned(),
            created_at: u.created_at,
        }
    }
}

/// The answer to an open registration, the same whether the address was
/// free (the account now exists) or already had an account.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcceptedBody {
    /// Always `accepted`.
    pub status: String,
    pub message: String,
}

/// What an open registration answers, whatever the outcome.
const ACCEPTED_MESSAGE: &str = "Registration received. If this address can be used, sign in with it \
     and the password you chose; if it already had an account, use that account's password.";

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenBody {
    /// A JWT (HS256) for `Authorization: Bearer`.
    pub access_token: String,
    /// Opaque; single use: `POST /auth/refresh` returns a new one.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl From<TokenPair> for TokenBody {
    fn from(p: TokenPair) -> Self {
        Self {
            access_token: p.access_token,
            refresh_token: p.refresh_token.expose().to_owned(),
            token_type: "Bearer".to_owned(),
            expires_in: p.expires_in.num_seconds(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordBody {
    pub current_password: String,
    pub new_password: String,
}

/// Creates an account. The first account of an installation becomes its
/// administrator (201 with the account); after that, only administrators
/// create accounts (201, or 409 when the address is taken) unless
/// `ALLOW_REGISTRATION=true`: then anyone may register as staff, and the
/// answer is 202 with the same body whether the address was free (the
/// account is created) or already had an account (nothing is created; the
/// attempt is audited), so registering does not reveal who has an account.
#[utoipa::path(
    post, path = "/auth/register", tag = "auth",
    request_body = RegisterBody,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Created (the first account, or by an administrator)", body = UserBody),
        (status = 202, description = "Open registration by an anonymous caller: the same answer for a free and a taken address", body = AcceptedBody),
        (status = 401, description = "A bearer token was sent but is not valid", body = ErrorBody),
        (status = 403, description = "Registration is closed, or only an administrator may do this", body = ErrorBody),
        (status = 409, description = "The email address has an account (administrators only)", body = ErrorBody),
        (status = 422, description = "Invalid fields (each named); a password among the 1,000 most common is refused", body = ErrorBody),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    request: HttpRequest,
    by: MaybeAuthenticated,
    body: crate::json::Json<RegisterBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut problems = Vec::new();
    let email = Email::parse(&body.email)
        .map_err(|e| problems.push(problem("email", e)))
        .ok();
    let name = PersonName::parse(&body.name)
        .map_err(|e| problems.push(problem("name", e)))
        .ok();
    let password = voice_scheduler_auth::new_password(&body.password)
        .map_err(|e| problems.push(problem("password", e)))
        .ok();
    let role = match body.role.as_deref() {
        None => None,
        Some(raw) => match Role::parse(raw) {
            Some(r) => Some(r),
            None => {
                problems.push(FieldProblem {
                    field: "role".to_owned(),
                    message: format!("'{raw}' is not a role (expected admin or staff)"),
                });
                None
            }
        },
    };
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return Err(ApiError::invalid_fields(problems));
    };
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    let origin = origin(&request, &state.proxies);
    let registered = state
        .accounts
        .register(
            by.0.as_ref(),
            Registration {
                email,
                name,
                password,
                role,
            },
            &origin,
        )
        .await
        .map_err(|e| match e {
            RegisterError::Closed | RegisterError::Forbidden => ApiError::Forbidden(e.to_string()),
            RegisterError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                message: e.to_string(),
            },
            RegisterError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(match registered {
        Registered::Created(user) => HttpResponse::Created().json(UserBody::from(&user)),
        Registered::Accepted => HttpResponse::Accepted().json(AcceptedBody {
            status: "accepted".to_owned(),
            message: ACCEPTED_MESSAGE.to_owned(),
        }),
    })
}

/// Signs in. A wrong password and an unknown address get the same answer.
/// Repeated failures for one account from one client address, or from one
/// address for any accounts, are refused for a while with 429 and
/// `Retry-After` (that address only: the right password from elsewhere
/// still works); failures for an account from anywhere slow its sign-ins
/// down (up to 2 s), never lock it.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenBody),
        (status = 401, description = "Wrong email address or password", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: crate::json::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(&request, &state.proxies);
    let pair = state
        .accounts
        .login(&body.email, &body.password, &origin)
        .await
        .map_err(|e| match e {
            LoginError::InvalidCredentials => ApiError::Unauthorized(e.to_string()),
            LoginError::Throttled { retry_after } => ApiError::TooManyRequests {
                message: e.to_string(),
                retry_after_secs: u64::try_from(retry_after.num_seconds()).unwrap_or(1).max(1),
            },
            LoginError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(TokenBody::from(pair)))
}

/// Exchanges a refresh token for a new pair. The presented token stops
/// working; presenting it again ends the whole sign-in.
#[utoipa::path(
    post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair", body = TokenBody),
        (status = 401, description = "Unknown, used, or ended refresh token", body = ErrorBody),
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: crate::json::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(&request, &state.proxies);
    let pair = state
        .accounts
        .refresh(&body.refresh_token, &origin)
        .await
        .map_err(|e| match e {
            RefreshError::Invalid | RefreshError::Reused => ApiError::Unauthorized(e.to_string()),
            RefreshError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(TokenBody::from(pair)))
}

/// Ends the sign-in the refresh token belongs to (its access tokens stop
/// working too). Answers 204 whether or not the token was known.
#[utoipa::path(
    post, path = "/auth/logout", tag = "auth",
    request_body = RefreshBody,
    responses((status = 204, description = "Signed out"))
)]
pub async fn logout(
    state: web::Data<AppState>,
    body: crate::json::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    state
        .accounts
        .logout(&body.refresh_token)
        .await
        .map_err(|e| ApiError::internal(e.into()))?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends every sign-in of the signed-in user, this one included.
#[utoipa::path(
    post, path = "/auth/logout-all", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every sign-in ended"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
pub async fn logout_all(
    state: web::Data<AppState>,
    request: HttpRequest,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(&request, &state.proxies);
    state
        .accounts
        .logout_all(&who.0, &origin)
        .await
        .map_err(|e| ApiError::internal(e.into()))?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = UserBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
pub async fn me(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(UserBody::from(&who.0.user))
}

/// Changes the password and ends every sign-in of the user, this one
/// included: all refresh tokens are revoked and access tokens issued before
/// the change are refused. The answer is a new pair for the client that
/// made the change, so it stays signed in.
#[utoipa::path(
    post, path = "/auth/password", tag = "auth",
    request_body = PasswordBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; every earlier sign-in ended; a new pair for this client", body = TokenBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "Wrong current password, or the new one is not acceptable", body = ErrorBody),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    request: HttpRequest,
    who: Authenticated,
    body: crate::json::Json<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let new = voice_scheduler_auth::new_password(&body.new_password)
        .map_err(|e| ApiError::invalid_field("new_password", e.to_string()))?;
    let origin = origin(&request, &state.proxies);
    let pair = state
        .accounts
        .change_password(&who.0, &body.current_password, new, &origin)
        .await
        .map_err(|e| match e {
            PasswordChangeError::WrongPassword => {
                ApiError::invalid_field("current_password", e.to_string())
            }
            PasswordChangeError::Unknown(e) => ApiError::internal(e),
        })?;
    Ok(HttpResponse::Ok().json(TokenBody::from(pair)))
}

/// Every account (administrators only).
#[utoipa::path(
    get, path = "/api/v1/users", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every account, oldest first", body = [UserBody]),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an administrator", body = ErrorBody),
    )
)]
pub async fn list_users(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    who.require_admin()?;
    let users = state
        .accounts
        .users()
        .await
        .map_err(|e| ApiError::internal(e.into()))?;
    Ok(HttpResponse::Ok().json(users.iter().map(UserBody::from).collect::<Vec<_>>()))
}

fn problem(field: &str, e: impl std::fmt::Display) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        message: e.to_string(),
    }
}
