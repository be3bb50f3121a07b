//! `tasker template validate FILE…`: parse and validate without a database;
//! exit code 1 when any file is invalid (for CI pipelines).
//! `tasker template register FILE…`: register on a running server.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::Value;

use super::task::ServerArgs;
use crate::client::Client;
use crate::client::operations::{RegisterTaskTemplate, register_task_template};
use crate::config::Config;
use crate::domain::TemplateError;
use crate::domain::template::{HandlerCatalog, HandlerIssue, parse_template, validate_template};
use crate::handlers::HandlerRegistry;

#[derive(Debug, Subcommand)]
pub(super) enum TemplateCommand {
    /// Check template files; prints every problem and exits 1 if any file is invalid.
    Validate {
        /// Template files (YAML or JSON).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Treat this handler as registered (your own Rust handlers); repeatable.
        #[arg(long = "handler", value_name = "NAME")]
        handlers: Vec<String>,
    },
    /// Register templates on a running server; exits 1 if any is refused.
    Register {
        /// Template files (YAML or JSON).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Replace a registered version whose content differs.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Built-ins plus names declared on the command line.
struct Catalog {
    registry: HandlerRegistry,
    declared: HashSet<String>,
}

impl HandlerCatalog for Catalog {
    fn check(&self, namespace: &str, handler: &str, config: &Value) -> Result<(), HandlerIssue> {
        if self.declared.contains(handler) {
            return Ok(());
        }
        self.registry.check(namespace, handler, config)
    }
}

pub(super) async fn run(command: TemplateCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        TemplateCommand::Validate { files, handlers } => validate(&files, handlers, config),
        TemplateCommand::Register {
            files,
            replace,
            server,
        } => register(&server.client(), &files, replace).await,
    }
}

async fn register(client: &Client, files: &[PathBuf], replace: bool) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for file in files {
        let registered = match std::fs::read_to_string(file) {
            Ok(yaml) => client
                .run::<RegisterTaskTemplate>(register_task_template::Variables { yaml, replace })
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("cannot read: {e}")),
        };
        match registered {
            Ok(data) => {
                let t = data.register_task_template;
                let n = t.step_templates.len();
                let plural = if n == 1 { "" } else { "s" };
                println!("ok     {}  {} ({n} step{plural})", file.display(), t.full_name);
            }
            Err(message) => {
                failed += 1;
                println!("error  {}\n         {message}", file.display());
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "{failed} of {} templates were not registered on {}",
            files.len(),
            client.base()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(files: &[PathBuf], handlers: Vec<String>, config: &Config) -> anyhow::Result<ExitCode> {
    let catalog = Catalog {
        registry: HandlerRegistry::with_builtins(),
        declared: handlers.into_iter().collect(),
    };
    let limits = crate::service::Limits::from_config(&config.limits);
    let mut failed = 0;
    for file in files {
        let outcome = std::fs::read_to_string(file)
            .map_err(|e| vec![format!("cannot read: {e}")])
            .and_then(|text| {
                if text.len() > limits.max_template_bytes {
                    return Err(vec![format!("larger than {} bytes", limits.max_template_bytes)]);
                }
                let template = parse_template(&text).map_err(problems)?;
                validate_template(&template, &catalog, limits.template).map_err(problems)?;
                Ok(template)
            });
        match outcome {
            Ok(t) => {
                let n = t.steps.len();
                println!(
                    "ok     {}  {} ({n} step{})",
                    file.display(),
                    t.full_name(),
                    if n == 1 { "" } else { "s" }
                );
            }
            Err(list) => {
                failed += 1;
                println!("error  {}", file.display());
                for problem in list {
                    println!("         {problem}");
                }
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} template files are invalid", files.len());
        Ok(ExitCode::FAILURE)
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn problems(err: TemplateError) -> Vec<String> {
    match err {
        TemplateError::Invalid { problems, .. } => problems.iter().map(ToString::to_string).collect(),
        other => vec![other.to_string()],
    }
}
