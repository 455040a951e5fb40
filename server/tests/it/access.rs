//! Who may call what: every API route against every key scope, and every
//! console server function against every role, each pair allowed or denied as
//! the permission matrix says. The tables below name the permission each
//! route and function needs; the tests also fail when a route or function
//! exists that the tables do not list.

use std::collections::BTreeSet;

use herald_engine::model::{
    ApiKeyId, CheckpointId, DlqEntryId, EndpointId, EventId, Permission, ReplayId, RetryPolicyId,
    Role, Scope, UserId,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};

/// Who may call a console server function.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Gate {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    Session,
    Needs(Permission),
}

pub(crate) struct Route {
    pub method: Method,
    /// As registered, with `{id}` placeholders.
    pub path: &'static str,
    pub permission: Permission,
    pub body: Option<Value>,
}

fn route(method: Method, path: &'static str, permission: Permission, body: Option<Value>) -> Route {
    Route {
        method,
        path,
        permission,
        body,
    }
}

pub(crate) fn api_routes() -> Vec<Route> {
    use Method as M;
    use Permission as P;
    let endpoint = json!({"url": "https://93.184.216.34/hook", "event_types": ["a.*"]});
    let policy = json!({"backoff": {"kind": "schedule", "delays_secs": [1]}, "max_attempts": 2});
    vec![
        route(M::GET, "/tenant", P::Read, None),
        route(M::PATCH, "/tenant", P::ManageEndpoints, Some(json!({}))),
        route(M::GET, "/api-keys", P::ManageApiKeys, None),
        route(
            M::POST,
            "/api-keys",
            P::ManageApiKeys,
            Some(json!({"name": "k", "scope": "read"})),
        ),
        route(M::DELETE, "/api-keys/{id}", P::ManageApiKeys, None),
        route(M::GET, "/audit", P::ReadAudit, None),
        route(M::GET, "/endpoints", P::Read, None),
        route(M::POST, "/endpoints", P::ManageEndpoints, Some(endpoint)),
        route(M::GET, "/endpoints/{id}", P::Read, None),
        route(
            M::PATCH,
            "/endpoints/{id}",
            P::ManageEndpoints,
            Some(json!({"description": "x"})),
        ),
        route(M::DELETE, "/endpoints/{id}", P::ManageEndpoints, None),
        route(
            M::POST,
            "/endpoints/{id}/disable",
            P::ManageEndpoints,
            Some(json!({})),
        ),
        route(M::POST, "/endpoints/{id}/enable", P::ManageEndpoints, None),
        route(M::GET, "/endpoints/{id}/blocked-streams", P::Read, None),
        route(
            M::POST,
            "/endpoints/{id}/rotate-secret",
            P::ManageEndpoints,
            Some(json!({})),
        ),
        route(
            M::POST,
            "/endpoints/{id}/test",
            P::SendTestEvent,
            Some(json!({})),
        ),
        route(
            M::POST,
            "/endpoints/filter-test",
            P::Read,
            Some(json!({"filter": {}, "event": {"event_type": "a.b", "payload": {}}})),
        ),
        route(
            M::POST,
            "/endpoints/transform-test",
            P::Read,
            Some(json!({"transform": ".", "payload": {}})),
        ),
        route(M::GET, "/retry-policies", P::Read, None),
        route(
            M::POST,
            "/retry-policies",
            P::ManageEndpoints,
            Some(json!({"name": "p", "policy": policy})),
        ),
        route(M::POST, "/retry-policies/preview", P::Read, Some(policy)),
        route(M::GET, "/retry-policies/{id}", P::Read, None),
        route(
            M::PATCH,
            "/retry-policies/{id}",
            P::ManageEndpoints,
            Some(json!({"description": "x"})),
        ),
        route(M::DELETE, "/retry-policies/{id}", P::ManageEndpoints, None),
        route(
            M::POST,
            "/events",
            P::Publish,
            Some(json!({"event_type": "a.b", "payload": {}})),
        ),
        route(M::GET, "/events", P::Read, None),
        route(
            M::POST,
            "/events/batch",
            P::Publish,
            Some(json!({"events": [{"event_type": "a.b", "payload": {}}]})),
        ),
        route(M::GET, "/events/{id}", P::Read, None),
        route(M::GET, "/event-types", P::Read, None),
        route(
            M::POST,
            "/event-types",
            P::ManageEndpoints,
            Some(json!({"name": "a.b"})),
        ),
        route(M::GET, "/event-types/{name}", P::Read, None),
        route(M::GET, "/event-types/asyncapi.json", P::Read, None),
        route(
            M::PATCH,
            "/event-types/{name}",
            P::ManageEndpoints,
            Some(json!({"deprecated": true})),
        ),
        route(M::DELETE, "/event-types/{name}", P::ManageEndpoints, None),
        route(M::GET, "/event-types/{name}/versions", P::Read, None),
        route(M::GET, "/event-types/{name}/failures", P::Read, None),
        route(
            M::POST,
            "/event-types/{name}/versions",
            P::ManageEndpoints,
            Some(json!({"schema": {}})),
        ),
        route(
            M::POST,
            "/events/{id}/replay",
            P::ManageReplays,
            Some(json!({})),
        ),
        route(
            M::POST,
            "/events/{id}/expunge",
            P::ManageReplays,
            Some(json!({"reason": "erasure request"})),
        ),
        route(M::GET, "/dlq", P::Read, None),
        route(
            M::POST,
            "/dlq/reprocess",
            P::ManageDlq,
            Some(json!({"filter": {}})),
        ),
        route(M::GET, "/dlq/{id}", P::Read, None),
        route(
            M::DELETE,
            "/dlq/{id}",
            P::ManageDlq,
            Some(json!({"reason": "r"})),
        ),
        route(
            M::POST,
            "/dlq/{id}/reprocess",
            P::ManageDlq,
            Some(json!({})),
        ),
        route(
            M::POST,
            "/replays",
            P::ManageReplays,
            Some(json!({"dry_run": true})),
        ),
        route(M::GET, "/replays", P::Read, None),
        route(M::GET, "/replays/{id}", P::Read, None),
        route(M::POST, "/replays/{id}/pause", P::ManageReplays, None),
        route(M::POST, "/replays/{id}/resume", P::ManageReplays, None),
        route(M::POST, "/replays/{id}/cancel", P::ManageReplays, None),
        route(
            M::POST,
            "/checkpoints",
            P::ManageReplays,
            Some(json!({"name": "c"})),
        ),
        route(M::GET, "/checkpoints", P::Read, None),
        route(M::GET, "/checkpoints/{id}", P::Read, None),
        route(
            M::POST,
            "/checkpoints/{id}/recover",
            P::ManageReplays,
            Some(json!({})),
        ),
        route(M::GET, "/inbox/{id}", P::Consume, None),
        route(
            M::POST,
            "/inbox/{id}/ack",
            P::Consume,
            Some(json!({"ids": ["msg_01J00000000000000000000000"]})),
        ),
        route(
            M::POST,
            "/inbox/{id}/nack",
            P::Consume,
            Some(json!({"ids": ["msg_01J00000000000000000000000"]})),
        ),
        route(M::GET, "/inbox/{id}/state", P::Read, None),
        route(M::GET, "/live", P::Read, None),
        route(M::GET, "/stats", P::Read, None),
    ]
}

/// Routes of `/api/v1` that take no API key: receivers call them, proving
/// who they are with their endpoint's secret.
pub(crate) const RECEIVER_ROUTES: [(&str, &str); 1] = [("POST", "/acks")];

/// An id of the right kind for the route (it names nothing: allowed callers get 404).
fn concrete(path: &str) -> String {
    let id = if path.starts_with("/api-keys") {
        ApiKeyId::nil().to_string()
    } else if path.starts_with("/endpoints") || path.starts_with("/inbox") {
        EndpointId::nil().to_string()
    } else if path.starts_with("/retry-policies") {
        RetryPolicyId::nil().to_string()
    } else if path.starts_with("/events") {
        EventId::nil().to_string()
    } else if path.starts_with("/dlq") {
        DlqEntryId::nil().to_string()
    } else if path.starts_with("/replays") {
        ReplayId::nil().to_string()
    } else {
        CheckpointId::nil().to_string()
    };
    // An event type's name: one that is not registered.
    format!(
        "/api/v1{}",
        path.replace("{id}", &id)
            .replace("{name}", "unregistered.type")
    )
}

#[tokio::test]
async fn every_api_route_admits_exactly_the_scopes_the_matrix_allows() {
    let server = TestServer::start().await;
    let routes = api_routes();

    let listed: BTreeSet<(String, String)> = routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let mut registered = crate::routes::api_v1();
    // Receivers prove themselves with the endpoint's secret, never a key:
    // `acks.rs` tries every way in.
    for (method, path) in RECEIVER_ROUTES {
        assert!(
            registered.remove(&(method.to_string(), path.to_string())),
            "{method} {path} is no longer served"
        );
    }
    assert_eq!(
        registered.len(),
        routes.len(),
        "the table lists a route twice"
    );
    assert_eq!(
        listed, registered,
        "every API route needs a row in this table (left: table, right: routers)"
    );

    let mut keys = Vec::new();
    for scope in Scope::ALL {
        keys.push((scope, server.api_key(scope).await));
    }
    let mut checked = 0;
    for r in &routes {
        let url = server.url(&concrete(r.path));
        let send = |key: Option<&str>| {
            let mut request = server.http.request(r.method.clone(), &url);
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            if let Some(body) = &r.body {
                request = request.json(body);
            }
            request.send()
        };
        let res = send(None).await.unwrap();
        assert_eq!(res.status(), 401, "{} {} without a key", r.method, r.path);
        for (scope, key) in &keys {
            let res = send(Some(key)).await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            if scope.allows(r.permission) {
                assert!(
                    status != 401 && status != 403,
                    "{} {} with scope {scope} ({}): allowed, got {status}: {text}",
                    r.method,
                    r.path,
                    r.permission
                );
            } else {
                assert_eq!(
                    status, 403,
                    "{} {} with scope {scope} ({}): denied, got {status}: {text}",
                    r.method, r.path, r.permission
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * Scope::ALL.len());
}

/// `(function, who may call it, a well-formed form body)`.
pub(crate) fn server_functions() -> Vec<(&'static str, Gate, String)> {
    use Gate::*;
    use Permission as P;
    let ep = EndpointId::nil();
    let endpoint_form = "form[url]=https%3A%2F%2F93.184.216.34%2Fhook&form[event_types]=a.*";
    vec![
        (
            "login",
            Public,
            "email=admin%40herald.test&password=it-admin-password".into(),
        ),
        ("logout", Session, String::new()),
        ("current_user", Session, String::new()),
        (
            "change_password",
            Session,
            "current=not-it&new_password=long-enough-1".into(),
        ),
        ("tenant_choice", Needs(P::Read), String::new()),
        ("switch_tenant", Needs(P::Read), "slug=default".into()),
        ("list_users", Needs(P::ManageUsers), String::new()),
        (
            "create_user",
            Needs(P::ManageUsers),
            "email=made%40x.test&role=viewer&tenant=&password=long-enough-1".into(),
        ),
        (
            "update_user",
            Needs(P::ManageUsers),
            format!("id={}&role=viewer&tenant=", UserId::nil()),
        ),
        (
            "delete_user",
            Needs(P::ManageUsers),
            format!("id={}", UserId::nil()),
        ),
        ("list_api_keys", Needs(P::ManageApiKeys), String::new()),
        (
            "create_api_key",
            Needs(P::ManageApiKeys),
            "name=k&scope=read".into(),
        ),
        (
            "revoke_api_key",
            Needs(P::ManageApiKeys),
            format!("id={}", ApiKeyId::nil()),
        ),
        ("list_audit", Needs(P::ReadAudit), "query=".into()),
        ("cluster_nodes", Needs(P::Read), String::new()),
        (
            "delivery_stats",
            Needs(P::Read),
            "range=1h&from=&to=&endpoint_id=".into(),
        ),
        ("api_reference", Public, String::new()),
        ("list_endpoints", Needs(P::Read), String::new()),
        ("get_endpoint", Needs(P::Read), format!("id={ep}")),
        ("recent_deliveries", Needs(P::Read), format!("id={ep}")),
        ("start_play", Needs(P::ManageEndpoints), String::new()),
        ("play_requests", Needs(P::Read), format!("endpoint_id={ep}")),
        (
            "create_endpoint",
            Needs(P::ManageEndpoints),
            endpoint_form.into(),
        ),
        (
            "update_endpoint",
            Needs(P::ManageEndpoints),
            format!("id={ep}&{endpoint_form}"),
        ),
        (
            "set_endpoint_enabled",
            Needs(P::ManageEndpoints),
            format!("id={ep}&enabled=true"),
        ),
        (
            "rotate_endpoint_secret",
            Needs(P::ManageEndpoints),
            format!("id={ep}"),
        ),
        (
            "send_test_event",
            Needs(P::SendTestEvent),
            format!("id={ep}"),
        ),
        (
            "test_filter",
            Needs(P::Read),
            "filter=%7B%7D&event_type=a.b".into(),
        ),
        (
            "test_transform",
            Needs(P::Read),
            "transform=.&event_type=a.b".into(),
        ),
        ("list_event_types", Needs(P::Read), String::new()),
        ("asyncapi_document", Needs(P::Read), String::new()),
        ("get_event_type", Needs(P::Read), "name=a.b".into()),
        (
            "check_schema_draft",
            Needs(P::Read),
            "name=&schema=%7B%7D&examples=".into(),
        ),
        (
            "register_event_type",
            Needs(P::ManageEndpoints),
            "form[name]=a.b".into(),
        ),
        (
            "update_event_type",
            Needs(P::ManageEndpoints),
            "name=a.b&description=d".into(),
        ),
        (
            "add_schema_version",
            Needs(P::ManageEndpoints),
            "name=a.b&schema=%7B%7D".into(),
        ),
        ("list_events", Needs(P::Read), "query=".into()),
        (
            "get_event",
            Needs(P::Read),
            format!("id={}", EventId::nil()),
        ),
        ("endpoint_choices", Needs(P::Read), String::new()),
        ("event_type_choices", Needs(P::Read), String::new()),
        (
            "resend_event",
            Needs(P::ManageReplays),
            format!("id={}&reason=r", EventId::nil()),
        ),
        ("list_retry_policies", Needs(P::Read), String::new()),
        (
            "save_retry_policy",
            Needs(P::ManageEndpoints),
            "form[name]=p&form[kind]=schedule&form[delays]=1&form[max_attempts]=3".into(),
        ),
        (
            "delete_retry_policy",
            Needs(P::ManageEndpoints),
            format!("id={}", RetryPolicyId::nil()),
        ),
        ("list_dlq", Needs(P::Read), "query=".into()),
        (
            "get_dlq_entry",
            Needs(P::Read),
            format!("id={}", DlqEntryId::nil()),
        ),
        (
            "reprocess_dlq",
            Needs(P::ManageDlq),
            "all=false&query=&reason=r".into(),
        ),
        (
            "discard_dlq",
            Needs(P::ManageDlq),
            format!("id={}&reason=r", DlqEntryId::nil()),
        ),
        ("list_replays", Needs(P::Read), String::new()),
        ("list_checkpoints", Needs(P::Read), String::new()),
        (
            "create_checkpoint",
            Needs(P::ManageReplays),
            "name=before".into(),
        ),
        (
            "preview_replay",
            Needs(P::ManageReplays),
            "form[reason]=r".into(),
        ),
        (
            "start_replay",
            Needs(P::ManageReplays),
            "form[max_events]=1&form[reason]=r".into(),
        ),
        (
            "control_replay",
            Needs(P::ManageReplays),
            format!("id={}&action=pause", ReplayId::nil()),
        ),
    ]
}

#[tokio::test]
async fn every_server_function_admits_exactly_the_roles_the_matrix_allows() {
    let server = TestServer::start_with(|c| c.login_rate_limit = 0).await;
    let functions = server_functions();

    let listed: BTreeSet<String> = functions
        .iter()
        .map(|(name, _, _)| format!("/fn/{name}"))
        .collect();
    assert_eq!(listed.len(), functions.len(), "a function is listed twice");
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_string())
        .collect();
    assert_eq!(
        listed, registered,
        "every server function needs a row in this table (left: table, right: registered)"
    );

    let password = "role-password-1";
    let mut sessions = Vec::new();
    for role in Role::ALL {
        let (email, password) = if role == Role::Admin {
            (ADMIN_EMAIL.to_string(), ADMIN_PASSWORD)
        } else {
            let email = format!("{role}@herald.test");
            server.create_user(&email, password, role).await;
            (email, password)
        };
        let cookie = server.sign_in(&email, password).await.unwrap();
        sessions.push((role, email, password, cookie));
    }

    let call = |name: &str, body: &str, cookie: Option<&str>| {
        let mut request = server
            .http
            .post(server.url(&format!("/fn/{name}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie.to_string());
        }
        request.send()
    };
    let mut checked = 0;
    for (name, gate, body) in &functions {
        let res = call(name, body, None).await.unwrap();
        let status = res.status().as_u16();
        match gate {
            Gate::Public => assert!(status != 401 && status != 403, "{name}: {status}"),
            _ => assert_eq!(status, 401, "{name} without a session"),
        }
        for (role, email, password, cookie) in &sessions {
            // Signing out ends the session: that call gets one of its own.
            let cookie = if *name == "logout" {
                server.sign_in(email, password).await.unwrap()
            } else {
                cookie.clone()
            };
            let res = call(name, body, Some(&cookie)).await.unwrap();
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            let allowed = match gate {
                Gate::Public | Gate::Session => true,
                Gate::Needs(p) => role.allows(*p),
            };
            if allowed {
                assert!(
                    status != 401 && status != 403,
                    "{name} as {role}: allowed, got {status}: {text}"
                );
            } else {
                assert_eq!(
                    status, 403,
                    "{name} as {role}: denied, got {status}: {text}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, functions.len() * Role::ALL.len());
}

/// The engine checks the matrix itself, whoever calls it: a viewer's or a
/// read-scoped key's change is refused there with a 403-kind error and
/// changes nothing, while an admin's and the command line's go through.
#[tokio::test]
async fn the_engine_refuses_a_change_the_actor_may_not_make() {
    use herald_engine::EngineError;
    use herald_engine::audit::AuditBy;
    use herald_engine::model::EndpointIn;
    let server = TestServer::start().await;
    let state = &server.running.state;
    let tenant = state
        .store
        .tenant_by_slug(herald_engine::store::DEFAULT_TENANT)
        .await
        .unwrap()
        .unwrap();
    let viewer = herald_engine::auth::register_user(
        state.store.as_ref(),
        &AuditBy::system(),
        "viewer@herald.test",
        "viewer-password".into(),
        Role::Viewer,
    )
    .await
    .unwrap();
    let input = || -> EndpointIn {
        serde_json::from_value(json!({"url": "https://example.com/hook", "event_types": ["*"]}))
            .unwrap()
    };
    let refused = [
        AuditBy::user(&viewer, None),
        AuditBy::key("key_test", Scope::Read, None),
    ];
    for by in &refused {
        let err = state
            .engine
            .create_endpoint(tenant.id, input(), by)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, EngineError::Forbidden { permission, .. } if permission == Permission::ManageEndpoints.as_str()),
            "{by:?}: {err}"
        );
        let err = herald_engine::auth::issue_api_key(
            state.store.as_ref(),
            by,
            tenant.id,
            "k",
            Scope::All,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, EngineError::Forbidden { .. }),
            "{by:?}: {err}"
        );
    }
    let listed = state
        .store
        .list_endpoints(tenant.id, None, 10)
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "a refused change went through");

    let admin = state
        .store
        .user_credentials(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap()
        .0;
    for by in [AuditBy::user(&admin, None), AuditBy::cli()] {
        state
            .engine
            .create_endpoint(tenant.id, input(), &by)
            .await
            .unwrap_or_else(|e| panic!("{by:?}: {e}"));
    }
}
