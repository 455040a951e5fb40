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

/// Every change to what ingest checks moves the tenant's catalog revision;
/// a publish checked against an older one is refused whole, writing
/// nothing; what the check found is stored with the event and counted.
#[tokio::test]
async fn ingest_refuses_events_checked_against_an_old_catalog_and_keeps_what_the_check_found() {
    use crate::delivery::event;
    use herald_engine::model::{EventTypePatch, SchemaMode, SchemaProblem, TenantPatch};
    use herald_engine::store::{NewEvent, Publish};
    for b in backends().await {
        let t = default_tenant(&b).await;
        let now = Utc::now();
        let revision = || async { b.store.catalog_snapshot(t.id).await.unwrap().revision };
        let r0 = revision().await;
        b.store
            .create_event_type(t.id, ("order.created", "", false), now, &|_| None)
            .await
            .unwrap();
        let r1 = revision().await;
        b.store
            .add_schema_version(
                t.id,
                "order.created",
                &version(None, json!({"type": "object"}), false),
                &Actor("a".into()),
                now,
                &|_| None,
            )
            .await
            .unwrap();
        let r2 = revision().await;
        b.store
            .update_event_type(
                t.id,
                "order.created",
                &EventTypePatch {
                    deprecated: Some(true),
                    ..EventTypePatch::default()
                },
                now,
                &|_| None,
            )
            .await
            .unwrap()
            .unwrap();
        let r3 = revision().await;
        b.store
            .update_tenant(
                t.id,
                TenantPatch {
                    schema_mode: Some(SchemaMode::Warn),
                    ..TenantPatch::default()
                },
                &audit(),
            )
            .await
            .unwrap();
        let snapshot = b.store.catalog_snapshot(t.id).await.unwrap();
        assert!(
            r0 < r1 && r1 < r2 && r2 < r3 && r3 < snapshot.revision,
            "{}: {r0} {r1} {r2} {r3} {}",
            b.name,
            snapshot.revision
        );
        assert_eq!(snapshot.mode, SchemaMode::Warn, "{}", b.name);
        assert_eq!(snapshot.types[0].version, Some(1), "{}", b.name);
        assert!(snapshot.types[0].deprecated, "{}", b.name);

        let problem = SchemaProblem {
            pointer: "/amount".into(),
            keyword: "minimum".into(),
            message: "less than the minimum of 0".into(),
        };
        let checked = |revision| Publish {
            tenant: t.id,
            events: vec![NewEvent {
                schema_version: Some(1),
                schema_problems: vec![problem.clone()],
                ..event("order.created", None)
            }],
            now,
            audit: None,
            catalog_revision: Some(revision),
        };
        let answers = b.store.ingest_group(vec![checked(r3)]).await.unwrap();
        assert!(
            matches!(answers[0], Err(herald_engine::EngineError::CatalogChanged)),
            "{}: {:?}",
            b.name,
            answers[0]
        );
        assert!(
            b.store.event_types(t.id).await.unwrap().is_empty(),
            "{}: nothing written",
            b.name
        );
        let answers = b
            .store
            .ingest_group(vec![checked(snapshot.revision)])
            .await
            .unwrap();
        let made = answers[0]
            .as_ref()
            .expect("checked against the current catalog");
        let stored = b
            .store
            .event_detail(t.id, made[0].event().id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.event.schema_version, stored.event.schema_problems),
            (Some(1), vec![problem.clone()]),
            "{}",
            b.name
        );
        let counted = b.store.event_types(t.id).await.unwrap();
        assert_eq!(
            (counted[0].events, counted[0].schema_warnings),
            (1, 1),
            "{}",
            b.name
        );
        let recent = b
            .store
            .recent_payloads(t.id, "order.created", 10)
            .await
            .unwrap();
        assert_eq!(recent.len(), 1, "{}", b.name);

        // A clean event after the flagged one: the failures list shows the
        // flagged one only, with what was found and the version that found it.
        let clean = Publish {
            tenant: t.id,
            events: vec![NewEvent {
                schema_version: Some(1),
                ..event("order.created", None)
            }],
            now,
            audit: None,
            catalog_revision: Some(snapshot.revision),
        };
        let answers = b.store.ingest_group(vec![clean]).await.unwrap();
        assert!(answers[0].is_ok(), "{}: {:?}", b.name, answers[0]);
        let flagged = b
            .store
            .flagged_events(t.id, "order.created", 10)
            .await
            .unwrap();
        assert_eq!(flagged.len(), 1, "{}: {flagged:?}", b.name);
        assert_eq!(flagged[0].event_id, made[0].event().id, "{}", b.name);
        assert_eq!(
            (flagged[0].version, flagged[0].problems.clone()),
            (Some(1), vec![problem]),
            "{}",
            b.name
        );
        assert!(
            b.store
                .flagged_events(t.id, "order.paid", 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            b.name
        );
    }
}
