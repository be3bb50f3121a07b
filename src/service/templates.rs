//! Template services: parse, validate against the live handler registry,
//! register atomically, and load a directory of templates.

use std::path::{Path, PathBuf};

use super::{Error, Result, Tasker};
use crate::domain::template::{TaskTemplate, parse_template, validate_template};
use crate::store::{self, Registration, StoredTemplate};

/// File extensions read by [`Tasker::load_template_dir`].
pub const TEMPLATE_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// One file of a directory load.
#[derive(Debug)]
pub struct LoadedTemplate {
    /// The file.
    pub path: PathBuf,
    /// `namespace/name@version`.
    pub full_name: String,
    /// What registering it did.
    pub registration: Registration,
}

impl Tasker {
    /// Parse and validate a template document without registering it.
    pub fn check_template(&self, text: &str) -> Result<TaskTemplate> {
        let limit = self.settings.limits.max_template_bytes;
        if text.len() > limit {
            return Err(Error::PayloadTooLarge {
                what: "template",
                size: text.len(),
                limit,
            });
        }
        let template = parse_template(text)?;
        validate_template(&template, &self.handlers, self.settings.limits.template)?;
        Ok(template)
    }

    /// Check a template document as registration would, storing nothing.
    pub fn validate_template(&self, text: &str) -> Result<TaskTemplate> {
        let template = self.check_template(text)?;
        self.check_declared_schedules(&template)?;
        Ok(template)
    }

    /// Register a template document (YAML or JSON). Identical content is a
    /// no-op; different content under the same version needs `replace`.
    pub async fn register_template(
        &self,
        text: &str,
        replace: bool,
    ) -> Result<(StoredTemplate, Registration)> {
        let template = self.validate_template(text)?;
        let now = self.clock.now();
        let template = &template;
        let registered = self
            .write(|mut tx| async move {
                let registered = store::register_template(&mut tx, template, replace, now).await?;
                Ok((registered, tx))
            })
            .await?;
        self.save_declared_schedules(template).await?;
        Ok(registered)
    }

    /// Register every template file in `dir` (sorted by name, not recursive).
    /// Stops at the first failure, naming the file.
    pub async fn load_template_dir(
        &self,
        dir: &Path,
    ) -> std::result::Result<Vec<LoadedTemplate>, (PathBuf, Error)> {
        let io_error = |e: std::io::Error| {
            (
                dir.to_path_buf(),
                Error::bad_input("templates", format!("cannot read {}: {e}", dir.display())),
            )
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_error)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| TEMPLATE_EXTENSIONS.contains(&e))
            })
            .collect();
        paths.sort();
        let mut loaded = Vec::with_capacity(paths.len());
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                (
                    path.clone(),
                    Error::bad_input("templates", format!("cannot read: {e}")),
                )
            })?;
            let (stored, registration) = self
                .register_template(&text, false)
                .await
                .map_err(|e| (path.clone(), e))?;
            loaded.push(LoadedTemplate {
                path,
                full_name: stored.template.full_name(),
                registration,
            });
        }
        Ok(loaded)
    }

    /// The template with this key; without a version, the highest semver.
    pub async fn find_template(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<StoredTemplate>> {
        let conn = self.store.reader();
        let mut headers = store::template_headers(conn, Some(namespace), Some(name), version).await?;
        // Sorted by semver, so the highest is last.
        let Some(best) = headers.pop() else {
            return Ok(None);
        };
        Ok(self.parsed.resolve(conn, vec![best]).await?.pop())
    }

    /// Every template, optionally of one namespace.
    pub async fn list_templates(&self, namespace: Option<&str>) -> Result<Vec<StoredTemplate>> {
        let conn = self.store.reader();
        let headers = store::template_headers(conn, namespace, None, None).await?;
        Ok(self.parsed.resolve(conn, headers).await?)
    }

    /// Every namespace with its template count.
    pub async fn list_namespaces(&self) -> Result<Vec<(String, u64)>> {
        Ok(store::list_namespaces(self.store.reader()).await?)
    }
}
