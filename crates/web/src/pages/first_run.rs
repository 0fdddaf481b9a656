//! `/first-run`: while the installation has no account, creates its first
//! administrator (what `voice-scheduler users create-admin` does) and signs
//! it in. Once an account exists the page is gone (a redirect to sign in).
//! The form is protected like the sign-in form: a pre-session cookie and its
//! token.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use voice_scheduler_domain::accounts::RegisterError;
use voice_scheduler_domain::{Email, PersonName};

use crate::session::{cookie, origin, pre_session};
use crate::view::{Nav, html, see_other};
use crate::{WebError, WebState};

/// A field's value and the message shown next to it.
#[derive(Default)]
pub struct Input {
    pub value: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "first_run.html")]
struct FirstRunPage {
    title: &'static str,
    nav: Option<Nav>,
    csrf: String,
    name: Input,
    email: Input,
    password: Input,
    confirm: Input,
}

/// Where a browser goes once an account exists.
const SIGN_IN: &str = "/sign-in?done=set-up";

async fn awaiting(state: &WebState) -> Result<bool, WebError> {
    state
        .accounts
        .awaiting_first_account()
        .await
        .map_err(WebError::Internal)
}

pub async fn form(state: web::Data<WebState>, req: HttpRequest) -> Result<HttpResponse, WebError> {
    if !awaiting(&state).await? {
        return Ok(see_other(SIGN_IN));
    }
    Ok(render(
        &state,
        &req,
        StatusCode::OK,
        FirstRunPage {
            title: "Welcome",
            nav: None,
            csrf: String::new(),
            name: Input::default(),
            email: Input::default(),
            password: Input::default(),
            confirm: Input::default(),
        },
    ))
}

fn render(
    state: &WebState,
    req: &HttpRequest,
    status: StatusCode,
    mut page: FirstRunPage,
) -> HttpResponse {
    let (nonce, set_cookie) = pre_session(state, req);
    page.csrf = state.keys.pre_csrf(&nonce);
    let mut response = html(status, &page);
    if let Ok(value) = header::HeaderValue::from_str(&set_cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct FirstRunForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

pub async fn submit(
    state: web::Data<WebState>,
    req: HttpRequest,
    form: web::Form<FirstRunForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    let nonce = cookie(&req, state.keys.pre_cookie()).unwrap_or_default();
    if nonce.is_empty() || !state.keys.check_pre_csrf(&nonce, &form.csrf) {
        tracing::warn!("dashboard first run refused: no or wrong CSRF token");
        return Err(WebError::Csrf);
    }
    if !awaiting(&state).await? {
        return Ok(see_other(SIGN_IN));
    }
    let mut name = Input {
        value: form.name.trim().to_owned(),
        error: None,
    };
    let mut email = Input {
        value: form.email.trim().to_owned(),
        error: None,
    };
    let mut password = Input::default();
    let mut confirm = Input::default();
    let parsed_name = PersonName::parse(&name.value)
        .map_err(|e| name.error = Some(sentence(&e.to_string())))
        .ok();
    let parsed_email = Email::parse(&email.value)
        .map_err(|e| email.error = Some(sentence(&e.to_string())))
        .ok();
    let parsed_password = voice_scheduler_auth::new_password(&form.password)
        .map_err(|e| password.error = Some(sentence(&e.to_string())))
        .ok();
    if form.password != form.confirm {
        confirm.error = Some("The two passwords are not the same.".to_owned());
    }
    if let (Some(n), Some(e), Some(p), None) = (
        parsed_name,
        parsed_email,
        parsed_password,
        confirm.error.as_ref(),
    ) {
        match state
            .accounts
            .create_first_admin(e, n, p, &origin(&req, &state))
            .await
        {
            Ok(pair) => {
                let mut response = see_other("/?done=welcome");
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
            // Another first run won the race (or an account appeared).
            Err(RegisterError::Closed | RegisterError::Forbidden) => {
                return Ok(see_other(SIGN_IN));
            }
            Err(RegisterError::EmailTaken) => {
                email.error = Some("This email address already has an account.".to_owned());
            }
            Err(RegisterError::Unknown(e)) => return Err(WebError::Internal(e)),
        }
    }
    Ok(render(
        &state,
        &req,
        StatusCode::UNPROCESSABLE_ENTITY,
        FirstRunPage {
            title: "Welcome",
            nav: None,
            csrf: String::new(),
            name,
            email,
            password,
            confirm,
        },
    ))
}

/// A domain message as a sentence: capital first letter, final full stop.
pub fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}
