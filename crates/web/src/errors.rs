//! What a page answers when it cannot show what was asked: a styled HTML
//! page (never a stack or a JSON body), or the way to the sign-in form.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::next::encode;
use crate::view::{Nav, html};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not signed in (or the sign-in ended): to the sign-in form, and back
    /// to `next` afterwards.
    #[error("sign in first")]
    SignIn { next: Option<String> },
    /// Nothing here, or nothing this user may see (the same answer).
    #[error("not found")]
    NotFound,
    /// Signed in, but the page is for administrators.
    #[error("administrators only")]
    Forbidden,
    /// A form without this sign-in's CSRF token.
    #[error("the form has expired")]
    Csrf,
    #[error("the request cannot be read: {0}")]
    BadRequest(String),
    #[error("this page does not accept that method")]
    MethodNotAllowed,
    #[error(transparent)]
    Internal(anyhow::Error),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    nav: Option<Nav>,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Csrf | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            Self::SignIn { next } => {
                let location = match next {
                    Some(next) => format!("/sign-in?next={}", encode(next)),
                    None => "/sign-in".to_owned(),
                };
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, location))
                    .finish();
            }
            Self::NotFound => (
                "Page not found",
                "There is nothing here, or it is not yours to see. Check the address, or go back to the agenda.",
            ),
            Self::Forbidden => (
                "Administrators only",
                "This page is for administrators of this installation. Go back to the agenda.",
            ),
            Self::Csrf => (
                "The form has expired",
                "This form was not sent from a current page of this dashboard, so nothing was changed. Go back, reload the page and try again.",
            ),
            Self::BadRequest(why) => {
                tracing::info!(why, "dashboard request refused");
                (
                    "The request cannot be read",
                    "Something in the address or the form is not what this page expects. Go back and try again.",
                )
            }
            Self::MethodNotAllowed => (
                "Not allowed",
                "This page cannot be used that way. Go back to the agenda.",
            ),
            Self::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "dashboard page failed");
                (
                    "Something went wrong",
                    "The page could not be shown because of a problem on our side. It has been logged; try again in a moment.",
                )
            }
        };
        let page = ErrorPage {
            title,
            message,
            nav: None,
        };
        html(self.status_code(), &page)
    }
}
