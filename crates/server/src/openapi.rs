//! `/openapi.json`, built from the registered operations, and `/docs`, which renders it.

use serde_json::{Map, Value, json};

use crate::api::{Access, Op};

fn text() -> Value {
    json!({"type": "string"})
}
fn opt(t: &str) -> Value {
    json!({"type": [t, "null"]})
}
fn time() -> Value {
    json!({"type": ["string", "null"], "format": "date-time"})
}
/// `errors` / `warnings`: `[{code, message, since}]`, never null.
fn notices() -> Value {
    json!({"type": "array", "items": {"type": "object", "required": ["code", "message", "since"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
            "since": {"type": "string", "format": "date-time"}}}})
}
fn list_of(item: &str) -> Value {
    json!({"type": "object", "required": ["data", "next_cursor"], "properties": {
        "data": {"type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}},
        "next_cursor": opt("string")}})
}
fn object(required: &[&str], props: Value) -> Value {
    json!({"type": "object", "required": required, "properties": props, "additionalProperties": false})
}

/// The schemas operations refer to by name.
fn schemas() -> Value {
    let credentials = json!({"type": "object", "additionalProperties": {"type": "string"},
        "description": "ttlock: client_id, client_secret, username, password. tuya: access_id, access_secret, region (optional). \
                        tedee: personal_access_key. kii: app_id, app_key, client_id, client_secret."});
    let mut all = json!({
        "Error": object(&["success", "error"], json!({
            "success": {"const": false},
            "error": object(&["code", "message", "request_id"], json!({
                "code": {"enum": ["validation_failed", "unauthorized", "forbidden", "not_found", "already_exists",
                    "device_busy", "capacity_reached", "provider_rejected_credentials", "rate_limited", "provider_error",
                    "provider_auth_failed", "device_offline", "provider_timeout", "not_supported", "internal"]},
                "message": text(), "field": text(), "provider": text(), "provider_code": text(), "request_id": text()}))})),
        "Success": object(&["success"], json!({"success": {"const": true}})),
        "Status": object(&["status"], json!({"status": text()})),
        "CredentialsUpdate": object(&["password"], json!({
            "clientId": text(), "clientSecret": text(), "username": text(),
            "password": {"type": "string", "minLength": 1, "description": "plain; MD5-hashed by lockbridge, never stored"}})),
        "NewApiKey": object(&["name", "role"], json!({"name": text(), "role": {"enum": ["admin", "member"]}})),
        "ApiKey": object(&["id", "name", "role", "prefix", "created_at"], json!({
            "id": text(), "name": text(), "role": {"enum": ["admin", "member"]}, "prefix": text(), "created_at": time()})),
        "ApiKeyCreated": {"allOf": [{"$ref": "#/components/schemas/ApiKey"},
            {"type": "object", "required": ["key"], "properties": {"key": {"type": "string", "description": "shown once"}}}]},
        "ApiKeyList": list_of("ApiKey"),
        "NewConnection": object(&["provider", "credentials"], json!({
            "provider": {"enum": ["ttlock", "tuya", "tedee", "kii"]}, "name": text(), "base_url": text(),
            "credentials": credentials})),
        "ConnectionPatch": object(&[], json!({"credentials": credentials,
            "on_external_change": {"enum": ["restore", "accept"]}})),
        "Connection": object(&["id", "provider", "name", "status", "credentials"], json!({
            "id": text(), "provider": text(), "name": text(), "base_url": opt("string"),
            "status": {"enum": ["active", "needs_reauth", "error"]},
            "credentials": {"type": "object", "description": "secrets shown as •••• and at most their last 4 characters"},
            "token_expires_at": time(), "last_sync_at": time(), "last_error": opt("string"),
            "on_external_change": {"enum": ["restore", "accept"]}, "created_at": time()})),
        "ConnectionList": list_of("Connection"),
        "SyncResult": object(&["locks", "gateways", "removed"], json!({
            "locks": {"type": "integer"}, "gateways": {"type": "integer"}, "removed": {"type": "integer"}})),
        "Lock": object(&["id", "connection_id", "provider", "provider_id", "name", "online", "state"], json!({
            "id": text(), "connection_id": text(), "provider": text(), "provider_id": text(), "name": text(),
            "online": {"type": "boolean"}, "state": {"enum": ["locked", "unlocked", "unknown"]},
            "battery": {"type": ["integer", "null"], "minimum": 0, "maximum": 100}, "gateway_id": opt("string"),
            "time_zone": opt("string"),
            "capabilities": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "code_rules": {"type": "object"}, "errors": notices(), "warnings": notices(), "updated_at": time()})),
        "LockList": list_of("Lock"),
        "Gateway": object(&["id", "connection_id", "provider", "provider_id", "name", "online"], json!({
            "id": text(), "connection_id": text(), "provider": text(), "provider_id": text(), "name": text(),
            "online": {"type": "boolean"}, "updated_at": time()})),
        "GatewayList": list_of("Gateway"),
        "OperationResult": object(&["lock_id", "state"], json!({"lock_id": text(), "state": text()})),
        "LockEvent": object(&["time", "kind", "method", "success"], json!({
            "time": time(), "kind": {"enum": ["unlock", "lock", "alarm"]}, "method": text(), "success": {"type": "boolean"},
            "actor": opt("string"), "provider_type": text(), "access_code_id": opt("string")})),
        "LockEventList": list_of("LockEvent"),
        "Schedule": object(&["weekdays", "start_time", "end_time", "time_zone"], json!({
            "weekdays": {"type": "array", "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
            "start_time": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}, "end_time": text(), "time_zone": text()})),
        "NewAccessCode": object(&[], json!({
            "name": text(), "code": {"type": "string", "description": "generated to fit the lock's rules when absent"},
            "starts_at": time(), "ends_at": time(), "schedule": {"$ref": "#/components/schemas/Schedule"},
            "on_external_change": {"enum": ["restore", "accept"]}})),
        "AccessCodeChange": object(&[], json!({"name": text(), "code": text(), "starts_at": time(), "ends_at": time(),
            "on_external_change": {"enum": ["restore", "accept"]}})),
        "AccessCode": object(&["id", "lock_id", "code", "status", "frozen", "managed"], json!({
            "id": text(), "lock_id": text(), "name": opt("string"), "code": text(), "starts_at": time(), "ends_at": time(),
            "schedule": {"oneOf": [{"$ref": "#/components/schemas/Schedule"}, {"type": "null"}]},
            "status": {"enum": ["scheduled", "setting", "set", "removing", "removed", "failed"]}, "frozen": {"type": "boolean"},
            "managed": {"type": "boolean"}, "provider_id": opt("string"), "last_error": opt("string"),
            "removed_reason": {"enum": ["deleted", "expired", "external", null]},
            "errors": notices(), "warnings": notices(),
            "on_external_change": {"enum": ["restore", "accept", null]},
            "created_at": time(), "updated_at": time()})),
        "AccessCodeList": list_of("AccessCode"),
        "OfflineCodeRequest": object(&["kind"], json!({
            "kind": {"enum": ["one_time", "permanent", "time_bound"]}, "name": text(), "starts_at": time(), "ends_at": time()})),
        "OfflineCode": object(&["code"], json!({"code": text(), "provider_id": opt("string"), "starts_at": time(), "ends_at": time()})),
        "Metrics": {"type": "string", "description": "Prometheus text format"},
    });
    if let Value::Object(all) = &mut all {
        all.extend(thing_schemas());
    }
    all
}

/// Kii things (in their own macro call: one `json!` of every schema exceeds its recursion limit).
fn thing_schemas() -> serde_json::Map<String, Value> {
    let Value::Object(map) = json!({
        "Thing": object(&["vendor_thing_id", "thing_id", "disabled"], json!({
            "vendor_thing_id": text(), "thing_id": text(), "thing_type": opt("string"), "vendor": opt("string"),
            "product_name": opt("string"), "firmware_version": opt("string"), "disabled": {"type": "boolean"},
            "online": {"type": ["boolean", "null"]}, "created_at": {"type": ["string", "null"], "format": "date-time"}})),
        "ThingList": list_of("Thing"),
        "ThingPassword": object(&["new_password"], json!({
            "new_password": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x20-\\x7E]{1,200}$",
                "description": "1 to 200 printable ASCII characters (Kii's ^\\p{Print}{1,200}$); sent to Kii, never stored"}})),
    }) else {
        return serde_json::Map::new();
    };
    map
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn operation(op: &Op) -> Value {
    let mut params: Vec<Value> = op
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    params.extend(op.query.iter().map(
        |q| json!({"name": q, "in": "query", "required": false, "schema": {"type": "string"}}),
    ));
    if op.path == "/v1/locks/{id}/access-codes" && op.method == "post" {
        params.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"},
            "description": "a repeated key answers the first result"}));
    }
    let content = |schema: &str| {
        let media = if schema == "Metrics" {
            "text/plain"
        } else {
            "application/json"
        };
        json!({ media: {"schema": reference(schema)} })
    };
    let mut responses = Map::new();
    let ok = match op.response {
        Some(s) => json!({"description": "success", "content": content(s)}),
        None => json!({"description": "success, no body"}),
    };
    responses.insert(op.status.to_string(), ok);
    responses.insert(
        "default".into(),
        json!({"description": "error", "content": content("Error")}),
    );
    let mut v = json!({
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": format!("{}{}", op.method, op.path.replace(['/', '{', '}', '-'], "_")),
        "parameters": params,
        "responses": responses,
    });
    match op.access {
        Access::Public => v["security"] = json!([]),
        Access::Admin => v["description"] = json!("Needs an admin key."),
        Access::Member => {}
    }
    if let Some(body) = op.body {
        v["requestBody"] = json!({"required": true, "content": content(body)});
    }
    v
}

/// The OpenAPI 3.1 document of `ops`.
pub fn document(ops: &[Op]) -> Value {
    let mut paths = Map::new();
    for op in ops {
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = operation(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "lockbridge", "version": env!("CARGO_PKG_VERSION"),
                 "description": "One API for TTLock, Tuya, Tedee and Kii smart locks."},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key: lb_…"}},
            "schemas": schemas(),
        },
    })
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
