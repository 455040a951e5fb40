//! Helpers every backend's sqlx code shares: id-paged lists, list
//! conditions, one row by tenant and id.

use sqlx::QueryBuilder;

use super::{Db, DbPool, DbRow};
use crate::Result;

/// One page of rows in id order after the cursor `after`, the shape of every
/// id-paged list: `sql` selects with the tenant as `$1` (when `tenant` is
/// given; the cursor and the limit then follow), and ends in
/// `id > $n order by id limit $m`. Rows become items with `TryFrom`.
pub(super) async fn id_page<R, T>(
    pool: &DbPool,
    sql: &str,
    tenant: Option<crate::model::TenantId>,
    after: Option<String>,
    limit: u32,
    id_of: impl Fn(&T) -> String,
) -> Result<crate::model::Page<T>>
where
    R: for<'r> sqlx::FromRow<'r, DbRow> + Send + Unpin,
    T: TryFrom<R, Error = crate::EngineError>,
{
    let mut query = sqlx::query_as::<_, R>(sql);
    if let Some(tenant) = tenant {
        query = query.bind(tenant.to_string());
    }
    let rows = query
        .bind(after.unwrap_or_default())
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?;
    let items = rows
        .into_iter()
        .map(T::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(crate::store::page_of(items, limit, id_of))
}

/// A list's conditions, appended to a query that already has its `where`.
pub(super) struct Conditions<'q, 'a>(pub(super) &'q mut QueryBuilder<'a, Db>);

impl<'a> Conditions<'_, 'a> {
    /// `and <column> = value`, when there is a value.
    pub(super) fn eq<T>(&mut self, column: &str, value: Option<T>) -> &mut Self
    where
        T: 'a + sqlx::Encode<'a, Db> + sqlx::Type<Db> + Send,
    {
        if let Some(value) = value {
            self.0.push(format!(" and {column} = ")).push_bind(value);
        }
        self
    }

    /// `and <column> >= from and <column> < to` (times), each when given.
    pub(super) fn between(
        &mut self,
        column: &str,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> &mut Self {
        if let Some(from) = from {
            self.0
                .push(format!(" and {column} >= "))
                .push_bind(crate::store::to_millis(from));
        }
        if let Some(to) = to {
            self.0
                .push(format!(" and {column} < "))
                .push_bind(crate::store::to_millis(to));
        }
        self
    }

    /// `and <column> < cursor`: the page after the cursor, newest first.
    pub(super) fn before<T: ToString>(&mut self, column: &str, cursor: Option<T>) -> &mut Self {
        if let Some(cursor) = cursor {
            self.0
                .push(format!(" and {column} < "))
                .push_bind(cursor.to_string());
        }
        self
    }
}

/// The row `sql` selects with the tenant as `$1` and an id as `$2`, if any,
/// on a pool or inside a transaction.
pub(super) async fn row_by_id<'e, R>(
    pool: impl sqlx::Executor<'e, Database = Db>,
    sql: &'e str,
    tenant: crate::model::TenantId,
    id: impl ToString,
) -> Result<Option<R>>
where
    R: for<'r> sqlx::FromRow<'r, DbRow> + Send + Unpin,
{
    Ok(sqlx::query_as::<_, R>(sql)
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?)
}
