//! `validateTaskTemplate`: every problem of a template document, located,
//! without registering it (the explorer's editor checks as you go).

use async_graphql::{Context, Object, SimpleObject};

use super::error::GqlResult;
use super::guard::require_somewhere;
use super::types::tasker;
use crate::auth::permission::TEMPLATE_READ;
use crate::domain::TemplateError;
use crate::service::Error;

/// One problem of a template document.
#[derive(SimpleObject)]
pub struct TemplateProblemGql {
    /// Where in the template (`steps[2].depends_on`); empty for the document.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Line of a syntax error (from 1), when the parser named it.
    pub line: Option<u32>,
    /// Its column (from 1).
    pub column: Option<u32>,
}

/// What `validateTaskTemplate` found.
#[derive(SimpleObject)]
pub struct TemplateCheck {
    /// No problem: `registerTaskTemplate` would take it.
    pub valid: bool,
    /// `namespace/name@version`, when the document names a template.
    pub full_name: Option<String>,
    /// Every problem found.
    pub problems: Vec<TemplateProblemGql>,
}

fn problem(path: &str, message: String) -> TemplateProblemGql {
    TemplateProblemGql {
        path: path.to_owned(),
        message,
        line: None,
        column: None,
    }
}

/// Template checks.
#[derive(Default)]
pub struct ValidationQuery;

#[Object]
impl ValidationQuery {
    /// Check a template document (YAML or JSON) as `registerTaskTemplate`
    /// would, registering nothing.
    async fn validate_task_template(&self, ctx: &Context<'_>, yaml: String) -> GqlResult<TemplateCheck> {
        require_somewhere(ctx, TEMPLATE_READ)?;
        let problems = match tasker(ctx)?.validate_template(&yaml) {
            Ok(template) => {
                return Ok(TemplateCheck {
                    valid: true,
                    full_name: Some(template.full_name()),
                    problems: Vec::new(),
                });
            }
            Err(Error::Template(err)) => {
                let at = err.location();
                match err {
                    TemplateError::Syntax { message } => vec![TemplateProblemGql {
                        line: at.map(|(line, _)| line),
                        column: at.map(|(_, column)| column),
                        ..problem("", message)
                    }],
                    TemplateError::Invalid { problems, .. } => problems
                        .into_iter()
                        .map(|p| problem(&p.path, p.message))
                        .collect(),
                }
            }
            Err(Error::BadInput { field, message }) => vec![problem(&field, message)],
            Err(err @ Error::PayloadTooLarge { .. }) => vec![problem("", err.to_string())],
            Err(err) => return Err(err.into()),
        };
        Ok(TemplateCheck {
            valid: false,
            full_name: None,
            problems,
        })
    }
}
