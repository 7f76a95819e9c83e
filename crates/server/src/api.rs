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

/// One operation's description.
#[derive(Debug, Clone)]
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// Name of the request body's schema in `components.schemas`.
    pub body: Option<&'static str>,
    pub query: &'static [&'static str],
    pub status: u16,
    /// Name of the response's schema; `None` for an empty answer.
    pub response: Option<&'static str>,
    /// Other successful answers: status and schema name (`None`: no body).
    pub others: Vec<(u16, Option<&'static str>)>,
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
            query: &[],
            status: 200,
            response: None,
            others: Vec::new(),
            tag: "",
        }
    }

    pub fn body(mut self, schema: &'static str) -> Self {
        self.body = Some(schema);
        self
    }

    pub fn query(mut self, names: &'static [&'static str]) -> Self {
        self.query = names;
        self
    }

    pub fn returns(mut self, status: u16, schema: &'static str) -> Self {
        self.status = status;
        self.response = Some(schema);
        self
    }

    /// Another answer the operation may give (`202` while a vendor is still working…).
    pub fn also(mut self, status: u16, schema: &'static str) -> Self {
        self.others.push((status, Some(schema)));
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
