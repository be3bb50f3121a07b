//! Parsed templates kept in memory by row id and content hash, so listing a
//! thousand templates or creating a task re-reads only the light columns and
//! parses a definition only when it is new or was replaced (by any replica:
//! the hash comes from the database on every read).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::domain::template::TaskTemplate;
use crate::store::{self, StoredTemplate, TemplateHeader};

/// Parsed copies are dropped wholesale past this many, rather than grow
/// without bound on a registry that keeps changing.
const CAPACITY: usize = 50_000;

/// Parsed templates by row id, each with the content hash it was parsed from.
#[derive(Debug, Default)]
pub(super) struct ParsedTemplates(Mutex<HashMap<Uuid, (String, Arc<TaskTemplate>)>>);

impl ParsedTemplates {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (String, Arc<TaskTemplate>)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The templates behind `headers` (same order), parsing what the cache
    /// lacks after reading it in one statement per thousand.
    pub(super) async fn resolve(
        &self,
        conn: &impl ConnectionTrait,
        headers: Vec<TemplateHeader>,
    ) -> store::Result<Vec<StoredTemplate>> {
        let cached: Vec<Option<Arc<TaskTemplate>>> = {
            let entries = self.entries();
            headers
                .iter()
                .map(|h| {
                    entries
                        .get(&h.id)
                        .filter(|(hash, _)| *hash == h.content_hash)
                        .map(|(_, parsed)| Arc::clone(parsed))
                })
                .collect()
        };
        let missing: Vec<Uuid> = headers
            .iter()
            .zip(&cached)
            .filter(|(_, hit)| hit.is_none())
            .map(|(h, _)| h.id)
            .collect();
        let mut fresh: HashMap<Uuid, Arc<TaskTemplate>> = store::template_definitions(conn, &missing)
            .await?
            .into_iter()
            .map(|(id, template)| (id, Arc::new(template)))
            .collect();
        if !fresh.is_empty() {
            let mut entries = self.entries();
            if entries.len() + fresh.len() > CAPACITY {
                entries.clear();
            }
            for h in &headers {
                if let Some(parsed) = fresh.get(&h.id) {
                    // A definition read after its header may be newer than the
                    // header's hash; keying it by that hash costs one re-parse.
                    entries.insert(h.id, (h.content_hash.clone(), Arc::clone(parsed)));
                }
            }
        }
        let mut stored = Vec::with_capacity(headers.len());
        for (h, hit) in headers.into_iter().zip(cached) {
            // A row deleted between the two reads is left out.
            let Some(template) = hit.or_else(|| fresh.remove(&h.id)) else {
                continue;
            };
            stored.push(StoredTemplate {
                id: h.id,
                template,
                content_hash: h.content_hash,
                created_at: h.created_at,
                updated_at: h.updated_at,
            });
        }
        Ok(stored)
    }
}
