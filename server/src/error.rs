//! The API's one error type: a status, a stable machine code and a message for
//! people, rendered as `{"error": {"code", "message", "correlation_id"}}`.
//! Unexpected failures are logged with their cause; callers get only the id.

use axum::Json;
use axum::response::{IntoResponse, Response};
use herald_engine::EngineError;
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::correlation;

/// The one error format: a stable machine `code`, a `message` for people and
/// the request's `correlation_id` (also in the `X-Correlation-ID` header).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs; each code goes with one status.
    #[schema(example = "not_found")]
    pub code: ErrorCode,
    /// For people; names the field or value that is wrong.
    pub message: String,
    /// Quote it when reporting a problem: the server's logs carry it.
    #[schema(example = "01JD5Q8X3V4N2M7K9P6R0S1T2W")]
    pub correlation_id: String,
    /// With `schema_violation`: each failing JSON pointer and keyword, per event.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<herald_engine::model::EventProblem>,
}

/// Every machine code the API answers with, and the status each is sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed (not JSON, a bad query parameter).
    InvalidRequest,
    /// 401: no key or session, or one that is unknown, revoked or expired.
    Unauthenticated,
    /// 403: the caller's scope or role does not allow this.
    Forbidden,
    /// 404: nothing by that id (or not the caller's).
    NotFound,
    /// 409: the request conflicts with what is stored.
    Conflict,
    /// 409: an idempotency key seen before came with a different event.
    IdempotencyConflict,
    /// 413: a body or payload over its limit.
    PayloadTooLarge,
    /// 415: a body sent without `Content-Type: application/json`.
    UnsupportedMediaType,
    /// 422: well-formed JSON that is not what the operation takes.
    Invalid,
    /// 422: events their types' schemas refuse (`schema_mode: enforce`);
    /// `problems` lists each failing pointer and keyword.
    SchemaViolation,
    /// 426: a plain HTTP request to the websocket.
    UpgradeRequired,
    /// 429: over a rate limit; `Retry-After` says when to try again.
    RateLimited,
    /// 500: Herald could not complete the request.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidRequest,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::IdempotencyConflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Invalid,
        ErrorCode::SchemaViolation,
        ErrorCode::UpgradeRequired,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict | ErrorCode::IdempotencyConflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Invalid | ErrorCode::SchemaViolation => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code a status is answered with: the first in `ALL` (so a 409 is a
    /// `conflict` unless it is about an idempotency key).
    pub fn for_status(status: StatusCode) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|code| code.status() == status)
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Sent as `Retry-After` (seconds) with a 429.
    pub retry_after_secs: Option<u64>,
    /// With `schema_violation`: what each refused event's schema found.
    pub problems: Vec<herald_engine::model::EventProblem>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
            problems: Vec::new(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// 429: the caller is over a rate limit and may try again after `wait`.
    pub fn rate_limited(message: impl Into<String>, wait: std::time::Duration) -> Self {
        let secs = herald_engine::limit::retry_after_secs(wait);
        let mut e = Self::new(
            ErrorCode::RateLimited,
            format!("{} Try again in {secs} s.", message.into()),
        );
        e.retry_after_secs = Some(secs);
        e
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// An unexpected failure: logged in full here, opaque to the caller.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, correlation_id = %correlation::current(), "request failed");
        Self::new(
            ErrorCode::Internal,
            "Herald could not complete the request; quote the correlation id when reporting it",
        )
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound { .. } => ApiError::not_found(e.to_string()),
            EngineError::Conflict { message } => ApiError::new(ErrorCode::Conflict, message),
            EngineError::Forbidden { .. } => ApiError::forbidden(e.to_string()),
            EngineError::IdempotencyConflict { .. } => {
                ApiError::new(ErrorCode::IdempotencyConflict, e.to_string())
            }
            EngineError::Invalid { .. } => ApiError::new(ErrorCode::Invalid, e.to_string()),
            EngineError::SchemaViolation {
                message, problems, ..
            } => {
                let mut error = ApiError::new(ErrorCode::SchemaViolation, message);
                error.problems = problems;
                error
            }
            EngineError::TooLarge { .. } => {
                ApiError::new(ErrorCode::PayloadTooLarge, e.to_string())
            }
            EngineError::Database(_)
            | EngineError::Migrate(_)
            | EngineError::Internal(_)
            | EngineError::CatalogChanged => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The type the OpenAPI document describes, so the two cannot differ.
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                correlation_id: correlation::current(),
                problems: self.problems,
            },
        };
        let mut response = (self.code.status(), Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        response
    }
}

/// Answers any panic in a handler with the API's opaque 500; the panic itself is
/// logged with the request's correlation id. The server keeps serving.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}
