//! The event catalog: registered types and their schema versions, as every
//! backend must keep them.

use super::*;
use herald_engine::store::{Actor, NewSchemaVersion};
use serde_json::json;

fn version(after: Option<u32>, schema: serde_json::Value, breaking: bool) -> NewSchemaVersion {
    NewSchemaVersion {
        after,
        schema,
        examples: vec![json!({"id": "ord_1"})],
        breaking,
    }
}

#[tokio::test]
async fn a_type_keeps_every_schema_version_and_the_newest_is_current() {
    for b in backends().await {
        let t = default_tenant(&b).await;
        let now = Utc::now();
        let actor = Actor("user admin@example.com".into());
        let made = b
            .store
            .create_event_type(
                t.id,
                ("order.created", "An order was placed", false),
                now,
                &|_| Some(audit()),
            )
            .await
            .unwrap();
        assert_eq!(
            (made.version, made.schema.clone()),
            (None, None),
            "{}",
            b.name
        );
        let again = b
            .store
            .create_event_type(t.id, ("order.created", "", false), now, &|_| None)
            .await
            .expect_err("registered twice");
        assert!(
            matches!(again, herald_engine::EngineError::Conflict { .. }),
            "{}: {again:?}",
            b.name
        );

        let v1 = json!({"type": "object", "required": ["id"]});
        let first = b
            .store
            .add_schema_version(
                t.id,
                "order.created",
                &version(None, v1.clone(), false),
                &actor,
                now,
                &|_| Some(audit()),
            )
            .await
            .unwrap();
        assert_eq!(first.version, 1, "{}", b.name);
        // Checked against no schema while version 1 is there: refused.
        let stale = b
            .store
            .add_schema_version(
                t.id,
                "order.created",
                &version(None, json!(true), false),
                &actor,
                now,
                &|_| None,
            )
            .await
            .expect_err("a stale expected version");
        assert!(
            matches!(stale, herald_engine::EngineError::Conflict { .. }),
            "{}: {stale:?}",
            b.name
        );
        let v2 = json!({"type": "object", "required": ["id", "amount"]});
        let second = b
            .store
            .add_schema_version(
                t.id,
                "order.created",
                &version(Some(1), v2.clone(), true),
                &actor,
                now,
                &|_| None,
            )
            .await
            .unwrap();
        assert_eq!((second.version, second.breaking), (2, true), "{}", b.name);

        let current = b
            .store
            .event_type(t.id, "order.created")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(current.version, Some(2), "{}", b.name);
        assert_eq!(current.schema, Some(v2.clone()), "{}", b.name);
        assert_eq!(current.examples, vec![json!({"id": "ord_1"})], "{}", b.name);
        assert_eq!(current.description, "An order was placed", "{}", b.name);
        let history = b
            .store
            .schema_versions(t.id, "order.created")
            .await
            .unwrap();
        let schemas: Vec<(u32, serde_json::Value, String)> = history
            .into_iter()
            .map(|v| (v.version, v.schema, v.created_by))
            .collect();
        assert_eq!(
            schemas,
            vec![(1, v1, actor.0.clone()), (2, v2, actor.0.clone())],
            "{}",
            b.name
        );

        // An unregistered type has no versions to add to.
        let missing = b
            .store
            .add_schema_version(
                t.id,
                "order.paid",
                &version(None, json!(true), false),
                &actor,
                now,
                &|_| None,
            )
            .await
            .expect_err("not registered");
        assert!(
            matches!(missing, herald_engine::EngineError::NotFound { .. }),
            "{}: {missing:?}",
            b.name
        );
        b.store
            .create_event_type(t.id, ("invoice.paid", "", true), now, &|_| None)
            .await
            .unwrap();
        let names: Vec<(String, Option<u32>, bool)> = b
            .store
            .registered_event_types(t.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.version, e.deprecated))
            .collect();
        assert_eq!(
            names,
            vec![
                ("invoice.paid".to_string(), None, true),
                ("order.created".to_string(), Some(2), false)
            ],
            "{}",
            b.name
        );

        // Another tenant's catalog is its own.
        let other = b
            .store
            .ensure_tenant("catalog-other", "Other")
            .await
            .unwrap();
        assert!(
            b.store
                .registered_event_types(other.id)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            b.name
        );
        assert!(
            b.store
                .event_type(other.id, "order.created")
                .await
                .unwrap()
                .is_none(),
            "{}",
            b.name
        );
        b.store
            .create_event_type(other.id, ("order.created", "", false), now, &|_| None)
            .await
            .expect("the same name in another tenant");
    }
}
