//! `lockbridge codes …` and `lockbridge grants …`: the API from the command line.
//!
//! `codes import FILE.csv` reads every line first (header `lock_id,name,code,starts_at,ends_at`
//! in any order; `code`, `starts_at` and `ends_at` may be empty) and stops with every bad line
//! named before anything is sent; then it submits one job and follows it with a progress bar
//! (plain progress lines when the output is not a terminal), prints the lines that failed and
//! those waiting for an unreachable lock, and exits 1 if any failed, 3 if some wait.
//!
//! The job is submitted under an idempotency key made from the file's items, so running the
//! same import again (after a crash, a lost answer, a restart of the service) follows the job
//! already submitted instead of issuing every code twice; `--job ID` follows a given job.
//! Reading the job's progress is retried with backoff while the service cannot answer.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Api, ApiArgs};
use lockbridge_api::Job;
use lockbridge_core::time::to_rfc3339;

#[derive(Debug, Subcommand)]
pub enum CodesCommand {
    /// Issue codes from a CSV file (`lock_id,name,code,starts_at,ends_at`) as one bulk job.
    Import {
        file: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
        /// Print the outcome as JSON (no progress output).
        #[arg(long)]
        json: bool,
        /// How often the job's progress is read.
        #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
        poll: Duration,
        /// Follow this job (submitted earlier from the same file) instead of submitting one.
        #[arg(long)]
        job: Option<String>,
    },
    /// A lock's codes.
    List {
        /// The lock's id (`lck_…`).
        #[arg(long)]
        lock: String,
        #[command(flatten)]
        api: ApiArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// Give one person access to several locks with one PIN (generated when not given).
    Create {
        #[arg(long)]
        name: String,
        /// A lock's id; repeat for each lock.
        #[arg(long = "lock", required = true)]
        locks: Vec<String>,
        #[arg(long)]
        code: Option<String>,
        /// RFC 3339, with `--ends-at`.
        #[arg(long, requires = "ends_at")]
        starts_at: Option<String>,
        #[arg(long, requires = "starts_at")]
        ends_at: Option<String>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// One line of the file, as an item of the job.
struct Line {
    number: u64,
    lock_id: String,
    item: Value,
}

const COLUMNS: [&str; 5] = ["lock_id", "name", "code", "starts_at", "ends_at"];

/// Reads the file; every problem is named by line and column, all of them at once.
fn read_csv(file: &PathBuf) -> anyhow::Result<Result<Vec<Line>, Vec<String>>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("could not read {}", file.display()))?;
    let header = reader
        .headers()
        .context("the file has no header line")?
        .clone();
    let mut problems = Vec::new();
    let at: Vec<Option<usize>> = COLUMNS
        .iter()
        .map(|c| header.iter().position(|h| h == *c))
        .collect();
    for h in header.iter().filter(|h| !COLUMNS.contains(h)) {
        problems.push(format!(
            "line 1: unknown column {h:?} (the columns are {})",
            COLUMNS.join(",")
        ));
    }
    for c in COLUMNS {
        if header.iter().filter(|h| *h == c).count() > 1 {
            problems.push(format!(
                "line 1: the column {c} is given more than once (which one counts?)"
            ));
        }
    }
    if at[0].is_none() {
        problems.push("line 1: the header has no lock_id column".to_owned());
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let number = record.position().map_or(0, |p| p.line());
        let get = |i: usize| at[i].and_then(|c| record.get(c)).filter(|v| !v.is_empty());
        let mut bad =
            |column: &str, rule: &str| problems.push(format!("line {number}: {column}: {rule}"));
        let Some(lock_id) = get(0) else {
            bad("lock_id", "is required");
            continue;
        };
        let mut item = json!({"lock_id": lock_id});
        if let Some(name) = get(1) {
            item["name"] = json!(name);
        }
        if let Some(code) = get(2) {
            if !code.chars().all(|c| c.is_ascii_digit()) {
                bad(
                    "code",
                    "must be digits only (or empty, to have one generated)",
                );
            }
            item["code"] = json!(code);
        }
        for (i, column) in [(3, "starts_at"), (4, "ends_at")] {
            if let Some(t) = get(i) {
                match lockbridge_core::time::parse_rfc3339(t) {
                    Some(_) => item[column] = json!(t),
                    None => bad(column, "must be an RFC 3339 time like 2027-05-01T15:00:00Z"),
                }
            }
        }
        if get(3).is_some() != get(4).is_some() {
            bad(
                "starts_at",
                "starts_at and ends_at go together (both, or neither for a permanent code)",
            );
        }
        lines.push(Line {
            number,
            lock_id: lock_id.to_owned(),
            item,
        });
    }
    if lines.is_empty() && problems.is_empty() {
        problems.push("the file has no lines after its header".to_owned());
    }
    Ok(if problems.is_empty() {
        Ok(lines)
    } else {
        Err(problems)
    })
}

/// Shows a job's progress: a bar on a terminal, a line per change otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last: (u64, u64),
}

impl Progress {
    fn new(total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40.cyan/blue} {pos}/{len} done, {msg} failed · {per_sec} · ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            last: (u64::MAX, u64::MAX),
        }
    }

    fn show(&mut self, job: &Job, quiet: bool) {
        let (failed, total) = (job.failed.max(0) as u64, job.total.max(0) as u64);
        let done = job.succeeded.max(0) as u64 + failed;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(failed.to_string());
            return;
        }
        if quiet || (done, failed) == self.last {
            return;
        }
        self.last = (done, failed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0}s", total.saturating_sub(done) as f64 / rate)
        } else {
            "?".to_owned()
        };
        eprintln!("progress: {done}/{total} done, {failed} failed, {rate:.1}/s, ETA {eta}");
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Exit codes: 0 every line set, 1 some failed, 2 the file was refused before sending, 3 none
/// failed but some wait for an unreachable lock or gateway (their codes are set when it answers).
pub async fn run(command: CodesCommand) -> anyhow::Result<i32> {
    match command {
        CodesCommand::Import {
            file,
            api,
            json,
            poll,
            job,
        } => import(&file, &api, json, poll, job).await,
        CodesCommand::List { lock, api, json } => {
            let codes = Api::new(&api)?.codes(&lock).await?;
            if json {
                let rows: Vec<Value> = codes
                    .iter()
                    .map(|c| json!({"id": c.id, "code": c.code, "name": c.name, "status": c.status,
                                    "starts_at": c.starts_at.map(to_rfc3339), "ends_at": c.ends_at.map(to_rfc3339),
                                    "managed": c.managed}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for c in &codes {
                    let period = match (c.starts_at, c.ends_at) {
                        (Some(s), Some(e)) => format!("{} → {}", to_rfc3339(s), to_rfc3339(e)),
                        _ => "permanent".to_owned(),
                    };
                    let name = crate::printable(c.name.as_deref().unwrap_or("-"));
                    println!(
                        "{}  {:<9} {:<10} {name}  ({period})",
                        c.id,
                        c.status.as_str(),
                        c.code
                    );
                }
            }
            Ok(0)
        }
    }
}

/// The idempotency key of an import: the same items make the same key.
fn import_key(items: &[Value]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(Value::Array(items.to_vec()).to_string());
    format!("import:{}", hex::encode(&digest[..16]))
}

/// `call` again, waiting `poll` and doubling up to 30 s, while it fails in a way that may pass
/// (the service restarting, a proxy's 502); about five minutes in all.
async fn retried<T, F, Fut>(poll: Duration, quiet: bool, mut call: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::client::CallError>>,
{
    let mut wait = poll.max(Duration::from_millis(100));
    let mut waited = Duration::ZERO;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.transient && waited < Duration::from_secs(300) => {
                if !quiet {
                    eprintln!("{e}; trying again in {}", humantime::format_duration(wait));
                }
                tokio::time::sleep(wait).await;
                waited += wait;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            Err(e) => return Err(e.error),
        }
    }
}

async fn import(
    file: &PathBuf,
    args: &ApiArgs,
    json: bool,
    poll: Duration,
    follow: Option<String>,
) -> anyhow::Result<i32> {
    let lines = match read_csv(file)? {
        Ok(lines) => lines,
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: {}", file.display(), crate::printable(p));
            }
            eprintln!("nothing was sent: fix the lines above and run the import again");
            return Ok(2);
        }
    };
    let api = Api::new(args)?;
    let items: Vec<Value> = lines.iter().map(|l| l.item.clone()).collect();
    let mut job = match &follow {
        Some(id) => retried(poll, json, || api.job(id)).await?,
        None => {
            let key = import_key(&items);
            retried(poll, json, || api.submit_codes(items.clone(), &key)).await?
        }
    };
    if !json {
        eprintln!("job {}: {} codes", job.id, job.total);
    }
    let mut progress = Progress::new(job.total.max(0) as u64, json);
    loop {
        progress.show(&job, json);
        if job.finished() {
            break;
        }
        tokio::time::sleep(poll).await;
        let id = job.id.to_string();
        job = retried(poll, json, || api.job(&id)).await?;
    }
    progress.finish();
    let line_of = |index: i64| {
        let line = usize::try_from(index).ok().and_then(|i| lines.get(i));
        (line.map(|l| l.number), line.map(|l| l.lock_id.clone()))
    };
    let failed: Vec<Value> = job
        .errors
        .iter()
        .map(|e| {
            let (line, lock) = line_of(e.index);
            json!({"line": line, "lock_id": lock, "code": e.error.code, "message": e.error.message})
        })
        .collect();
    let waiting: Vec<Value> = job
        .waiting
        .iter()
        .map(|w| {
            let (line, lock) = line_of(w.index);
            json!({"line": line, "lock_id": lock, "access_code_id": w.access_code_id})
        })
        .collect();
    if json {
        let out = json!({"job_id": job.id, "status": job.status, "total": job.total,
                         "succeeded": job.succeeded, "failed": job.failed, "errors": failed,
                         "waiting": waiting});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for f in &failed {
            eprintln!(
                "line {} (lock {}): {} ({})",
                f["line"],
                crate::printable(f["lock_id"].as_str().unwrap_or("?")),
                crate::printable(f["message"].as_str().unwrap_or("")),
                crate::printable(f["code"].as_str().unwrap_or(""))
            );
        }
        for w in &waiting {
            eprintln!(
                "line {} (lock {}): waiting: the lock or its gateway cannot be reached; code {} is set when it answers",
                w["line"],
                crate::printable(w["lock_id"].as_str().unwrap_or("?")),
                crate::printable(w["access_code_id"].as_str().unwrap_or("?"))
            );
        }
        eprintln!(
            "{} of {} set, {} failed, {} waiting",
            job.succeeded,
            job.total,
            job.failed,
            waiting.len()
        );
    }
    Ok(if job.failed > 0 {
        1
    } else if waiting.is_empty() {
        0
    } else {
        3
    })
}

/// `grants create`: prints the grant's PIN(s) and status.
pub async fn grants(command: GrantsCommand) -> anyhow::Result<i32> {
    let GrantsCommand::Create {
        name,
        locks,
        code,
        starts_at,
        ends_at,
        api,
    } = command;
    let mut body = json!({"name": name, "lock_ids": locks});
    if let Some(c) = code {
        body["code"] = json!(c);
    }
    if let (Some(s), Some(e)) = (starts_at, ends_at) {
        body["starts_at"] = json!(s);
        body["ends_at"] = json!(e);
    }
    let grant = Api::new(&api)?.create_grant(&body).await?;
    println!("{}", serde_json::to_string_pretty(&grant)?);
    Ok(0)
}
