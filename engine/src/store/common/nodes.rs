//! Nodes: heartbeat rows, read by the dashboard and `/metrics`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::This;
use crate::Result;
use crate::model::NodeOut;
use crate::store::{Heartbeat, from_millis, to_millis};

type NodeRow = (String, String, i64, i64, i64, i64);

#[async_trait]
impl crate::store::NodeStore for This {
    fn node(&self) -> &str {
        &self.node
    }

    fn installation(&self) -> &str {
        &self.installation
    }

    async fn heartbeat(&self, beat: &Heartbeat, forget_before: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            r"insert into nodes (name, version, started_at, heartbeat_at, in_flight)
              values ($1, $2, $3, $4, $5)
              on conflict (name) do update
              set version = excluded.version, started_at = excluded.started_at,
                  heartbeat_at = excluded.heartbeat_at, in_flight = excluded.in_flight",
        )
        .bind(&self.node)
        .bind(&beat.version)
        .bind(to_millis(beat.started_at))
        .bind(to_millis(beat.now))
        .bind(i64::try_from(beat.in_flight).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        sqlx::query("delete from nodes where heartbeat_at < $1")
            .bind(to_millis(forget_before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn nodes(&self, alive_since: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<NodeOut>> {
        let rows: Vec<NodeRow> = sqlx::query_as(
            r"select n.name, n.version, n.started_at, n.heartbeat_at, n.in_flight,
                     (select count(*) from replay_jobs j
                      where j.lease_owner = n.name and j.lease_until >= $1
                        and j.state in ('pending', 'running')) as replays
              from nodes n order by n.name",
        )
        .bind(to_millis(now))
        .fetch_all(self.reader())
        .await?;
        let alive_since = to_millis(alive_since);
        Ok(rows
            .into_iter()
            .map(
                |(name, version, started, beat, in_flight, replays)| NodeOut {
                    name,
                    version,
                    started_at: from_millis(started),
                    heartbeat_at: from_millis(beat),
                    alive: beat >= alive_since,
                    in_flight: u64::try_from(in_flight).unwrap_or(0),
                    replays: u64::try_from(replays).unwrap_or(0),
                },
            )
            .collect())
    }

    async fn leave(&self) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("delete from nodes where name = $1")
            .bind(&self.node)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "update replay_jobs set lease_owner = null, lease_until = null where lease_owner = $1",
        )
        .bind(&self.node)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
