//! The destination guard: every internal address form refused, a name that
//! resolves to loopback, the allow-list, and redirects never followed.

use herald_engine::dispatch::guard::DestinationGuard;
use serde_json::{Value, json};
use std::time::Duration;

use crate::client::{Api, fast_policy, status_and_body};
use crate::harness::TestServer;
use crate::receiver::{Receiver, Reply};

fn no_allow_list(config: &mut herald_server::Config) {
    config.outbound_guard = DestinationGuard::default();
}

fn loopback_allowed(config: &mut herald_server::Config) {
    config.outbound_guard =
        DestinationGuard::new(DestinationGuard::parse_allow_list("127.0.0.0/8").unwrap());
}

/// The port of a receiver's URL.
fn port_of(receiver: &Receiver) -> u16 {
    receiver
        .url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("receiver URL has a port")
}

/// Creates one endpoint per URL (patterns: every type), publishes one event,
/// and waits until every delivery has an attempt; returns the event detail.
async fn deliver_to(api: &Api<'_>, urls: &[String]) -> Value {
    for url in urls {
        api.endpoint(url, &["*"], json!({"retry_policy": fast_policy(3)}))
            .await;
    }
    let event = api.publish("guard.check", json!({"n": 1})).await;
    api.event_until(&event, Duration::from_secs(20), |d| {
        let deliveries = d["deliveries"].as_array().unwrap();
        deliveries.len() == urls.len()
            && deliveries
                .iter()
                .all(|d| !d["attempt_log"].as_array().unwrap().is_empty())
    })
    .await
}

#[tokio::test]
async fn internal_destinations_are_refused_in_every_form_and_never_retried() {
    let server = TestServer::start_with(no_allow_list).await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let port = port_of(&receiver);
    let urls: Vec<String> = [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://[::ffff:0:127.0.0.1]:{port}/hook"),
        format!("http://[64:ff9b::7f00:1]:{port}/hook"),
        format!("http://[2002:7f00:1::1]:{port}/hook"),
        format!("http://0.0.0.0:{port}/hook"),
        // Paths that look like a play inbox's but name none: ordinary
        // endpoints, held to the guard like any other.
        format!("http://127.0.0.1:{port}/play/ply_not-an-inbox"),
        format!(
            "http://127.0.0.1:{port}/play/{}/hook",
            herald_engine::model::PlayInboxId::new()
        ),
        "http://10.0.0.1/hook".into(),
        "http://172.16.5.4/hook".into(),
        "http://192.168.1.1/hook".into(),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://100.64.0.1/hook".into(),
        "http://[fd00::1]/hook".into(),
        "http://[fe80::1]/hook".into(),
        "http://224.0.0.1/hook".into(),
        "http://[ff02::1]/hook".into(),
    ]
    .into();
    let detail = deliver_to(&api, &urls).await;
    for d in detail["deliveries"].as_array().unwrap() {
        let log = d["attempt_log"].as_array().unwrap();
        assert_eq!(log.len(), 1, "refused once, never retried: {d:#}");
        assert_eq!(log[0]["error_class"], "blocked_destination", "{d:#}");
        assert_eq!(d["state"], "dead", "{d:#}");
        assert!(
            log[0]["error_message"]
                .as_str()
                .unwrap()
                .contains("HERALD_OUTBOUND_ALLOW_CIDRS"),
            "{d:#}"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );

    // Saving an endpoint whose name resolves to loopback warns, and saves,
    // without saying which internal address the name leads to.
    let res = api
        .post(
            "/api/v1/endpoints",
            &json!({"url": format!("http://localhost:{port}/x"), "event_types": ["none"]}),
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 201, "{body}");
    let warnings = body["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("'localhost' resolves to an address Herald does not deliver to")),
        "{body}"
    );
    for leak in ["127.0.0.1", "::1", "loopback"] {
        assert!(
            !body.to_string().contains(leak),
            "the warning reveals '{leak}': {body}"
        );
    }
    // A literal internal address is named: the caller typed it.
    let res = api
        .post(
            "/api/v1/endpoints",
            &json!({"url": format!("http://[::ffff:0:127.0.0.1]:{port}/x"), "event_types": ["none"]}),
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("loopback")),
        "the IPv4-translated form is classified: {body}"
    );
    // A public address raises no warning.
    let res = api
        .post(
            "/api/v1/endpoints",
            &json!({"url": "https://93.184.216.34/hook", "event_types": ["none"]}),
        )
        .await;
    let (_, body) = status_and_body(res).await;
    assert!(body.get("warnings").is_none(), "{body}");
}

#[tokio::test]
async fn the_allow_list_lets_loopback_through_and_redirects_are_never_followed() {
    let server = TestServer::start_with(loopback_allowed).await;
    let api = Api::new(&server).await;
    let receiver = Receiver::ok().await;
    let port = port_of(&receiver);
    let urls: Vec<String> = vec![
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
    ];
    let detail = deliver_to(&api, &urls).await;
    // Every one gets through (on a loaded machine a first attempt may time
    // out and be retried; what matters is that the guard lets it through).
    let event = detail["id"].as_str().unwrap().to_owned();
    api.event_until(&event, Duration::from_secs(20), |d| {
        d["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["state"] == "succeeded")
    })
    .await;
    receiver.wait_for(3, Duration::from_secs(5)).await;

    // A receiver that redirects to an internal address: the redirect is its
    // answer, and the address it names is never contacted.
    let inner = Receiver::ok().await;
    let redirecting = Receiver::start(
        Vec::new(),
        Reply::Redirect(format!("http://127.0.0.1:{}/admin", port_of(&inner))),
    )
    .await;
    let (endpoint, _) = api
        .endpoint(
            &redirecting.url,
            &["redirect.*"],
            json!({"retry_policy": fast_policy(1)}),
        )
        .await;
    let event = api.publish("redirect.check", json!({})).await;
    let to_redirecting = |d: &Value| {
        d["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["endpoint_id"] == endpoint.as_str())
            .cloned()
            .unwrap()
    };
    let detail = api
        .event_until(&event, Duration::from_secs(20), |d| {
            to_redirecting(d)["state"] == "dead"
        })
        .await;
    let delivery = to_redirecting(&detail);
    let attempt = &delivery["attempt_log"][0];
    assert_eq!(attempt["response_status"], 302, "{delivery:#}");
    assert!(
        attempt["error_message"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    assert_eq!(redirecting.received().len(), 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(inner.received().is_empty(), "the redirect was not followed");
}

#[tokio::test]
async fn without_the_allow_list_a_redirecting_receiver_on_loopback_is_not_reached() {
    let server = TestServer::start_with(no_allow_list).await;
    let api = Api::new(&server).await;
    let inner = Receiver::ok().await;
    let redirecting = Receiver::start(
        Vec::new(),
        Reply::Redirect(format!("http://127.0.0.1:{}/admin", port_of(&inner))),
    )
    .await;
    let detail = deliver_to(&api, std::slice::from_ref(&redirecting.url)).await;
    assert_eq!(
        detail["deliveries"][0]["attempt_log"][0]["error_class"],
        "blocked_destination"
    );
    assert!(redirecting.received().is_empty() && inner.received().is_empty());
}
