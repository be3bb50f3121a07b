//! Filtered, cursor-paginated task lists. Newest first, by id: ids are
//! time-ordered (UUID v7), so a page boundary never moves while new tasks
//! arrive, and paging never shows a task twice or skips one.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::error::Result;
use crate::domain::TaskStatus;
use crate::entities::{task, task_tag};

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    /// Template namespace.
    pub namespace: Option<String>,
    /// Template name.
    pub name: Option<String>,
    /// Template version.
    pub version: Option<String>,
    /// Any of these statuses (empty: all).
    pub statuses: Vec<TaskStatus>,
    /// Every one of these tags.
    pub tags: Vec<String>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    /// Text to look for: a task id, a correlation id, or part of the
    /// initiator (case-insensitive).
    pub search: Option<String>,
    /// Only tasks of these namespaces (what the caller may read); `None`: any.
    pub within_namespaces: Option<Vec<String>>,
}

/// The longest search text accepted.
pub const MAX_SEARCH_CHARS: usize = 256;

/// `text` as a LIKE pattern matching any value that contains it.
fn containing(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn matching(text: &str) -> Condition {
    let initiator = Expr::expr(Func::lower(Expr::col(task::Column::Initiator)))
        .like(LikeExpr::new(containing(text)).escape('\\'));
    let mut any = Condition::any()
        .add(initiator)
        .add(task::Column::CorrelationId.eq(text));
    if let Ok(id) = Uuid::try_parse(text) {
        any = any.add(task::Column::Id.eq(id));
    }
    any
}

/// A page request.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    /// `first` tasks after the cursor (older ones), newest first.
    Forward {
        /// Page size.
        first: u64,
        /// Exclusive cursor.
        after: Option<Uuid>,
    },
    /// `last` tasks before the cursor (newer ones), newest first.
    Backward {
        /// Page size.
        last: u64,
        /// Exclusive cursor.
        before: Option<Uuid>,
    },
}

/// A page of tasks.
#[derive(Debug, Clone)]
pub struct TaskPage {
    /// The tasks, newest first.
    pub tasks: Vec<task::Model>,
    /// More tasks exist after the page (older).
    pub has_next: bool,
    /// More tasks exist before the page (newer).
    pub has_previous: bool,
}

fn condition(query: &TaskQuery) -> Condition {
    let mut c = Condition::all();
    if let Some(ns) = &query.namespace {
        c = c.add(task::Column::Namespace.eq(ns));
    }
    if let Some(allowed) = &query.within_namespaces {
        c = c.add(task::Column::Namespace.is_in(allowed.iter().cloned()));
    }
    if let Some(name) = &query.name {
        c = c.add(task::Column::Name.eq(name));
    }
    if let Some(version) = &query.version {
        c = c.add(task::Column::Version.eq(version));
    }
    if !query.statuses.is_empty() {
        c = c.add(task::Column::Status.is_in(query.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(after) = query.created_after {
        c = c.add(task::Column::CreatedAt.gte(after));
    }
    if let Some(before) = query.created_before {
        c = c.add(task::Column::CreatedAt.lt(before));
    }
    if let Some(text) = query.search.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        c = c.add(matching(text));
    }
    let mut tags = query.tags.clone();
    tags.sort();
    tags.dedup();
    if !tags.is_empty() {
        let tagged = Query::select()
            .column(task_tag::Column::TaskId)
            .from(task_tag::Entity)
            .and_where(task_tag::Column::Tag.is_in(tags.clone()))
            .group_by_col(task_tag::Column::TaskId)
            .and_having(Expr::expr(Func::count(Expr::col(task_tag::Column::Tag))).eq(tags.len() as i64))
            .to_owned();
        c = c.add(task::Column::Id.in_subquery(tagged));
    }
    c
}

/// One page of the matching tasks.
pub async fn list_tasks(conn: &impl ConnectionTrait, query: &TaskQuery, page: Page) -> Result<TaskPage> {
    let base = task::Entity::find().filter(condition(query));
    match page {
        Page::Forward { first, after } => {
            let mut q = base.order_by_desc(task::Column::Id).limit(first + 1);
            if let Some(cursor) = after {
                q = q.filter(task::Column::Id.lt(cursor));
            }
            let mut tasks = q.all(conn).await?;
            let has_next = tasks.len() as u64 > first;
            tasks.truncate(first as usize);
            Ok(TaskPage {
                tasks,
                has_next,
                has_previous: after.is_some(),
            })
        }
        Page::Backward { last, before } => {
            let mut q = base.order_by_asc(task::Column::Id).limit(last + 1);
            if let Some(cursor) = before {
                q = q.filter(task::Column::Id.gt(cursor));
            }
            let mut tasks = q.all(conn).await?;
            let has_previous = tasks.len() as u64 > last;
            tasks.truncate(last as usize);
            tasks.reverse();
            Ok(TaskPage {
                tasks,
                has_next: before.is_some(),
                has_previous,
            })
        }
    }
}

/// How many tasks match (ignoring pagination).
pub async fn count_tasks(conn: &impl ConnectionTrait, query: &TaskQuery) -> Result<u64> {
    Ok(task::Entity::find().filter(condition(query)).count(conn).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_pattern_matches_the_text_literally_anywhere() {
        assert_eq!(containing("Ops-Bot"), "%ops-bot%");
        assert_eq!(containing("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
