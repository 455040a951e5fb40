//! Payload transformations: a jq program (run by `jaq`) that an endpoint,
//! or a one-off replay, applies to an event's payload before it is signed
//! and sent.
//!
//! A program is untrusted input: `jaq` has no way to stop a program that
//! loops or recurses without end, and deep recursion overflows the stack,
//! which aborts a process. So programs never run in the server: they run in
//! worker processes of Herald's own binary (`herald transform-worker`),
//! spoken to over pipes, one JSON line each way. A worker that overruns its
//! time limit is killed and replaced; one that dies (a stack overflow, the
//! memory limit) costs the attempt its transform, never the server. Workers
//! start with an empty environment (`env` and `$ENV` read nothing) and
//! `env` is not among the functions a program may call.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

/// The longest program, in bytes.
pub const MAX_PROGRAM_BYTES: usize = 4 * 1024;
/// How long one run may take, start to answer.
pub const TIME_LIMIT: Duration = Duration::from_secs(1);
/// The largest output, as JSON text.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Memory (data segment) a worker may use: a program that builds a huge value
/// fails its allocation and ends the worker, not the machine.
pub const WORKER_MEMORY_BYTES: u64 = 1024 * 1024 * 1024;
/// The subcommand that makes the binary a worker.
pub const WORKER_COMMAND: &str = "transform-worker";

/// One request to a worker: check `program` compiles, or also run it on
/// `input` (JSON text).
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    program: String,
    #[serde(default)]
    input: Option<String>,
    max_output: usize,
}

/// A worker's answer: the output (none for a check), or what went wrong.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Ok(Option<Value>),
    Error(String),
}

/// Why a transform gave no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// The program does not compile, or failed, or its output is unusable.
    #[error("{0}")]
    Program(String),
    /// The program ran past its time limit.
    #[error("the transform ran longer than its limit of {} ms and was stopped", TIME_LIMIT.as_millis())]
    TimedOut,
    /// The worker ended without an answer (a stack overflow, the memory limit).
    #[error("the transform stopped its worker (too deep a recursion or too much memory)")]
    Crashed,
    /// Herald could not start or reach a worker.
    #[error("no transform worker could be started: {0}")]
    Unavailable(String),
}

/// Where the worker program is, and how many run at once.
#[derive(Debug, Clone)]
pub struct TransformConfig {
    /// The binary to start with `transform-worker` (Herald's own).
    pub program: PathBuf,
    pub workers: usize,
}

impl Default for TransformConfig {
    fn default() -> Self {
        Self {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("herald")),
            workers: 2,
        }
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// A few worker processes, started when first needed and replaced when one
/// is stopped or dies.
pub struct TransformPool {
    config: TransformConfig,
    slots: Vec<Mutex<Option<Worker>>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for TransformPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformPool")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TransformPool {
    pub fn new(config: TransformConfig) -> Self {
        let slots = (0..config.workers.max(1))
            .map(|_| Mutex::new(None))
            .collect();
        Self {
            config,
            slots,
            next: AtomicUsize::new(0),
        }
    }

    /// Checks that a program compiles (nothing runs).
    pub async fn check(&self, program: &str) -> Result<(), TransformError> {
        check_size(program)?;
        self.call(Job {
            program: program.to_owned(),
            input: None,
            max_output: MAX_OUTPUT_BYTES,
        })
        .await
        .map(drop)
    }

    /// Runs a program on a payload (JSON text): its first output.
    pub async fn run(&self, program: &str, payload: &str) -> Result<Value, TransformError> {
        check_size(program)?;
        self.call(Job {
            program: program.to_owned(),
            input: Some(payload.to_owned()),
            max_output: MAX_OUTPUT_BYTES,
        })
        .await?
        .ok_or_else(|| TransformError::Program("the transform gave no output".into()))
    }

    async fn call(&self, job: Job) -> Result<Option<Value>, TransformError> {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[at].lock().await;
        let worker = match slot.as_mut() {
            Some(worker) => worker,
            None => slot.insert(self.spawn()?),
        };
        let mut line =
            serde_json::to_string(&job).map_err(|e| TransformError::Unavailable(e.to_string()))?;
        line.push('\n');
        let exchange = async {
            worker.stdin.write_all(line.as_bytes()).await?;
            worker.stdin.flush().await?;
            let mut answer = String::new();
            let read = worker.stdout.read_line(&mut answer).await?;
            std::io::Result::Ok((read, answer))
        };
        let outcome = tokio::time::timeout(TIME_LIMIT, exchange).await;
        let answer = match outcome {
            Err(_) => {
                // Killed on drop; the next call starts a new one.
                slot.take();
                return Err(TransformError::TimedOut);
            }
            Ok(Ok((read, answer))) if read > 0 => answer,
            Ok(_) => {
                slot.take();
                return Err(TransformError::Crashed);
            }
        };
        match serde_json::from_str::<Answer>(&answer) {
            Ok(Answer::Ok(value)) => Ok(value),
            Ok(Answer::Error(message)) => Err(TransformError::Program(message)),
            Err(e) => {
                slot.take();
                Err(TransformError::Unavailable(format!(
                    "the worker answered something else: {e}"
                )))
            }
        }
    }

    fn spawn(&self) -> Result<Worker, TransformError> {
        let mut child = Command::new(&self.config.program)
            .arg(WORKER_COMMAND)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                TransformError::Unavailable(format!("{}: {e}", self.config.program.display()))
            })?;
        let stdin = child.stdin.take().ok_or_else(|| {
            TransformError::Unavailable("the worker's input is not a pipe".into())
        })?;
        let stdout = child.stdout.take().ok_or_else(|| {
            TransformError::Unavailable("the worker's output is not a pipe".into())
        })?;
        Ok(Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        })
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn check_size(program: &str) -> Result<(), TransformError> {
    if program.trim().is_empty() {
        return Err(TransformError::Program("the program is empty".into()));
    }
    if program.len() > MAX_PROGRAM_BYTES {
        return Err(TransformError::Program(format!(
            "the program is {} bytes, more than the limit of {MAX_PROGRAM_BYTES}",
            program.len()
        )));
    }
    Ok(())
}

/// The worker: answers jobs from standard input until it closes. Runs in a
/// process of its own (`herald transform-worker`).
pub fn worker_main() -> std::io::Result<()> {
    use std::io::{BufRead, Write};
    // A program that builds a huge value fails its allocation: the worker
    // ends, the server carries on.
    let _ = rlimit::Resource::DATA.set(WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES);
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line?;
        let answer = match serde_json::from_str::<Job>(&line) {
            Ok(job) => match execute(&job.program, job.input.as_deref(), job.max_output) {
                Ok(value) => Answer::Ok(value),
                Err(message) => Answer::Error(message),
            },
            Err(e) => Answer::Error(format!("not a job: {e}")),
        };
        let mut text = serde_json::to_string(&answer)
            .unwrap_or_else(|_| r#"{"error":"the answer could not be written"}"#.to_owned());
        text.push('\n');
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
    }
    Ok(())
}

/// Compiles `program` and, given an input (JSON text), runs it: the first
/// output, as JSON. In process: only a worker calls this.
pub fn execute(
    program: &str,
    input: Option<&str>,
    max_output: usize,
) -> Result<Option<Value>, String> {
    use jaq_core::load::{Arena, File, Loader};
    use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
    use jaq_json::Val;

    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, ..)| *name != "env");
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let file = File {
        code: program,
        path: (),
    };
    let modules = loader
        .load(&arena, file)
        .map_err(|errors| load_message(program, &errors))?;
    let filter = Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errors| {
            let names: Vec<String> = errors
                .iter()
                .flat_map(|(_, e)| e.iter())
                .map(|(name, kind)| format!("undefined {} '{name}'", kind.as_str()))
                .collect();
            format!("does not compile: {}", names.join("; "))
        })?;
    let Some(input) = input else {
        return Ok(None);
    };
    let input = jaq_json::read::parse_single(input.as_bytes())
        .map_err(|e| format!("the payload is not JSON: {e}"))?;
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
    let mut outputs = filter.id.run((ctx, input)).map(unwrap_valr);
    let first = match outputs.next() {
        None => return Err("the transform gave no output".into()),
        Some(Err(e)) => return Err(format!("the transform failed: {e}")),
        Some(Ok(value)) => value,
    };
    let text = first.to_string();
    if text.len() > max_output {
        return Err(format!(
            "the transform's output is {} bytes, more than the limit of {max_output}",
            text.len()
        ));
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("the transform's output is not JSON: {e}"))
}

/// A load (lex or parse) error as a message naming where it is.
fn load_message<P>(program: &str, errors: &jaq_core::load::Errors<&str, P>) -> String {
    use jaq_core::load::Error;
    let at = |rest: &str| {
        let offset = (rest.as_ptr() as usize).saturating_sub(program.as_ptr() as usize);
        program[..offset.min(program.len())].chars().count() + 1
    };
    let mut messages = Vec::new();
    for (_, error) in errors {
        match error {
            Error::Io(io) => messages.extend(io.iter().map(|(path, e)| format!("{path}: {e}"))),
            Error::Lex(lex) => messages.extend(lex.iter().map(|(expect, rest)| {
                format!("expected {} at character {}", expect.as_str(), at(rest))
            })),
            Error::Parse(parse) => messages.extend(parse.iter().map(|(expect, rest)| {
                format!("expected {} at character {}", expect.as_str(), at(rest))
            })),
        }
    }
    format!("does not parse: {}", messages.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(program: &str, input: Value) -> Result<Option<Value>, String> {
        execute(program, Some(&input.to_string()), MAX_OUTPUT_BYTES)
    }

    #[test]
    fn a_program_reshapes_the_payload() {
        let out = run(
            "{id: .order.id, total: (.items | map(.price * .qty) | add)}",
            json!({"order": {"id": "o1"}, "items": [{"price": 2, "qty": 3}, {"price": 1, "qty": 4}]}),
        );
        assert_eq!(out, Ok(Some(json!({"id": "o1", "total": 10}))));
    }

    #[test]
    fn errors_name_what_went_wrong() {
        let parse = execute("{a: .b", None, MAX_OUTPUT_BYTES).unwrap_err();
        assert!(parse.starts_with("does not parse"), "{parse}");
        let undefined = execute("nosuchfn(1)", None, MAX_OUTPUT_BYTES).unwrap_err();
        assert!(
            undefined.contains("undefined filter 'nosuchfn'"),
            "{undefined}"
        );
        let failed = run(".a + 1", json!({"a": "x"})).unwrap_err();
        assert!(failed.starts_with("the transform failed"), "{failed}");
        assert_eq!(
            run("empty", json!({})).unwrap_err(),
            "the transform gave no output"
        );
        let big = execute("[range(100000)]", Some("{}"), 1_000).unwrap_err();
        assert!(big.contains("more than the limit of 1000"), "{big}");
    }

    #[test]
    fn the_environment_is_out_of_reach() {
        let env = execute("env", None, MAX_OUTPUT_BYTES).unwrap_err();
        assert!(env.contains("undefined filter 'env'"), "{env}");
    }
}
