//! Filters on lists of ids. On PostgreSQL they bind one array (`= ANY($1)`), so a
//! statement's text, and with it the prepared statement and its plan, does not
//! change with the number of ids; an `IN ($1, …, $n)` list would be parsed and
//! planned anew for every new length.

use sea_orm::sea_query::{Expr, ExprTrait, PgFunc, SimpleExpr};
use sea_orm::{ColumnTrait, DbBackend};
use uuid::Uuid;

/// `column` is one of `ids`.
pub(crate) fn any_of<C: ColumnTrait>(
    backend: DbBackend,
    column: C,
    ids: impl IntoIterator<Item = Uuid>,
) -> SimpleExpr {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    match backend {
        DbBackend::Postgres => Expr::col(column.as_column_ref()).eq(PgFunc::any(Expr::val(ids))),
        _ => column.is_in(ids),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, QueryFilter, QueryTrait};

    use super::*;
    use crate::entities::task;

    #[test]
    fn postgres_binds_one_array_and_sqlite_a_list() {
        let ids = [Uuid::nil(), Uuid::max()];
        let pg = task::Entity::find()
            .filter(any_of(DbBackend::Postgres, task::Column::Id, ids))
            .build(DbBackend::Postgres);
        assert!(pg.sql.ends_with(r#"WHERE "task"."id" = ANY($1)"#), "{}", pg.sql);
        let lite = task::Entity::find()
            .filter(any_of(DbBackend::Sqlite, task::Column::Id, ids))
            .build(DbBackend::Sqlite);
        assert!(
            lite.sql.ends_with(r#"WHERE "task"."id" IN (?, ?)"#),
            "{}",
            lite.sql
        );
    }
}
