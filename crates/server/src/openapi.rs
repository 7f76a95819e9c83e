//! `/openapi.json`, built from the registered operations, and `/docs`, which renders it.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::api::{Access, Op, Schema};

/// The generator of the document's components: each schema an operation refers to is added
/// to it from the operation's own type (see [`crate::api::Schema`]).
fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
        })
        .into_generator()
}

/// The reference to `schema` in the components, and how its body is sent.
fn content(g: &mut SchemaGenerator, schema: Schema) -> Value {
    let media = match (schema.name)().as_ref() {
        "Metrics" => "text/plain",
        "Html" => "text/html",
        _ => "application/json",
    };
    let reference = serde_json::to_value((schema.add)(g)).unwrap_or(Value::Null);
    json!({ media: {"schema": reference} })
}

/// The error answers an operation can give, with what they mean (the body is always `Error`;
/// its `code` says which, see `ErrorDetail.code`).
fn errors(op: &Op) -> Vec<(u16, &'static str)> {
    let mut out = Vec::new();
    let takes_input = op.body.is_some() || op.query.is_some() || op.path.contains('{');
    if op.access == Access::Public {
        if op.path.starts_with("/vendor-hooks") {
            out.extend([
                (400, "validation_failed: not an event of the vendor"),
                (404, "not_found: no such hook"),
            ]);
        }
        return out;
    }
    if takes_input {
        out.push((
            400,
            "validation_failed: a field breaks a rule (`field` names it)",
        ));
    }
    out.push((401, "unauthorized: no key, or a key that is not valid"));
    if op.access == Access::Admin || op.method != "get" {
        out.push((403, "forbidden: the key's role may not do this"));
    }
    if op.path.contains('{') {
        out.push((404, "not_found: no such object in the organisation"));
    }
    if op.method != "get" {
        out.push((409, "already_exists, device_busy, device_jammed, last_admin_key, request_in_progress: the state does not allow it now"));
        out.push((422, "not_supported, shared_code_impossible, idempotency_key_reused: the request cannot be done as asked"));
    }
    out.push((429, "rate_limited: too many requests (see Retry-After)"));
    let vendor = [
        "/v1/locks",
        "/v1/access-codes",
        "/v1/connections",
        "/v1/grants",
        "/v1/properties",
        "/v1/jobs",
    ]
    .iter()
    .any(|p| op.path.starts_with(p));
    if vendor {
        out.push((502, "provider_error, provider_auth_failed, provider_rejected_credentials, device_offline, gateway_offline: the vendor failed or refused"));
        out.push((503, "request_timeout: the service could not answer in time"));
        out.push((
            504,
            "provider_timeout: the vendor did not answer in time (the outcome is checked)",
        ));
    }
    out
}

/// A readable operation id naming the resource and the action: `locks_list`, `locks_unlock`,
/// `access_codes_get`, `webhooks_rotate_secret`. [`document`] makes them unique.
pub fn operation_id(method: &str, path: &str) -> String {
    let segs: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "v1")
        .collect();
    let name = |s: &str| s.replace(['-', '.'], "_");
    let is_param = |s: &str| s.starts_with('{');
    let Some(last) = segs.last() else {
        return format!("root_{method}");
    };
    if !path.starts_with("/v1") {
        return match path {
            "/healthz" => "health_live".into(),
            "/readyz" => "health_ready".into(),
            "/metrics" => "metrics_get".into(),
            "/openapi.json" => "openapi_get".into(),
            "/docs" => "docs_get".into(),
            p if p.starts_with("/vendor-hooks") => "vendor_hooks_receive".into(),
            _ => segs
                .iter()
                .filter(|s| !is_param(s))
                .map(|s| name(s))
                .collect::<Vec<_>>()
                .join("_"),
        };
    }
    let nouns: Vec<&str> = segs.iter().copied().filter(|s| !is_param(s)).collect();
    let resource = name(nouns.last().copied().unwrap_or_default());
    if is_param(last) {
        let action = match method {
            "get" => "get",
            "patch" => "update",
            "put" => "upsert",
            "delete" => "delete",
            _ => "create",
        };
        return format!("{resource}_{action}");
    }
    // A collection (a plural noun) or an action on the object before it.
    let collection = last.ends_with('s') && *last != "credentials";
    if collection || segs.len() == 1 {
        let action = match method {
            "get" => "list",
            "post" => "create",
            "put" => "replace",
            "delete" => "delete",
            _ => "update",
        };
        return format!("{resource}_{action}");
    }
    let parent = nouns
        .len()
        .checked_sub(2)
        .map_or(String::new(), |i| name(nouns[i]));
    let action = match (method, *last) {
        ("put", _) | ("patch", _) => format!("{}_set", name(last)),
        _ => name(last),
    };
    format!("{parent}_{action}")
}

fn operation(g: &mut SchemaGenerator, op: &Op, id: &str) -> Value {
    let mut params: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    let query = op.query.map(|q| q.properties()).unwrap_or_default();
    params.extend(query.iter().map(|q| {
        let schema = match q.as_str() {
            "limit" => json!({"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
            "refresh" | "online" => json!({"type": "boolean"}),
            "type" => json!({"type": "array", "items": {"type": "string"}}),
            "since" | "until" => json!({"type": "string", "format": "date-time"}),
            "provider" => json!({"enum": lockbridge_core::Provider::known()}),
            _ => json!({"type": "string"}),
        };
        json!({"name": q, "in": "query", "required": false, "schema": schema})
    }));
    if op.method == "post" {
        params.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": "the same request again with this key answers the first result (kept for a day); with another request, 422 idempotency_key_reused"}));
    }
    let mut responses = Map::new();
    let mut answer = |schema: Option<Schema>| match schema {
        Some(s) => json!({"description": "success", "content": content(g, s)}),
        None => json!({"description": "success, no body"}),
    };
    responses.insert(op.status.to_string(), answer(op.response));
    for (status, schema) in &op.others {
        responses.insert(status.to_string(), answer(*schema));
    }
    let error = Schema::of::<lockbridge_api::ErrorBody>();
    for (status, why) in errors(op) {
        responses.insert(
            status.to_string(),
            json!({"description": why, "content": content(g, error)}),
        );
    }
    responses.insert(
        "default".into(),
        json!({"description": "another error (500 internal)", "content": content(g, error)}),
    );
    let mut v = json!({
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": id,
        "parameters": params,
        "responses": responses,
    });
    match op.access {
        Access::Public => v["security"] = json!([]),
        Access::Admin => v["description"] = json!("Needs an admin key."),
        Access::Member => {}
    }
    if let Some(body) = op.body {
        v["requestBody"] = json!({"required": true, "content": content(g, body)});
    }
    v
}

/// The OpenAPI 3.1 document of `ops`.
pub fn document(ops: &[Op]) -> Value {
    // Ids as derived; where two operations would share one, each is named with the resource
    // its path hangs from (`locks_events_list` beside `events_list`).
    let base: Vec<String> = ops.iter().map(|o| operation_id(o.method, o.path)).collect();
    let mut paths = Map::new();
    let mut g = generator();
    for (op, id) in ops.iter().zip(&base) {
        let id = if base.iter().filter(|b| *b == id).count() > 1 {
            let first = op
                .path
                .split('/')
                .find(|s| !s.is_empty() && *s != "v1")
                .unwrap_or("");
            let first = first.replace('-', "_");
            if id.starts_with(&first) {
                id.clone()
            } else {
                format!("{first}_{id}")
            }
        } else {
            id.clone()
        };
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = operation(&mut g, op, &id);
    }
    let vendors: Vec<&str> = lockbridge_core::Provider::known()
        .iter()
        .map(|p| p.label())
        .collect();
    let mut schemas = Value::Object(g.take_definitions(true).into_iter().collect());
    generator_friendly(&mut schemas);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "lockbridge",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("One API for the smart locks of {}: vendor credentials kept valid, locks, PIN codes with each vendor's rules, grants, stays, remote unlock, events and signed webhooks.", vendors.join(", ")),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            "contact": {"name": "lockbridge", "url": "https://github.com/lockbridge/lockbridge"},
        },
        "servers": [
            {"url": "http://127.0.0.1:8080", "description": "a local service (`lockbridge serve`, `lockbridge demo`)"},
        ],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key: lb_…"}},
            "schemas": schemas,
        },
    })
}

/// Reshapes what schemars writes into what client generators read well: a `oneOf` of single
/// string `const`s becomes a string `enum` (the variants' descriptions kept in its description),
/// and a boolean schema (`true`: anything) becomes `{}`.
fn generator_friendly(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(branches)) = map.get("oneOf") {
                // Each branch a string `const` (a documented variant) or a string `enum` (the
                // undocumented ones, together).
                let consts: Option<Vec<(String, Option<String>)>> = branches
                    .iter()
                    .map(|b| {
                        let d = b
                            .get("description")
                            .and_then(Value::as_str)
                            .map(str::to_owned);
                        match (b.get("const"), b.get("enum")) {
                            (Some(c), _) => Some(vec![(c.as_str()?.to_owned(), d)]),
                            (None, Some(Value::Array(e))) => e
                                .iter()
                                .map(|c| Some((c.as_str()?.to_owned(), None)))
                                .collect(),
                            _ => None,
                        }
                    })
                    .collect::<Option<Vec<_>>>()
                    .map(|all| all.into_iter().flatten().collect());
                if let Some(consts) = consts.filter(|c| !c.is_empty()) {
                    map.remove("oneOf");
                    map.insert("type".into(), json!("string"));
                    map.insert(
                        "enum".into(),
                        json!(consts.iter().map(|(c, _)| c).collect::<Vec<_>>()),
                    );
                    let described: Vec<String> = consts
                        .iter()
                        .filter_map(|(c, d)| d.as_ref().map(|d| format!("`{c}`: {d}")))
                        .collect();
                    if !described.is_empty() {
                        let head = map
                            .get("description")
                            .and_then(Value::as_str)
                            .map(|d| format!("{d}\n\n"))
                            .unwrap_or_default();
                        map.insert(
                            "description".into(),
                            json!(format!("{head}{}", described.join("\n"))),
                        );
                    }
                }
            }
            // Where a schema stands (a property's, an array's items), `true` is any value.
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                for child in props.values_mut().filter(|c| **c == Value::Bool(true)) {
                    *child = json!({});
                }
            }
            if map.get("items") == Some(&Value::Bool(true)) {
                map.insert("items".into(), json!({}));
            }
            map.values_mut().for_each(generator_friendly);
        }
        Value::Array(items) => items.iter_mut().for_each(generator_friendly),
        _ => {}
    }
}

/// A page that renders `/openapi.json` in the browser, with nothing fetched from elsewhere.
pub const DOCS_HTML: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lockbridge API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ddd;margin-top:2em} .op{margin:.6em 0;padding:.5em .8em;border:1px solid #e3e3e3;border-radius:6px}
.m{display:inline-block;min-width:4.5em;font-weight:600;text-transform:uppercase} code{background:#f4f4f4;padding:0 .3em}
details pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:13px}
</style></head><body>
<h1>lockbridge API</h1><p id="intro">Loading <a href="/openapi.json">/openapi.json</a>…</p><div id="ops"></div>
<script>
fetch('/openapi.json').then(r => r.json()).then(doc => {
  document.getElementById('intro').textContent = doc.info.description + ' Send Authorization: Bearer <key>.';
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item)) (byTag[op.tags[0]] ||= []).push([method, path, op]);
  const out = document.getElementById('ops');
  const esc = s => String(s).replace(/[&<>]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;'})[c]);
  const schema = ref => ref && doc.components.schemas[ref.split('/').pop()];
  for (const [tag, ops] of Object.entries(byTag)) {
    out.insertAdjacentHTML('beforeend', `<h2>${esc(tag)}</h2>`);
    for (const [method, path, op] of ops) {
      const body = op.requestBody && Object.values(op.requestBody.content)[0].schema.$ref;
      const ok = Object.entries(op.responses).find(([k]) => k !== 'default');
      const res = ok && ok[1].content && Object.values(ok[1].content)[0].schema.$ref;
      let html = `<div class="op"><span class="m">${method}</span><code>${esc(path)}</code> — ${esc(op.summary)}`;
      if (op.description) html += ` <em>${esc(op.description)}</em>`;
      if (body) html += `<details><summary>request: ${esc(body.split('/').pop())}</summary><pre>${esc(JSON.stringify(schema(body), null, 2))}</pre></details>`;
      if (res) html += `<details><summary>${ok[0]}: ${esc(res.split('/').pop())}</summary><pre>${esc(JSON.stringify(schema(res), null, 2))}</pre></details>`;
      out.insertAdjacentHTML('beforeend', html + '</div>');
    }
  }
});
</script></body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client generator needs of the document: readable unique operation ids, string
    /// enums as `enum`, no boolean schema where a schema stands, servers and a licence, and the
    /// error answers of each operation.
    #[test]
    fn the_document_suits_client_generators() {
        let doc = crate::openapi_document();
        assert!(doc["servers"].as_array().is_some_and(|s| !s.is_empty()));
        assert_eq!(doc["info"]["license"]["identifier"], "Apache-2.0");
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap();
                assert!(
                    id.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                        && !id.contains("__")
                        && !id.starts_with(method.as_str()),
                    "{method} {path}: {id}"
                );
                assert!(ids.insert(id.to_owned()), "{id} twice");
                if op.get("security") != Some(&json!([])) {
                    assert!(op["responses"].get("401").is_some(), "{method} {path}");
                }
            }
        }
        for (want, method, path) in [
            ("locks_list", "get", "/v1/locks"),
            ("locks_unlock", "post", "/v1/locks/{id}/unlock"),
            ("access_codes_create", "post", "/v1/locks/{id}/access-codes"),
            ("access_codes_get", "get", "/v1/access-codes/{id}"),
            (
                "webhooks_rotate_secret",
                "post",
                "/v1/webhooks/{id}/rotate-secret",
            ),
        ] {
            assert_eq!(doc["paths"][path][method]["operationId"], want);
        }
        fn walk(v: &Value, at: &str) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::Array(b)) = m.get("oneOf") {
                        let strings =
                            |x: &Value| x.get("const").is_some() || x.get("enum").is_some();
                        assert!(!b.iter().all(strings), "{at}: a oneOf of consts");
                    }
                    if let Some(Value::Object(p)) = m.get("properties") {
                        assert!(
                            p.values().all(|x| !x.is_boolean()),
                            "{at}: a boolean schema"
                        );
                    }
                    m.iter().for_each(|(k, c)| walk(c, &format!("{at}/{k}")));
                }
                Value::Array(a) => a.iter().for_each(|c| walk(c, at)),
                _ => {}
            }
        }
        walk(&doc["components"]["schemas"], "");
        let status = &doc["components"]["schemas"]["CodeStatus"];
        assert!(
            status["enum"].as_array().is_some_and(|e| e.len() > 3),
            "{status}"
        );
    }
}
