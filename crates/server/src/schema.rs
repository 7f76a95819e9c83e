//! Schemas of what `/openapi.json` describes that is not a JSON answer of the API's contract
//! (that is [`lockbridge_api`]): the vendors' credential fields, the document itself, pages
//! and metrics.

use schemars::JsonSchema;
use serde_json::Value;

/// A connection's credentials: string fields named by its vendor. The description lists each
/// vendor's fields, from the adapters' own declarations.
#[derive(Debug)]
pub struct CredentialFields;

impl JsonSchema for CredentialFields {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Credentials".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let cx = lockbridge_vendors::Context {
            tokens: std::sync::Arc::new(lockbridge_core::provider::NoTokenStore),
            calls: Default::default(),
            operation_poll: std::time::Duration::ZERO,
            request_timeout: std::time::Duration::ZERO,
            pace: Default::default(),
        };
        let vendors: Vec<String> = lockbridge_vendors::builtin(&cx)
            .iter()
            .map(|v| {
                let fields: Vec<String> = v
                    .credential_fields()
                    .iter()
                    .map(|f| {
                        let mut name = f.name.to_owned();
                        if f.optional {
                            name.push_str(" (optional)");
                        }
                        name
                    })
                    .collect();
                format!("{}: {}", v.provider(), fields.join(", "))
            })
            .collect();
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": vendors.join(". "),
        })
    }
}

/// This document: OpenAPI 3.1.
#[derive(Debug, JsonSchema)]
#[schemars(rename = "OpenApiDocument")]
pub struct OpenApiDocument(pub serde_json::Map<String, Value>);

/// A page for people.
#[derive(Debug, JsonSchema)]
pub struct Html(pub String);

/// Prometheus text format.
#[derive(Debug, JsonSchema)]
pub struct Metrics(pub String);
