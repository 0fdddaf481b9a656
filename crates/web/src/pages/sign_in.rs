//! `/sign-in` and `/sign-out`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use voice_scheduler_domain::accounts::LoginError;

use crate::next::safe_next;
use crate::session::{Browser, cookie, origin, pre_session};
use crate::view::{Nav, Notice, html, see_other};
use crate::{WebError, WebState};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    title: &'a str,
    nav: Option<Nav>,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
    notice: Option<Notice>,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    done: Option<String>,
}

/// The form (or straight on, when already signed in).
pub async fn form(
    state: web::Data<WebState>,
    req: HttpRequest,
    query: web::Query<SignInQuery>,
) -> Result<HttpResponse, WebError> {
    let next = query.next.as_deref().and_then(safe_next).unwrap_or("/");
    if let Some(session) =
        cookie(&req, state.keys.session_cookie()).and_then(|v| state.keys.read_session(&v))
        && state
            .accounts
            .authenticate_session(session, &origin(&req, &state))
            .await
            .is_ok()
    {
        return Ok(see_other(next));
    }
    // A new installation: the first account is created on the first-run page.
    if state
        .accounts
        .awaiting_first_account()
        .await
        .map_err(WebError::Internal)?
    {
        return Ok(see_other("/first-run"));
    }
    Ok(render(
        &state,
        &req,
        StatusCode::OK,
        next,
        String::new(),
        None,
        Notice::from_code(query.done.as_deref()),
    ))
}

/// The page with a pre-session cookie (kept when the browser has a valid one).
fn render(
    state: &WebState,
    req: &HttpRequest,
    status: StatusCode,
    next: &str,
    email: String,
    error: Option<String>,
    notice: Option<Notice>,
) -> HttpResponse {
    let (nonce, set_cookie) = pre_session(state, req);
    let page = SignInPage {
        title: "Sign in",
        nav: None,
        csrf: state.keys.pre_csrf(&nonce),
        next: next.to_owned(),
        email,
        error,
        notice,
    };
    let mut response = html(status, &page);
    if let Ok(value) = header::HeaderValue::from_str(&set_cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(
    state: web::Data<WebState>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let nonce = cookie(&req, state.keys.pre_cookie()).unwrap_or_default();
    if nonce.is_empty() || !state.keys.check_pre_csrf(&nonce, &form.csrf) {
        tracing::warn!("dashboard sign-in refused: no or wrong CSRF token");
        return Err(WebError::Csrf);
    }
    let next = safe_next(&form.next).unwrap_or("/");
    let (status, message) = match state
        .accounts
        .login(form.email.trim(), &form.password, &origin(&req, &state))
        .await
    {
        Ok(pair) => {
            let mut response = see_other(next);
            for value in [
                state.keys.set_cookie(
                    state.keys.session_cookie(),
                    &state.keys.session_value(pair.session),
                ),
                state.keys.clear_cookie(state.keys.pre_cookie()),
            ] {
                if let Ok(value) = header::HeaderValue::from_str(&value) {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            return Ok(response);
        }
        Err(LoginError::InvalidCredentials) => (
            StatusCode::UNAUTHORIZED,
            "The email address or password is wrong.".to_owned(),
        ),
        Err(LoginError::Throttled { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins. Try again in {} minutes.",
                (retry_after.num_seconds() + 59) / 60
            ),
        ),
        Err(LoginError::Unknown(e)) => return Err(WebError::Internal(e)),
    };
    Ok(render(
        &state,
        &req,
        status,
        next,
        form.email.trim().to_owned(),
        Some(message),
        None,
    ))
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// Ends this browser's sign-in and forgets the cookie.
pub async fn sign_out(
    state: web::Data<WebState>,
    browser: Browser,
    form: web::Form<SignOutForm>,
) -> Result<HttpResponse, WebError> {
    browser.check_csrf(&state, &form.csrf)?;
    state
        .accounts
        .end_session(&browser.principal)
        .await
        .map_err(|e| match e {
            voice_scheduler_domain::accounts::SessionError::Unknown(e) => WebError::Internal(e),
        })?;
    let mut response = see_other("/sign-in?done=signed-out");
    if let Ok(value) =
        header::HeaderValue::from_str(&state.keys.clear_cookie(state.keys.session_cookie()))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
