//! The error every console server function returns. It crosses the wire as JSON,
//! so it carries messages meant for people, never internal detail.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ConsoleError {
    #[error("Please sign in.")]
    Unauthenticated,
    #[error("Wrong email or password.")]
    InvalidCredentials,
    #[error("Your role ({role}) does not allow this ({permission}).")]
    Forbidden { role: String, permission: String },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{message}")]
    Conflict { message: String },
    #[error("{message}")]
    NotFound { message: String },
    /// Over a rate limit, or a sign-in lock: try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// The request did not come from a console page of this site.
    #[error("{message}")]
    CrossSite { message: String },
    #[error("Something went wrong on the server (correlation id {correlation_id}).")]
    Internal { correlation_id: String },
    /// The request never got a server answer (network, decoding).
    #[error("Could not reach Herald: {message}")]
    Transport { message: String },
}

impl ConsoleError {
    /// The HTTP status the server function answers with.
    pub fn status(&self) -> u16 {
        match self {
            ConsoleError::Unauthenticated | ConsoleError::InvalidCredentials => 401,
            ConsoleError::Forbidden { .. } | ConsoleError::CrossSite { .. } => 403,
            ConsoleError::RateLimited { .. } => 429,
            ConsoleError::Invalid { .. } => 422,
            ConsoleError::Conflict { .. } => 409,
            ConsoleError::NotFound { .. } => 404,
            ConsoleError::Internal { .. } | ConsoleError::Transport { .. } => 500,
        }
    }
}

impl From<herald_engine::model::QueryError> for ConsoleError {
    fn from(e: herald_engine::model::QueryError) -> Self {
        ConsoleError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl ConsoleError {
    /// The message for a form field, when this error is about that field.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            ConsoleError::Invalid { field, message }
                if field == name
                    || field.starts_with(&format!("{name}["))
                    || field.starts_with(&format!("{name}.")) =>
            {
                Some(message.clone())
            }
            _ => None,
        }
    }
}

impl FromServerFnError for ConsoleError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => ConsoleError::Invalid {
                field: "request".into(),
                message: m,
            },
            // On the server, a body that cannot be decoded at all (not UTF-8,
            // say) is the caller's bad request, not a transport failure.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Deserialization(m) => ConsoleError::Invalid {
                field: "request".into(),
                message: m,
            },
            other => ConsoleError::Transport {
                message: other.to_string(),
            },
        }
    }
}
