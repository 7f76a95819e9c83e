//! `/openapi.json`, built from the registered operations, and `/docs`, which renders it.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::api::{Access, Op};

/// The schemas operations refer to by name, derived from the types the handlers answer and
/// read: the model's own, the answers of [`crate::schema`], the routes' request bodies.
fn schemas() -> Map<String, Value> {
    use lockbridge_core::model::{AccessCode, ApiKey, Gateway, Lock};
    use lockbridge_core::provider::{OfflineCode, ThingInfo};

    use crate::routes::{access_codes, api_keys, bff, connections, locks, things, webhooks};
    use crate::schema::*;

    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
    });
    let mut generator = settings.into_generator();
    macro_rules! register {
        ($($t:ty),+ $(,)?) => { $( generator.subschema_for::<$t>(); )+ };
    }
    register!(
        ErrorBody,
        Success,
        Status,
        Metrics,
        OpenApiDocument,
        Html,
        ApiKeyCreated,
        Page<ApiKey>,
        api_keys::NewKey,
        bff::Update,
        connections::NewConnection,
        connections::Patch,
        Page<ConnectionView>,
        SyncResult,
        Page<Lock>,
        Page<Gateway>,
        OperationResult,
        access_codes::NewCode,
        crate::routes::code_changes::Change,
        Page<AccessCode>,
        locks::OfflineRequest,
        locks::LockChange,
        locks::DynamicCode,
        OfflineCode,
        Page<ThingInfo>,
        things::ThingPassword,
        lockbridge_core::events::Event,
        Page<lockbridge_core::events::Event>,
        crate::routes::grants::NewGrant,
        crate::routes::grants::GrantChange,
        lockbridge_core::grants::Grant,
        Page<lockbridge_core::grants::Grant>,
        crate::routes::jobs::NewJob,
        crate::routes::jobs::JobView,
        lockbridge_core::webhooks::Webhook,
        Page<lockbridge_core::webhooks::Webhook>,
        lockbridge_core::webhooks::Delivery,
        Page<lockbridge_core::webhooks::Delivery>,
        webhooks::NewWebhook,
        webhooks::Change,
        webhooks::WebhookCreated,
        crate::routes::vendor_hooks::HookReceived,
        crate::routes::vendor_hooks::VendorWebhook,
        crate::routes::vendor_hooks::VendorWebhookRegistered,
        crate::routes::stays::NewProperty,
        crate::routes::stays::PropertyChange,
        crate::routes::stays::NewCalendar,
        crate::routes::stays::StayBooking,
        crate::routes::stays::ReservationView,
        lockbridge_core::stays::Property,
        Page<lockbridge_core::stays::Property>,
        lockbridge_core::stays::Calendar,
        Page<lockbridge_core::stays::Calendar>,
        Page<crate::routes::stays::ReservationView>,
    );
    generator.take_definitions(true).into_iter().collect()
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
    params.extend(op.query.iter().map(|q| {
        let schema = match *q {
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
    let content = |schema: &str| {
        let media = match schema {
            "Metrics" => "text/plain",
            "Html" => "text/html",
            _ => "application/json",
        };
        json!({ media: {"schema": reference(schema)} })
    };
    let mut responses = Map::new();
    let ok = match op.response {
        Some(s) => json!({"description": "success", "content": content(s)}),
        None => json!({"description": "success, no body"}),
    };
    responses.insert(op.status.to_string(), ok);
    for (status, schema) in &op.others {
        let answer = match schema {
            Some(s) => json!({"description": "success", "content": content(s)}),
            None => json!({"description": "success, no body"}),
        };
        responses.insert(status.to_string(), answer);
    }
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
