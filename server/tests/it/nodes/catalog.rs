//! A catalog change made through one node holds at once on the others:
//! each node checks events against its cached catalog, and the commit
//! refuses a check made against a revision the database has moved past.

use serde_json::json;

use super::Cluster;

#[tokio::test]
async fn a_schema_enforced_through_one_node_holds_at_once_on_another() {
    let cluster = Cluster::start(2, None).await;
    let bad = json!({"event_type": "order.created", "payload": {"amount": "twelve"}});
    // Node 1 publishes first: it has read (and cached) the catalog as it
    // was, with no schema and schema_mode off.
    let (status, body) = cluster.post(1, "/api/v1/events", &bad).await;
    assert_eq!(status, 202, "{body}");

    let schema = json!({"type": "object", "required": ["amount"],
                        "properties": {"amount": {"type": "number"}}});
    let (status, body) = cluster
        .post(
            0,
            "/api/v1/event-types",
            &json!({"name": "order.created", "schema": schema}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let res = cluster
        .http
        .patch(cluster.nodes[0].url("/api/v1/tenant"))
        .bearer_auth(&cluster.key)
        .json(&json!({"schema_mode": "enforce"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Node 1's next publish is checked against the new catalog.
    let (status, body) = cluster.post(1, "/api/v1/events", &bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["problems"][0]["pointer"], "/amount", "{body}");
    let (status, body) = cluster
        .post(
            1,
            "/api/v1/events",
            &json!({"event_type": "order.created", "payload": {"amount": 12}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}
