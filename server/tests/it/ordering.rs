//! Ordered delivery end to end: a receiver sees each stream's events
//! strictly in sequence, each only after the one before it was answered
//! with success, while other streams keep flowing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::client::{Api, fast_policy};
use crate::harness::TestServer;
use crate::receiver::{Received, Receiver, Reply};

/// The `(key, n)` a request's body carries.
fn key_and_n(body: &[u8]) -> (String, u64) {
    let v: Value = serde_json::from_slice(body).unwrap();
    (
        v["key"].as_str().unwrap().to_owned(),
        v["n"].as_u64().unwrap(),
    )
}

async fn publish(api: &Api<'_>, key: &str, n: u64) {
    let res = api
        .post(
            "/api/v1/events",
            &json!({"event_type": "order.updated", "payload": {"key": key, "n": n}, "ordering_key": key}),
        )
        .await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
}

/// The positions, in arrival order, of the requests of stream `key`.
fn of_key(got: &[Received], key: &str) -> Vec<usize> {
    (0..got.len())
        .filter(|&i| key_and_n(&got[i].body).0 == key)
        .collect()
}

/// Asserts that every request of `key` arrived after the one before it had
/// been answered: never two of a stream on the wire at once.
fn one_at_a_time(receiver: &Receiver, key: &str) {
    let (got, answered) = (receiver.received(), receiver.answered_at());
    let mine = of_key(&got, key);
    for pair in mine.windows(2) {
        let before: Instant = answered[pair[0]].expect("every request was answered");
        assert!(
            got[pair[1]].at >= before,
            "{key}: request {} arrived before request {} was answered",
            key_and_n(&got[pair[1]].body).1,
            key_and_n(&got[pair[0]].body).1
        );
    }
}

async fn wait_until(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_key_waits_for_each_success_while_other_keys_keep_flowing() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    // The third event of A fails twice, then succeeds.
    let receiver = Receiver::judging(
        |body, earlier| {
            let this = key_and_n(body);
            let tries = earlier
                .iter()
                .filter(|r| key_and_n(&r.body) == this)
                .count();
            (this == ("A".to_owned(), 3) && tries < 2).then_some(Reply::Status(500))
        },
        Reply::Status(200),
    )
    .await;
    api.endpoint(
        &receiver.url,
        &["*"],
        json!({"ordering": "key", "retry_policy": fast_policy(5)}),
    )
    .await;
    for n in 1..=5 {
        publish(&api, "A", n).await;
    }
    let a3 = |got: &[Received]| {
        got.iter()
            .filter(|r| key_and_n(&r.body) == ("A".to_owned(), 3))
            .count()
    };
    wait_until(
        "A's third event to fail once",
        Duration::from_secs(10),
        || a3(&receiver.received()) >= 1,
    )
    .await;
    for n in 1..=5 {
        publish(&api, "B", n).await;
    }
    receiver.wait_for(12, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 12, "5 of B, 5 of A and A's two retries");

    let sequence = |key: &str| -> Vec<u64> {
        of_key(&got, key)
            .into_iter()
            .map(|i| key_and_n(&got[i].body).1)
            .collect()
    };
    assert_eq!(
        sequence("A"),
        [1, 2, 3, 3, 3, 4, 5],
        "A strictly in sequence"
    );
    assert_eq!(sequence("B"), [1, 2, 3, 4, 5], "B in sequence");
    one_at_a_time(&receiver, "A");
    one_at_a_time(&receiver, "B");
    // B went through while A waited for its retries.
    let last_b = *of_key(&got, "B").last().unwrap();
    let a3_success = of_key(&got, "A")[4];
    assert!(
        last_b < a3_success,
        "B's events arrived while A's third event was failing"
    );
}

#[tokio::test]
async fn a_dead_event_blocks_its_key_until_it_is_discarded() {
    let server = TestServer::start().await;
    let api = Api::new(&server).await;
    // The second event of A always fails: with two attempts it dies.
    let receiver = Receiver::judging(
        |body, _| (key_and_n(body) == ("A".to_owned(), 2)).then_some(Reply::Status(500)),
        Reply::Status(200),
    )
    .await;
    let (endpoint, _) = api
        .endpoint(
            &receiver.url,
            &["*"],
            json!({"ordering": "key", "on_dead": "block", "retry_policy": fast_policy(2)}),
        )
        .await;
    for n in 1..=3 {
        publish(&api, "A", n).await;
    }
    publish(&api, "B", 1).await;
    let blocked_path = format!("/api/v1/endpoints/{endpoint}/blocked-streams");
    let deadline = Instant::now() + Duration::from_secs(15);
    let blocked = loop {
        let list = api.get(&blocked_path).await;
        if list.as_array().is_some_and(|l| !l.is_empty()) {
            break list;
        }
        assert!(Instant::now() < deadline, "A never showed as blocked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(blocked[0]["stream"], "A");
    assert_eq!(blocked[0]["waiting"], 1, "A's third event waits behind it");
    // Blocked, and staying blocked: A's third event is not sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.received();
    let sent: Vec<(String, u64)> = got.iter().map(|r| key_and_n(&r.body)).collect();
    assert!(!sent.contains(&("A".to_owned(), 3)), "{sent:?}");
    assert!(sent.contains(&("B".to_owned(), 1)), "B is not blocked");
    let endpoint_page = api.get(&format!("/api/v1/endpoints/{endpoint}")).await;
    assert_eq!(endpoint_page["ordering"], "key");

    let entry = blocked[0]["dlq_entry_id"].as_str().unwrap();
    let res = api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/dlq/{entry}"),
            Some(&json!({"reason": "not needed"})),
        )
        .await;
    assert_eq!(res.status(), 204);
    wait_until(
        "A's third event after the discard",
        Duration::from_secs(10),
        || {
            receiver
                .received()
                .iter()
                .any(|r| key_and_n(&r.body) == ("A".to_owned(), 3))
        },
    )
    .await;
    assert!(
        api.get(&blocked_path).await.as_array().unwrap().is_empty(),
        "nothing is blocked any more"
    );
    one_at_a_time(&receiver, "A");
}
