//! Task templates: the model, both YAML formats, and validation.

mod model;
mod parse;
mod validate;

pub use model::{
    ConcurrencySpec, ConcurrencyStrategy, DEFAULT_NAMESPACE, DEFAULT_VERSION, StepTemplate, TaskTemplate,
};
pub use parse::parse_template;
pub use validate::{HandlerCatalog, HandlerIssue, TemplateLimits, dag_of, validate_template};
