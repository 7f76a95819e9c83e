//! Every answer the suites receive is checked against `/openapi.json`: the documented schema
//! of its operation and status (the `Error` schema for errors), so the document cannot drift
//! from what the service sends.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use reqwest::Method;
use serde_json::{Value, json};

fn validators() -> &'static Mutex<HashMap<String, &'static jsonschema::Validator>> {
    static CACHE: OnceLock<Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// A validator of `pointer` (e.g. `/components/schemas/Lock`) within the document.
fn validator(pointer: &str) -> &'static jsonschema::Validator {
    let mut cache = validators().lock().unwrap_or_else(|e| e.into_inner());
    cache.entry(pointer.to_owned()).or_insert_with(|| {
        let mut root = lockbridge_server::openapi_document().clone();
        // Strict: an answer may not carry a field its schema does not name.
        close_objects(&mut root["components"]["schemas"]);
        root["$ref"] = json!(format!("#{pointer}"));
        let v = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}"));
        Box::leak(Box::new(v))
    })
}

/// Whether `path` (no query) is an instance of the template `/v1/locks/{id}`.
fn matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

/// Panics unless `body` is what the document promises for `method path` answering `status`.
pub fn check(method: &Method, path_and_query: &str, status: u16, body: &Value) {
    let doc = lockbridge_server::openapi_document();
    let path = path_and_query.split('?').next().unwrap_or_default();
    let method = method.as_str().to_lowercase();
    // The most literal template wins (`/v1/locks/reconcile` over `/v1/locks/{id}`).
    let op = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(template, item)| matches(template, path) && item.get(&method).is_some())
        .min_by_key(|(template, _)| template.matches('{').count())
        .map(|(template, item)| (template.clone(), &item[&method]));
    let where_ = format!("{} {path} → {status}", method.to_uppercase());
    let Some((template, op)) = op else {
        // No such operation: the answer must be the error body (404, 405).
        assert!(
            status >= 400,
            "{where_}: undocumented operation answered {body}"
        );
        return validate("/components/schemas/Error", body, &where_);
    };
    let response = op["responses"].get(status.to_string()).or_else(|| {
        (status >= 400)
            .then(|| op["responses"].get("default"))
            .flatten()
    });
    let Some(response) = response else {
        panic!(
            "{where_}: status {status} is not documented for {template} (documented: {:?})",
            op["responses"]
                .as_object()
                .map(|r| r.keys().collect::<Vec<_>>())
        );
    };
    match response["content"]
        .as_object()
        .and_then(|c| c.iter().next())
    {
        None => assert!(
            body.is_null(),
            "{where_}: documented without a body, answered {body}"
        ),
        Some((media, _)) if media != "application/json" => {}
        Some((_, content)) => {
            let reference = content["schema"]["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{where_}: schema is not a reference"));
            validate(reference.trim_start_matches('#'), body, &where_);
        }
    }
}

fn validate(pointer: &str, body: &Value, where_: &str) {
    let errors: Vec<String> = validator(pointer)
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{where_}: the answer does not match {pointer}:\n  {}\nanswer: {body}",
        errors.join("\n  ")
    );
}

/// Every object schema with named properties and no rule for others gets
/// `additionalProperties: false`.
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.contains_key("properties") && !m.contains_key("additionalProperties") {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            m.values_mut().for_each(close_objects);
        }
        Value::Array(a) => a.iter_mut().for_each(close_objects),
        _ => {}
    }
}
