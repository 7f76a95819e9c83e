pub mod access_codes;
pub mod api_keys;
pub mod bff;
pub(crate) mod code_changes;
pub mod connections;
pub mod events;
pub mod grants;
pub mod jobs;
pub mod locks;
pub mod stays;
pub mod system;
pub mod things;
pub mod vendor_hooks;
pub mod webhooks;

pub use lockbridge_api::Page as List;
