//! Routes registered together with their description: the router and `/openapi.json` come from
//! the same calls, so no route exists undocumented.

use axum::Router;
use axum::routing::MethodRouter;

use crate::state::AppState;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any key of the organisation.
    Member,
    /// An admin key.
    Admin,
}

/// A type an operation reads or answers, as `/openapi.json` names and describes it: taken from
/// the type itself, so the document cannot name a shape the handler does not use.
#[derive(Clone, Copy)]
pub struct Schema {
    pub name: fn() -> std::borrow::Cow<'static, str>,
    /// Adds the type's schema (and those it uses) to the document's components.
    pub add: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// The type's own schema, whole (a query's parameters are its properties).
    pub root: fn() -> schemars::Schema,
}

impl Schema {
    pub fn of<T: schemars::JsonSchema>() -> Schema {
        Schema {
            name: T::schema_name,
            add: |g| g.subschema_for::<T>(),
            root: || schemars::schema_for!(T),
        }
    }

    /// The names of the type's properties: a query's parameters.
    pub fn properties(&self) -> Vec<String> {
        (self.root)()
            .as_object()
            .and_then(|o| o.get("properties"))
            .and_then(|p| p.as_object())
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schema({})", (self.name)())
    }
}

/// One operation's description.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// The request body's type.
    pub body: Option<Schema>,
    /// The query string's type: each of its fields is a parameter.
    pub query: Option<Schema>,
    pub status: u16,
    /// The answer's type; `None` for an empty answer.
    pub response: Option<Schema>,
    /// Other successful answers: status and type (`None`: no body).
    pub others: Vec<(u16, Option<Schema>)>,
    pub tag: &'static str,
}

impl Op {
    pub fn new(access: Access, summary: &'static str) -> Self {
        Op {
            method: "",
            path: "",
            summary,
            access,
            body: None,
            query: None,
            status: 200,
            response: None,
            others: Vec::new(),
            tag: "",
        }
    }

    /// The JSON body the handler reads.
    pub fn body<T: schemars::JsonSchema>(mut self) -> Self {
        self.body = Some(Schema::of::<T>());
        self
    }

    /// The query string the handler reads.
    pub fn query<T: schemars::JsonSchema>(mut self) -> Self {
        self.query = Some(Schema::of::<T>());
        self
    }

    /// The answer, with its status.
    pub fn returns<T: schemars::JsonSchema>(mut self, status: u16) -> Self {
        self.status = status;
        self.response = Some(Schema::of::<T>());
        self
    }

    /// Another answer the operation may give (`202` while a vendor is still working…).
    pub fn also<T: schemars::JsonSchema>(mut self, status: u16) -> Self {
        self.others.push((status, Some(Schema::of::<T>())));
        self
    }

    pub fn empty(mut self, status: u16) -> Self {
        self.status = status;
        self.response = None;
        self
    }
}

/// A router and the description of every operation in it.
#[derive(Debug)]
pub struct Api {
    pub router: Router<AppState>,
    pub ops: Vec<Op>,
    tag: &'static str,
}

impl Api {
    pub fn new(tag: &'static str) -> Self {
        Api {
            router: Router::new(),
            ops: Vec::new(),
            tag,
        }
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        handler: MethodRouter<AppState>,
        op: Op,
    ) -> Self {
        self.router = self.router.route(path, handler);
        self.ops.push(Op {
            method,
            path,
            tag: self.tag,
            ..op
        });
        self
    }

    pub fn get(self, path: &'static str, h: MethodRouter<AppState>, op: Op) -> Self {
        self.add("get", path, h, op)
    }

    pub fn post(self, path: &'static str, h: MethodRouter<AppState>, op: Op) -> Self {
        self.add("post", path, h, op)
    }

    pub fn put(self, path: &'static str, h: MethodRouter<AppState>, op: Op) -> Self {
        self.add("put", path, h, op)
    }

    pub fn patch(self, path: &'static str, h: MethodRouter<AppState>, op: Op) -> Self {
        self.add("patch", path, h, op)
    }

    pub fn delete(self, path: &'static str, h: MethodRouter<AppState>, op: Op) -> Self {
        self.add("delete", path, h, op)
    }

    pub fn merge(mut self, other: Api) -> Self {
        self.router = self.router.merge(other.router);
        self.ops.extend(other.ops);
        self
    }
}
