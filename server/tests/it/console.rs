use herald_engine::model::Role;
use serde_json::Value;

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};

#[tokio::test]
async fn console_pages_redirect_to_sign_in_and_keep_the_target() {
    let server = TestServer::start().await;
    let res = server
        .http
        .get(server.url("/events?type=order.created"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(
        res.headers()["location"],
        "/login?next=/events%3Ftype%3Dorder.created"
    );

    let res = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/login");

    // The sign-in page itself is public and server-rendered.
    let res = server.http.get(server.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign in"), "{html}");
}

#[tokio::test]
async fn server_functions_need_a_session() {
    let server = TestServer::start().await;
    let res = server
        .http
        .post(server.url("/fn/list_users"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
}

#[tokio::test]
async fn a_wrong_password_does_not_sign_in() {
    let server = TestServer::start().await;
    let res = server
        .sign_in(ADMIN_EMAIL, "wrong-password")
        .await
        .unwrap_err();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_credentials");

    // An unknown email answers exactly the same way.
    let res = server
        .sign_in("nobody@herald.test", "wrong-password")
        .await
        .unwrap_err();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["code"],
        "invalid_credentials"
    );
}

#[tokio::test]
async fn a_viewer_calling_an_admin_only_server_function_is_refused() {
    let server = TestServer::start().await;
    server
        .create_user("viewer@herald.test", "viewer-password", Role::Viewer)
        .await;
    let viewer = server
        .sign_in("viewer@herald.test", "viewer-password")
        .await
        .expect("viewer signs in");

    let res = server.console_call(&viewer, "list_users", &[]).await;
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "forbidden");
    assert_eq!(body["role"], "viewer");
    assert_eq!(body["permission"], "manage_users");

    // The same function works for the admin, so the refusal is about the role.
    let admin = server
        .sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect("admin signs in");
    let res = server.console_call(&admin, "list_users", &[]).await;
    assert_eq!(res.status(), 200);
    let users: Value = res.json().await.unwrap();
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [ADMIN_EMAIL, "viewer@herald.test"]);
    assert!(
        !users.to_string().contains("argon2"),
        "no password hashes leave the server"
    );
}

#[tokio::test]
async fn every_role_other_than_admin_is_refused_user_management() {
    let server = TestServer::start().await;
    for role in [Role::Operator, Role::Support, Role::Developer, Role::Viewer] {
        let email = format!("{role}@herald.test");
        server.create_user(&email, "role-password", role).await;
        let cookie = server
            .sign_in(&email, "role-password")
            .await
            .expect("signs in");
        let res = server.console_call(&cookie, "list_users", &[]).await;
        assert_eq!(res.status(), 403, "{role}");
    }
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let server = TestServer::start().await;
    let cookie = server
        .sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect("signs in");
    let me: Value = server
        .console_call(&cookie, "current_user", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["role"], "admin");

    let res = server.console_call(&cookie, "logout", &[]).await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    let cleared = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("herald_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );

    // The old cookie no longer opens anything.
    let res = server.console_call(&cookie, "current_user", &[]).await;
    assert_eq!(res.status(), 401);
    let res = server.console_page(&cookie, "/settings").await;
    assert!(res.status().is_redirection());
}

#[tokio::test]
async fn the_signed_in_shell_renders_on_the_server() {
    // This test once stalled for minutes in a full run (not reproduced since):
    // each step is bounded so that a stall fails here, naming the step.
    let within = std::time::Duration::from_secs(30);
    let server = tokio::time::timeout(within, TestServer::start())
        .await
        .expect("starting the server within 30 s");
    let cookie = tokio::time::timeout(within, server.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD))
        .await
        .expect("signing in within 30 s")
        .expect("signs in");
    let res = tokio::time::timeout(
        within,
        server
            .http
            .get(server.url("/"))
            .header("cookie", &cookie)
            .send(),
    )
    .await
    .expect("the dashboard's answer within 30 s")
    .unwrap();
    assert_eq!(res.status(), 200);
    let html = tokio::time::timeout(within, res.text())
        .await
        .expect("reading the dashboard's body within 30 s")
        .unwrap();
    for section in [
        "Dashboard",
        "Endpoints",
        "Events",
        "DLQ",
        "Replays",
        "Settings",
    ] {
        assert!(
            html.contains(&format!(">{section}</a>")),
            "nav lacks {section}"
        );
    }
    assert!(html.contains(ADMIN_EMAIL));
    assert!(
        html.contains("/pkg/herald.wasm") || html.contains("/pkg/herald.js"),
        "hydration scripts are linked"
    );
}

#[tokio::test]
async fn a_live_socket_opened_with_a_session_closes_when_the_session_ends() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let server = TestServer::start().await;
    let cookie = server
        .sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect("signs in");
    let mut request = server
        .url("/api/v1/live")
        .replacen("http", "ws", 1)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", cookie.parse().unwrap());
    request
        .headers_mut()
        .insert("origin", server.base.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let res = server.console_call(&cookie, "logout", &[]).await;
    assert!(res.status().is_success() || res.status().is_redirection());

    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => {}
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("the socket closes within 10 s of signing out")
    .expect("a close frame with a reason");
    assert_eq!(u16::from(closed.code), 4001);
    assert!(closed.reason.contains("session"), "{}", closed.reason);
}
