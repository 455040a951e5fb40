//! The engine's error type. The API layer maps each variant to a status with one
//! exhaustive match; database and unexpected errors are never shown to callers.

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The caller named something that does not exist (or is not theirs).
    #[error("{what} '{id}' was not found")]
    NotFound { what: &'static str, id: String },
    /// Who acts may not do this (`who`: their role, or their key's scope).
    #[error("'{who}' does not allow '{permission}'")]
    Forbidden { who: String, permission: String },
    /// The request conflicts with what is stored (a duplicate name, say).
    #[error("{message}")]
    Conflict { message: String },
    /// An idempotency key seen before came with a different event (type or
    /// payload): the key names the original, so nothing new is stored.
    #[error(
        "idempotency_key: '{key}' was already used for event {original} with a different event type or payload; \
         a new event needs a new key"
    )]
    IdempotencyConflict {
        key: String,
        original: crate::model::EventId,
    },
    /// The input is wrong; `field` names what, `message` says why.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Events their types' schemas refuse (the tenant's `schema_mode` is
    /// `enforce`): each problem, with the event's place in the request.
    #[error("{message}")]
    SchemaViolation {
        message: String,
        problems: Vec<crate::model::EventProblem>,
        /// Events refused (more than `problems` names past its cap).
        events: usize,
    },
    /// The tenant's catalog or schema settings changed after the events were
    /// checked: nothing was written; check them again and resubmit.
    #[error("the event catalog changed while the events were being checked")]
    CatalogChanged,
    /// Something is larger than its limit; `field` names it.
    #[error("{field}: {message}")]
    TooLarge { field: String, message: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
}

impl EngineError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        EngineError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        EngineError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// The database could not be reached or asked to try again (a lost
    /// connection, a pool that timed out, PostgreSQL's serialization
    /// failures, deadlocks and connection errors, SQLite's busy lock): the
    /// same work may succeed later, unlike a rejected statement.
    pub fn is_transient(&self) -> bool {
        let EngineError::Database(err) = self else {
            return false;
        };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code == "40001" || code == "40P01" || code.starts_with("08") || code == "57P01"
                    // SQLITE_BUSY and its extended codes
                    || code == "5" || code == "261" || code == "517"
            }),
            _ => false,
        }
    }
}

/// True when a database error is a unique-constraint violation. Decided by the
/// backend's error kind (SQLSTATE 23505 / SQLITE_CONSTRAINT_UNIQUE), never by text.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A statement's error as the caller says it: a conflict with `message` when
/// it broke a unique constraint (the name or key is taken), else as it was.
pub fn taken(message: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> EngineError {
    move |e| {
        if is_unique_violation(&e) {
            EngineError::Conflict { message: message() }
        } else {
            e.into()
        }
    }
}
