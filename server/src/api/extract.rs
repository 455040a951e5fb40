//! Extractors shared by every API route: who is calling (API key), JSON bodies
//! and list parameters, each rejecting with the API's own error format.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use herald_engine::auth::API_KEY_PREFIX;
use herald_engine::model::query::{QueryError, Reader, Source, decode};
use herald_engine::model::{
    ApiKeyId, AuditQuery, DlqQuery, EventQuery, ListQuery, Permission, Scope, StatsQuery, TenantId,
};
use http::StatusCode;
use http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// An authenticated API caller: the key's tenant and scope.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: ApiKeyId,
    pub tenant_id: TenantId,
    pub tenant_slug: String,
    pub scope: Scope,
    /// The inbox a `consume` key is bound to.
    pub endpoint_id: Option<herald_engine::model::EndpointId>,
    /// The source of the events this key publishes that name none.
    pub default_source: Option<String>,
}

impl Caller {
    /// This key, as the audit log names who made a change.
    pub fn by(&self) -> herald_engine::audit::AuditBy {
        herald_engine::audit::AuditBy::key(
            self.key_id,
            self.scope,
            Some(crate::correlation::current()),
        )
    }

    /// A key bound to an inbox may use that inbox only (403 otherwise).
    pub fn require_inbox(&self, inbox: herald_engine::model::EndpointId) -> Result<(), ApiError> {
        match self.endpoint_id {
            Some(bound) if bound != inbox => Err(ApiError::forbidden(format!(
                "this API key consumes inbox '{bound}' only"
            ))),
            _ => Ok(()),
        }
    }

    /// The one permission check for API routes (the same matrix the console uses).
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.scope.allows(permission) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this API key's scope '{}' does not allow '{permission}'",
                self.scope
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
            })?;
        // An address that keeps presenting bad keys is turned away before the
        // database is asked anything.
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        if let Some(ip) = address
            && let Err(wait) = state.bad_key_limiter.peek(&ip)
        {
            return Err(ApiError::rate_limited(
                "Too many requests with unknown or malformed API keys from this address.",
                wait,
            ));
        }
        let key = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| k.starts_with(API_KEY_PREFIX));
        let auth = match key {
            Some(key) => herald_engine::auth::api_key(state.store.as_ref(), key)
                .await?
                .ok_or_else(|| "unknown or revoked API key".to_owned()),
            None => Err(format!(
                "malformed Authorization header: expected 'Bearer {API_KEY_PREFIX}…'"
            )),
        };
        let auth = match auth {
            Ok(auth) => auth,
            Err(message) => {
                if let Some(ip) = address {
                    let _ = state.bad_key_limiter.check(&ip).await;
                }
                return Err(ApiError::unauthenticated(message));
            }
        };

        tracing::Span::current().record("api_key", tracing::field::display(auth.id));
        if let Err(wait) = state.api_limiter.check(&auth.id).await {
            return Err(ApiError::rate_limited(
                "This API key is over its request rate limit (HERALD_API_RATE_LIMIT).",
                wait,
            ));
        }
        herald_engine::auth::note_key_use(&state.store, &auth, chrono::Utc::now());
        Ok(Caller {
            key_id: auth.id,
            tenant_id: auth.tenant_id,
            tenant_slug: auth.tenant_slug,
            scope: auth.scope,
            endpoint_id: auth.endpoint_id,
            default_source: auth.default_source,
        })
    }
}

/// `Json<T>` whose rejections are API errors naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(not_json());
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        "the request body is larger than allowed",
                    )
                } else {
                    ApiError::bad_request(rejection.body_text())
                }
            })?;
        not_an_array(&body)?;
        // A body that reads is read once, by serde_json alone; one that does
        // not is read again through axum's extractor, which tracks the path
        // to the field at fault for the error (a third of the reading's cost,
        // paid only by bodies that are refused). The body is checked for
        // UTF-8 once, whole, rather than string by string as it is read.
        if let Ok(text) = std::str::from_utf8(&body)
            && let Ok(value) = serde_json::from_str::<T>(text)
        {
            return Ok(ApiJson(value));
        }
        match axum::Json::<T>::from_bytes(&body) {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonDataError(e)) if e.body_text().contains("floating point") => {
                integral_numbers_as_integers(&body)
                    .map(ApiJson)
                    .ok_or_else(|| json_rejection(JsonRejection::JsonDataError(e)))
            }
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// JSON has one number type: `3.0` is the integer 3 to JSON Schema (and so to
/// the OpenAPI document), though serde will not read it into an integer field.
/// Where that was the only problem, the body is read again with every integral
/// number written as an integer; an event's `payload` and `metadata` are the
/// publisher's own bytes and are left as they are.
fn integral_numbers_as_integers<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    fn rewrite(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                if let Some(f) = n.as_f64()
                    && f.fract() == 0.0
                    && f.abs() < 9.0e15
                {
                    *value = serde_json::Value::from(f as i64);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(rewrite),
            serde_json::Value::Object(fields) => {
                for (name, field) in fields.iter_mut() {
                    if name != "payload" && name != "metadata" {
                        rewrite(field);
                    }
                }
            }
            _ => {}
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    rewrite(&mut value);
    serde_json::from_value(value).ok()
}

/// `application/json`, or any `application/*+json`, parameters aside.
fn is_json(headers: &http::HeaderMap) -> bool {
    let Some(mime) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    mime == "application/json"
        || mime
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// Every request body of the API is an object. serde would also read an
/// object's fields from an array in order (`[null, ["x.y"]]` as a PATCH),
/// which no caller means: refuse it by name.
fn not_an_array(body: &[u8]) -> Result<(), ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Err(ApiError::new(
            ErrorCode::Invalid,
            "the body must be a JSON object, not an array",
        )),
        _ => Ok(()),
    }
}

fn not_json() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "send the body as JSON with 'Content-Type: application/json'",
    )
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => not_json(),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::bad_request(format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::new(ErrorCode::Invalid, e.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the request body is larger than allowed",
        ),
        other => ApiError::bad_request(other.body_text()),
    }
}

/// A body that may be left out: empty means `T::default()`, anything else must
/// be JSON for `T` (errors as `ApiJson` words them).
pub fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    not_an_array(body)?;
    serde_json::from_slice(body)
        .or_else(|e| {
            if e.is_data()
                && e.to_string().contains("floating point")
                && let Some(value) = integral_numbers_as_integers(body)
            {
                return Ok(value);
            }
            Err(e)
        })
        .map_err(|e| {
            if e.is_data() {
                ApiError::new(ErrorCode::Invalid, e.to_string())
            } else {
                ApiError::bad_request(format!("the body is not valid JSON: {e}"))
            }
        })
}

/// An id from the path; one that cannot be an id of its kind names nothing: 404.
pub fn path_id<T: std::str::FromStr>(what: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse::<T>()
        .map_err(|_| ApiError::not_found(format!("{what} '{raw}' was not found")))
}

/// `?cursor=…&limit=…` for keyset-paginated lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `next_cursor` from the previous page.
    #[param(pattern = "^[a-z]+_[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

pub const MAX_PAGE: u32 = 200;
const DEFAULT_PAGE: u32 = 50;

/// A page's size: 1 to 200, 50 when not given.
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit: {n} is out of range; expected 1 to {MAX_PAGE}"
        ))),
    }
}

impl ListParams {
    pub fn limit(&self) -> Result<u32, ApiError> {
        page_limit(self.limit)
    }

    /// The cursor as a position in the list's id order; see [`cursor_of`].
    pub fn cursor<T>(&self) -> Result<Option<T>, ApiError>
    where
        T: std::str::FromStr<Err = herald_engine::model::IdParseError>,
    {
        cursor_of(self.cursor.as_deref())
    }
}

/// A cursor is a position in creation order, which an id's ULID names
/// whatever its prefix: one of the list's own ids, or any id's ULID under the
/// list's prefix. Anything else is a 400.
pub fn cursor_of<T>(raw: Option<&str>) -> Result<Option<T>, ApiError>
where
    T: std::str::FromStr<Err = herald_engine::model::IdParseError>,
{
    raw.map(|raw| {
        herald_engine::model::query::parse_cursor(raw)
            .map_err(|e| ApiError::bad_request(format!("cursor: {e}")))
    })
    .transpose()
}

/// A list's query string: its filters (one of the model's list queries, read
/// as the console and the CLI read them) and `limit`.
pub struct ListOf<Q> {
    pub query: Q,
    pub limit: u32,
}

/// `?limit=` beside a list query's own parameters, for the document.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageLimit {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Filters only (no paging): the statistics query.
pub struct Filters<Q>(pub Q);

fn read_query<Q: ListQuery>(
    parts: &Parts,
    extra: &[&'static str],
) -> Result<(Q, Option<String>), ApiError> {
    let mut reader = Reader::new(decode(parts.uri.query().unwrap_or("")), Source::Wire);
    let bad = |e: QueryError| ApiError::bad_request(e.to_string());
    let limit = match extra.first() {
        Some(name) => reader.raw(name).map_err(bad)?,
        None => None,
    };
    let query = Q::read(&mut reader).map_err(bad)?;
    reader.finish(&[Q::FIELDS, extra].concat()).map_err(bad)?;
    Ok((query, limit))
}

impl<Q: ListQuery + Send, S: Send + Sync> FromRequestParts<S> for ListOf<Q> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let (query, limit) = read_query::<Q>(parts, &["limit"])?;
        let limit = limit
            .map(|l| {
                l.parse::<u32>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "limit: '{}' is not a number from 1 to {MAX_PAGE}",
                        l.chars().take(64).collect::<String>()
                    ))
                })
            })
            .transpose()?;
        Ok(ListOf {
            query,
            limit: page_limit(limit)?,
        })
    }
}

impl<Q: ListQuery + Send, S: Send + Sync> FromRequestParts<S> for Filters<Q> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        read_query::<Q>(parts, &[]).map(|(q, _)| Filters(q))
    }
}

/// Whether `name=` with nothing after it means "not given" in a list's query
/// string (its free text and choices; see `Kind::empty_is_absent`), which the
/// OpenAPI document allows.
pub(crate) fn empty_means_absent(name: &str) -> bool {
    [
        EventQuery::PARAMS,
        DlqQuery::PARAMS,
        AuditQuery::PARAMS,
        StatsQuery::PARAMS,
    ]
    .into_iter()
    .flatten()
    .any(|&(param, kind)| param == name && kind.empty_is_absent())
}

/// `Query<T>` whose rejections are API errors.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e: QueryRejection| {
                ApiError::bad_request(format!("query string: {}", e.body_text()))
            })
    }
}

/// The address a keyless request came from, and whether it may go on: an
/// address that keeps failing to prove itself (unknown API keys, unproven
/// acknowledgements, unknown play inboxes) is turned away with `refused`
/// before anything else is read.
pub fn keyless_caller(
    state: &crate::state::AppState,
    parts: &Parts,
    refused: &str,
) -> Result<Option<std::net::IpAddr>, ApiError> {
    let peer = parts
        .extensions
        .get::<axum::extract::connect_info::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer
        && let Err(wait) = state.bad_key_limiter.peek(&ip)
    {
        return Err(ApiError::rate_limited(refused, wait));
    }
    Ok(peer)
}
