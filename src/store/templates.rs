//! Task templates and namespaces. Registration is atomic per
//! namespace/name/version: identical content is a no-op, different content is a
//! conflict unless `replace` is asked for. Tasks copy what they need from a
//! template at creation, so replacing one never changes a running task.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
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
    /// The normalized template (shared: parsed copies are cached).
    pub template: Arc<TaskTemplate>,
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

/// What identifies a stored template, without its definition: enough to
/// list templates and to tell whether a parsed copy is still current.
#[derive(Debug, Clone, FromQueryResult)]
pub struct TemplateHeader {
    /// Row id (stable across `replace`).
    pub id: Uuid,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Hash of the canonical definition.
    pub content_hash: String,
    /// First registration.
    pub created_at: DateTime<Utc>,
    /// Last replacement.
    pub updated_at: DateTime<Utc>,
}

#[derive(FromQueryResult)]
struct DefinitionRow {
    id: Uuid,
    definition: String,
}

/// Template headers, optionally of one namespace and name (and version), by
/// namespace, name, then version (highest semver last).
pub async fn template_headers(
    conn: &impl ConnectionTrait,
    namespace: Option<&str>,
    name: Option<&str>,
    version: Option<&str>,
) -> Result<Vec<TemplateHeader>> {
    use task_template::Column as C;
    let mut query = task_template::Entity::find().select_only().columns([
        C::Id,
        C::Namespace,
        C::Name,
        C::Version,
        C::ContentHash,
        C::CreatedAt,
        C::UpdatedAt,
    ]);
    for (column, value) in [(C::Namespace, namespace), (C::Name, name), (C::Version, version)] {
        if let Some(value) = value {
            query = query.filter(column.eq(value));
        }
    }
    let mut headers = query.into_model::<TemplateHeader>().all(conn).await?;
    let semver = |v: &str| semver::Version::parse(v).ok();
    headers.sort_by(|a, b| {
        (&a.namespace, &a.name, semver(&a.version)).cmp(&(&b.namespace, &b.name, semver(&b.version)))
    });
    Ok(headers)
}

/// The definitions of these template rows, parsed (ids not found are left out).
pub async fn template_definitions(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, TaskTemplate)>> {
    use task_template::Column as C;
    let mut parsed = Vec::with_capacity(ids.len());
    // Bounded IN lists keep every backend under its bind-parameter limit.
    for chunk in ids.chunks(1_000) {
        let rows = task_template::Entity::find()
            .select_only()
            .column(C::Id)
            // Parsing the text straight into a template costs several times
            // less than decoding a JSON value first.
            .expr_as(Expr::col(C::Definition).cast_as("TEXT"), "definition")
            .filter(C::Id.is_in(chunk.iter().copied()))
            .into_model::<DefinitionRow>()
            .all(conn)
            .await?;
        for row in rows {
            let template: TaskTemplate = serde_json::from_str(&row.definition)
                .map_err(|e| Error::corrupt(format!("template {} definition: {e}", row.id)))?;
            parsed.push((row.id, template));
        }
    }
    Ok(parsed)
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
            template: Arc::new(template.clone()),
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
        let stored = StoredTemplate {
            id: existing.id,
            template: Arc::new(template.clone()),
            content_hash: hash,
            created_at: existing.created_at,
            updated_at: existing.updated_at,
        };
        return Ok((stored, Registration::Unchanged));
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
        template: Arc::new(template.clone()),
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
