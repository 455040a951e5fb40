//! Where events come from (`source`) and content filters on endpoints: at
//! fan-out, in replays, refused when wrong, and tried before they go live.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Api, status_and_body, until};
use crate::harness::TestServer;
use crate::receiver::{Received, Receiver};

/// An API error is about `field`: its message starts by naming it.
fn assert_names(out: &Value, field: &str) {
    let message = out["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("{field}: ")),
        "expected an error about {field}: {out}"
    );
}

/// The `n` of each request's body, sorted.
fn numbers(received: &[Received]) -> BTreeSet<i64> {
    received
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

/// Publishes `order.created` events numbered 0..10: even ones from the
/// shop, odd ones from the till; totals of n × 30.
async fn publish_orders(api: &Api<'_>) -> Vec<String> {
    let events: Vec<Value> = (0..10)
        .map(|n| {
            json!({
                "event_type": "order.created",
                "source": if n % 2 == 0 { "shop" } else { "till" },
                "payload": {"n": n, "total": n * 30, "items": [{"sku": format!("S{n}")}]},
            })
        })
        .collect();
    let (status, body) = status_and_body(
        api.post("/api/v1/events/batch", &json!({ "events": events }))
            .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    body["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_endpoint_filter_decides_which_events_it_is_sent() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let filtered = Receiver::ok().await;
    let everything = Receiver::ok().await;
    let filter = json!({"source": "shop", "payload.total": {"$gte": 100}});
    let (id, _) = api
        .endpoint(&filtered.url, &["order.*"], json!({ "filter": filter }))
        .await;
    api.endpoint(&everything.url, &["order.*"], json!({})).await;
    let shown = api.get(&format!("/api/v1/endpoints/{id}")).await;
    assert_eq!(shown["filter"], filter, "the filter is kept as given");

    let ids = publish_orders(&api).await;
    // Shop orders (even n) of at least 100 (n ≥ 4): 4, 6 and 8.
    let got = filtered.wait_for(3, Duration::from_secs(10)).await;
    everything.wait_for(10, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(numbers(&filtered.received()), BTreeSet::from([4, 6, 8]));
    assert_eq!(numbers(&got).len(), 3);
    assert_eq!(everything.received().len(), 10, "no filter: every event");
    // An event the filter turns away has no delivery to the endpoint at all.
    let detail = api.get(&format!("/api/v1/events/{}", ids[2])).await;
    let to: Vec<&str> = detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["endpoint_id"].as_str().unwrap())
        .collect();
    assert_eq!(to.len(), 1, "{detail:#}");
    assert_ne!(to[0], id);

    // A filter removed with null: the endpoint takes every event of its types again.
    let res = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/endpoints/{id}"),
            Some(&json!({"filter": null})),
        )
        .await;
    let (status, body) = status_and_body(res).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("filter").is_none(), "{body}");
    api.publish("order.created", json!({"n": 99, "total": 1}))
        .await;
    let all = filtered.wait_for(4, Duration::from_secs(10)).await;
    assert!(numbers(&all).contains(&99));
}

#[tokio::test]
async fn a_replay_sends_a_filtered_endpoint_only_the_events_it_matches() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    publish_orders(&api).await;
    // Registered after the events: only a replay can send them there.
    let receiver = Receiver::ok().await;
    let filter = json!({"$or": [{"source": "till", "payload.total": {"$lt": 100}},
                                {"payload.items.sku": {"$in": ["S8"]}}]});
    api.endpoint(&receiver.url, &["*"], json!({ "filter": filter }))
        .await;
    let (status, job) = status_and_body(
        api.post("/api/v1/replays", &json!({"rate_per_second": 1000}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{job}");
    let path = format!("/api/v1/replays/{}", job["id"].as_str().unwrap());
    let done = until(&api, &path, Duration::from_secs(20), |j| {
        j["state"] == "completed"
    })
    .await;
    assert_eq!(done["dispatched"], 10, "every event is looked at: {done}");
    assert_eq!(done["deliveries"], 3, "three match: {done}");
    // Till orders under 100 (n = 1, 3) and the order with sku S8.
    receiver.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(numbers(&receiver.received()), BTreeSet::from([1, 3, 8]));

    // A replay narrowed to one source takes only its events.
    let (status, preview) = status_and_body(
        api.post(
            "/api/v1/replays",
            &json!({"filter": {"source": "till"}, "dry_run": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["total"], 5, "{preview}");
}

#[tokio::test]
async fn a_bad_filter_is_refused_naming_its_place_and_changes_nothing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let cases = [
        (
            json!({"payload.total": {"$gt": {"a": 1}}}),
            "/payload.total/$gt",
        ),
        (
            json!({"$or": [{"source": "a"}, {"payload.x": {"$regex": "a"}}]}),
            "/$or/1/payload.x/$regex",
        ),
        (json!({"$and": {"source": "a"}}), "/$and"),
        (json!(["source"]), "a filter is a JSON object"),
    ];
    for (filter, named) in cases {
        let body =
            json!({"url": "https://hooks.example.com/a", "event_types": ["*"], "filter": filter});
        let (status, out) = status_and_body(api.post("/api/v1/endpoints", &body).await).await;
        assert_eq!(status, 422, "{filter}: {out}");
        assert_names(&out, "filter");
        let message = out["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{filter}: {message}");
    }
    let listed = api.get("/api/v1/endpoints").await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        0,
        "nothing was made"
    );

    let (id, _) = api
        .endpoint(
            "https://hooks.example.com/b",
            &["*"],
            json!({"filter": {"source": "shop"}}),
        )
        .await;
    let res = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/endpoints/{id}"),
            Some(&json!({"filter": {"source": {"$in": "shop"}}, "name": "changed"})),
        )
        .await;
    let (status, out) = status_and_body(res).await;
    assert_eq!(status, 422, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/source/$in"),
        "{out}"
    );
    let kept = api.get(&format!("/api/v1/endpoints/{id}")).await;
    assert_eq!(kept["filter"], json!({"source": "shop"}));
    assert_eq!(kept["name"], "", "a refused change changes nothing");
}

#[tokio::test]
async fn filter_test_says_whether_an_event_matches_and_why_not() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let ids = publish_orders(&api).await;
    let test = |body: Value| {
        let api = &api;
        async move { status_and_body(api.post("/api/v1/endpoints/filter-test", &body).await).await }
    };
    let filter = json!({"payload.total": {"$gte": 100}});

    // The newest order.created is n = 9: total 270.
    let (status, out) = test(json!({"filter": filter, "event_type": "order.created"})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["matches"], true, "{out}");
    assert_eq!(out["event_id"], ids[9].as_str());
    assert_eq!(out["document"]["source"], "till");

    let (status, out) = test(json!({"filter": filter, "event_id": ids[1]})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["matches"], false);
    let why = out["why"].as_str().unwrap();
    assert!(
        why.contains("/payload.total") && why.contains("30"),
        "{why}"
    );

    let event = json!({"event_type": "order.created", "payload": {"total": 5}, "source": "shop"});
    let (status, out) = test(json!({"filter": {"source": "shop"}, "event": event})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["matches"], true);
    assert!(out.get("event_id").is_none());

    // Wrong questions get 4xx naming what is wrong.
    let (status, out) = test(json!({"filter": {"x": {"$gt": []}}, "event_id": ids[0]})).await;
    assert_eq!(status, 422, "{out}");
    assert_names(&out, "filter");
    let (status, out) = test(json!({"filter": filter})).await;
    assert_eq!(status, 422, "{out}");
    assert_names(&out, "event");
    let (status, out) =
        test(json!({"filter": filter, "event_id": ids[0], "event_type": "order.created"})).await;
    assert_eq!(status, 422, "{out}");
    let bad_metadata = json!({"event_type": "a.b", "payload": {}, "metadata": [1]});
    let (status, out) = test(json!({"filter": filter, "event": bad_metadata})).await;
    assert_eq!(status, 422, "{out}");
    assert_names(&out, "event.metadata");
    let (status, out) = test(json!({"filter": filter, "event_type": "never.seen"})).await;
    assert_eq!(status, 404, "{out}");
}

#[tokio::test]
async fn events_carry_their_source_or_their_keys_default_and_filter_by_it() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    let (status, key) = status_and_body(
        api.post(
            "/api/v1/api-keys",
            &json!({"name": "billing publisher", "scope": "ingest", "default_source": "billing"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["default_source"], "billing");
    let billing = Api {
        server: &server,
        key: key["key"].as_str().unwrap().to_owned(),
    };
    let defaulted = billing.publish("invoice.paid", json!({"n": 1})).await;
    let named = {
        let (status, out) = status_and_body(
            billing
                .post(
                    "/api/v1/events",
                    &json!({"event_type": "invoice.paid", "payload": {"n": 2}, "source": "ledger/v2"}),
                )
                .await,
        )
        .await;
        assert_eq!(status, 202, "{out}");
        out["id"].as_str().unwrap().to_owned()
    };
    let unnamed = api.publish("invoice.paid", json!({"n": 3})).await;

    let source_of = |detail: &Value| detail["source"].clone();
    assert_eq!(
        source_of(&api.get(&format!("/api/v1/events/{defaulted}")).await),
        "billing"
    );
    assert_eq!(
        source_of(&api.get(&format!("/api/v1/events/{named}")).await),
        "ledger/v2"
    );
    assert_eq!(
        source_of(&api.get(&format!("/api/v1/events/{unnamed}")).await),
        Value::Null
    );

    let listed = api.get("/api/v1/events?source=billing").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["id"], defaulted.as_str());
    assert_eq!(items[0]["source"], "billing");

    for bad in ["", "has space", &"x".repeat(101)] {
        let (status, out) = status_and_body(
            api.post(
                "/api/v1/events",
                &json!({"event_type": "a.b", "payload": {}, "source": bad}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422, "{bad:?}: {out}");
        assert_names(&out, "source");
    }
    let (status, out) = status_and_body(
        api.post(
            "/api/v1/api-keys",
            &json!({"name": "k", "scope": "ingest", "default_source": "no spaces please"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{out}");
    assert_names(&out, "default_source");
    let (status, out) = status_and_body(
        api.post(
            "/api/v1/replays",
            &json!({"filter": {"source": "a b"}, "dry_run": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{out}");
    assert_names(&out, "filter.source");
}
