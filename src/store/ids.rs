//! Filters on lists of ids that bind one value whatever the number of ids, so a
//! statement's text, and with it the prepared statement and its plan, does not
//! change with the length of the list; an `IN ($1, …, $n)` list would be parsed
//! and planned anew for every new length (on SQLite that re-preparing was about
//! a tenth of the engine's CPU). PostgreSQL binds an array (`= ANY($1)`);
//! SQLite, whose UUIDs are 16-byte blobs, a JSON array of hex strings.

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
        _ => {
            let hex: Vec<String> = ids.iter().map(|id| id.simple().to_string()).collect();
            Expr::cust_with_exprs(
                // SQLite's builder fills `?` marks in order.
                "? IN (SELECT unhex(value) FROM json_each(?))",
                [
                    Expr::col(column.as_column_ref()),
                    Expr::val(serde_json::Value::from(hex).to_string()),
                ],
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, QueryFilter, QueryTrait};

    use super::*;
    use crate::entities::task;

    #[test]
    fn both_backends_bind_one_value_for_the_whole_list() {
        let ids = [Uuid::nil(), Uuid::max()];
        let pg = task::Entity::find()
            .filter(any_of(DbBackend::Postgres, task::Column::Id, ids))
            .build(DbBackend::Postgres);
        assert!(pg.sql.ends_with(r#"WHERE "task"."id" = ANY($1)"#), "{}", pg.sql);
        let lite = task::Entity::find()
            .filter(any_of(DbBackend::Sqlite, task::Column::Id, ids))
            .build(DbBackend::Sqlite);
        assert!(
            lite.sql
                .ends_with(r#"WHERE "task"."id" IN (SELECT unhex(value) FROM json_each(?))"#),
            "{}",
            lite.sql
        );
        let one = task::Entity::find()
            .filter(any_of(DbBackend::Sqlite, task::Column::Id, [Uuid::nil()]))
            .build(DbBackend::Sqlite);
        assert_eq!(one.sql, lite.sql, "the text does not depend on the count");
    }
}
