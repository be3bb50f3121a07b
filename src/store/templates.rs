//! Task templates and namespaces. Registration is atomic per
//! namespace/name/version: identical content is a no-op, different content is a
//! conflict unless `replace` is asked for. Tasks copy what they need from a
//! template at creation, so replacing one never changes a running task.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::error::{Error, Result};
use super::txn::{WriteTxn, insert_all};
use crate::domain::template::TaskTemplate;
use crate::entities::{namespace, step_template, task_template};

/// A template as stored.
#[derive(Debug, Clone)]
pub struct StoredTemplate {
    /// Row id (stable across `replace`).
    pub id: Uuid,
    /// The normalized template.
    pub template: TaskTemplate,
    /// Hash of its canonical form.
    pub content_hash: String,
    /// First registration.
    pub created_at: DateTime<Utc>,
    /// Last replacement.
    pub updated_at: DateTime<Utc>,
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// A new namespace/name/version.
    Created,
    /// The same content was already registered; nothing changed.
    Unchanged,
    /// Different content replaced the registered one (`replace: true`).
    Replaced,
}

fn to_stored(row: task_template::Model) -> Result<StoredTemplate> {
    let template: TaskTemplate = serde_json::from_value(row.definition).map_err(|e| {
        Error::corrupt(format!(
            "template {}/{}@{} definition: {e}",
            row.namespace, row.name, row.version
        ))
    })?;
    Ok(StoredTemplate {
        id: row.id,
        template,
        content_hash: row.content_hash,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Register (or replace) a validated template.
pub async fn register_template(
    tx: &mut WriteTxn,
    template: &TaskTemplate,
    replace: bool,
    now: DateTime<Utc>,
) -> Result<(StoredTemplate, Registration)> {
    let conn = tx.conn();
    namespace::Entity::insert(namespace::ActiveModel {
        name: Set(template.namespace.clone()),
        description: Set(None),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(namespace::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;

    let hash = template.content_hash();
    let definition = serde_json::to_value(template).map_err(|e| Error::corrupt(e.to_string()))?;
    let id = Uuid::now_v7();
    // Concurrent registrations of one key: the loser's insert waits for the winner
    // and then does nothing; it re-reads and compares below.
    let inserted = task_template::Entity::insert(task_template::ActiveModel {
        id: Set(id),
        namespace: Set(template.namespace.clone()),
        name: Set(template.name.clone()),
        version: Set(template.version.to_string()),
        description: Set(template.description.clone()),
        definition: Set(definition.clone()),
        content_hash: Set(hash.clone()),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([
            task_template::Column::Namespace,
            task_template::Column::Name,
            task_template::Column::Version,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    if inserted == 1 {
        insert_step_templates(conn, id, template).await?;
        let stored = StoredTemplate {
            id,
            template: template.clone(),
            content_hash: hash,
            created_at: now,
            updated_at: now,
        };
        return Ok((stored, Registration::Created));
    }

    let existing = task_template::Entity::find()
        .filter(task_template::Column::Namespace.eq(&template.namespace))
        .filter(task_template::Column::Name.eq(&template.name))
        .filter(task_template::Column::Version.eq(template.version.to_string()))
        .one(conn)
        .await?
        .ok_or_else(|| Error::corrupt("template vanished during registration"))?;
    if existing.content_hash == hash {
        return Ok((to_stored(existing)?, Registration::Unchanged));
    }
    if !replace {
        return Err(Error::Conflict {
            message: format!(
                "template {} is already registered with different content; bump its version or register with replace: true",
                template.full_name()
            ),
        });
    }
    task_template::Entity::update_many()
        .col_expr(task_template::Column::Definition, Expr::value(definition))
        .col_expr(task_template::Column::ContentHash, Expr::value(hash.clone()))
        .col_expr(
            task_template::Column::Description,
            Expr::value(template.description.clone()),
        )
        .col_expr(task_template::Column::UpdatedAt, Expr::value(now))
        .filter(task_template::Column::Id.eq(existing.id))
        .exec(conn)
        .await?;
    step_template::Entity::delete_many()
        .filter(step_template::Column::TaskTemplateId.eq(existing.id))
        .exec(conn)
        .await?;
    insert_step_templates(conn, existing.id, template).await?;
    let stored = StoredTemplate {
        id: existing.id,
        template: template.clone(),
        content_hash: hash,
        created_at: existing.created_at,
        updated_at: now,
    };
    Ok((stored, Registration::Replaced))
}

async fn insert_step_templates(
    conn: &impl ConnectionTrait,
    template_id: Uuid,
    template: &TaskTemplate,
) -> Result<()> {
    let rows = template
        .steps
        .iter()
        .enumerate()
        .map(|(position, step)| {
            Ok(step_template::ActiveModel {
                id: Set(Uuid::now_v7()),
                task_template_id: Set(template_id),
                position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
                name: Set(step.name.clone()),
                handler: Set(step.handler.clone()),
                external: Set(step.external),
                depends_on: Set(serde_json::json!(step.depends_on)),
                retryable: Set(step.retryable),
                retry: Set(serde_json::to_value(&step.retry).map_err(|e| Error::corrupt(e.to_string()))?),
                timeout_ms: Set(step.timeout_ms.map(|t| i64::try_from(t).unwrap_or(i64::MAX))),
                skippable: Set(step.skippable),
                config: Set(step.config.clone()),
                description: Set(step.description.clone()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    insert_all(conn, rows, 13).await
}

/// The template with this key; without a version, the highest semver.
pub async fn find_template(
    conn: &impl ConnectionTrait,
    namespace: &str,
    name: &str,
    version: Option<&str>,
) -> Result<Option<StoredTemplate>> {
    let mut query = task_template::Entity::find()
        .filter(task_template::Column::Namespace.eq(namespace))
        .filter(task_template::Column::Name.eq(name));
    if let Some(v) = version {
        query = query.filter(task_template::Column::Version.eq(v));
    }
    let rows = query.all(conn).await?;
    let best = rows.into_iter().max_by(|a, b| {
        let parse = |v: &str| semver::Version::parse(v).ok();
        parse(&a.version).cmp(&parse(&b.version))
    });
    best.map(to_stored).transpose()
}

/// The template with this row id.
pub async fn find_template_by_id(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<StoredTemplate>> {
    task_template::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(to_stored)
        .transpose()
}

/// Every template (optionally of one namespace), by namespace, name, then version.
pub async fn list_templates(
    conn: &impl ConnectionTrait,
    namespace: Option<&str>,
) -> Result<Vec<StoredTemplate>> {
    let mut query = task_template::Entity::find()
        .order_by_asc(task_template::Column::Namespace)
        .order_by_asc(task_template::Column::Name);
    if let Some(ns) = namespace {
        query = query.filter(task_template::Column::Namespace.eq(ns));
    }
    let mut stored = query
        .all(conn)
        .await?
        .into_iter()
        .map(to_stored)
        .collect::<Result<Vec<_>>>()?;
    stored.sort_by(|a, b| {
        (&a.template.namespace, &a.template.name, &a.template.version).cmp(&(
            &b.template.namespace,
            &b.template.name,
            &b.template.version,
        ))
    });
    Ok(stored)
}

#[derive(FromQueryResult)]
struct NamespaceCount {
    namespace: String,
    templates: i64,
}

/// Every namespace with its number of templates (all versions).
pub async fn list_namespaces(conn: &impl ConnectionTrait) -> Result<Vec<(String, u64)>> {
    let names: Vec<String> = namespace::Entity::find()
        .order_by_asc(namespace::Column::Name)
        .all(conn)
        .await?
        .into_iter()
        .map(|n| n.name)
        .collect();
    let counts = task_template::Entity::find()
        .select_only()
        .column_as(task_template::Column::Namespace, "namespace")
        .column_as(task_template::Column::Id.count(), "templates")
        .group_by(task_template::Column::Namespace)
        .into_model::<NamespaceCount>()
        .all(conn)
        .await?;
    Ok(names
        .into_iter()
        .map(|name| {
            let count = counts
                .iter()
                .find(|c| c.namespace == name)
                .map_or(0, |c| c.templates);
            (name, u64::try_from(count).unwrap_or(0))
        })
        .collect())
}
