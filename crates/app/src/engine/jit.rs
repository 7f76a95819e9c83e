//! Just-in-time codes: where the next opening of a code's period or weekly window puts it.

use lockbridge_core::model::{AccessCode, CodeStatus};
use lockbridge_core::time::Millis;

use crate::Service;

/// Puts a just-in-time code where its next opening says: `scheduled` until `lead` before it,
/// `setting` from then on, with the opening as its window. `false` when no opening is left
/// (the period is over, or the window has no day left inside it).
pub fn place_in_time(code: &mut AccessCode, now: Millis, lead: Millis) -> bool {
    let window = match &code.schedule {
        Some(s) => s.next_occurrence(now, (code.starts_at, code.ends_at)),
        None => match (code.starts_at, code.ends_at) {
            (start, Some(end)) if end > now => Some((start.unwrap_or(now), end)),
            _ => None,
        },
    };
    let Some((start, end)) = window else {
        return false;
    };
    code.window = Some((start, end));
    if start - lead > now {
        code.status = CodeStatus::Scheduled;
        code.next_attempt_at = Some(start - lead);
    } else {
        code.status = CodeStatus::Setting;
        code.next_attempt_at = Some(now);
    }
    true
}

/// How long before an opening a just-in-time code is written (`LOCKBRIDGE_JIT_LEAD`).
pub fn lead(state: &Service) -> Millis {
    state.settings.jit_lead.as_millis() as i64
}
