//! `zabkeeper cli`: a shell for people who know zkCli.sh, with its commands, options, messages
//! and output layout (scripts that parse zkCli's output parse this), line editing, history and
//! tab completion of commands and paths; or one command given on the command line
//! (`zabkeeper cli --server H:P get /x`), exiting non-zero when it fails, with `--json` for
//! scripts. Works against any ZooKeeper-compatible server.

mod commands;
mod session;

use std::cell::RefCell;
use std::io::{BufRead, IsTerminal, Write};
use std::rc::Rc;

use clap::Args;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

pub use commands::split_words;
use session::Session;

#[derive(Args, Debug, Clone)]
pub struct CliArgs {
    /// The server to connect to (host:port), as zkCli's -server.
    #[arg(long, default_value = "127.0.0.1:2181")]
    server: String,
    /// Print each command's result as one JSON value (for scripts), and no watch events.
    #[arg(long)]
    json: bool,
    /// A command to run instead of the shell, e.g. `get -s /app`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Lines of history kept in the file.
const HISTORY_MAX: usize = 1000;

/// The shell's state: the session (none after `close`), the history of commands.
pub struct Shell {
    pub session: Option<Session>,
    pub server: String,
    pub json: bool,
    /// Watch events are printed (the shell, not --json, not one command).
    pub events: bool,
    pub history: Vec<String>,
}

/// What a command asks of the shell after it ran.
pub enum Next {
    Go,
    Quit,
}

impl Shell {
    fn prompt(&self) -> String {
        let state = if self.session.is_some() { "CONNECTED" } else { "CLOSED" };
        format!("[zk: {}({state}) {}] ", self.server, self.history.len())
    }
}

/// Runs the shell or the one command; the exit status.
pub fn run(args: CliArgs) -> Result<bool, String> {
    // The shell prints watch events as zkCli does; one command (for scripts) prints only its
    // result.
    let events = !args.json && args.command.is_empty();
    let session = Session::open(&args.server, events)?;
    let mut shell =
        Shell { session: Some(session), server: args.server.clone(), json: args.json, events, history: Vec::new() };
    if !args.command.is_empty() {
        let words = args.command.clone();
        let ok = commands::execute(&mut shell, &words).0;
        if let Some(s) = shell.session.take() {
            s.close();
        }
        return Ok(ok);
    }
    let shell = Rc::new(RefCell::new(shell));
    if std::io::stdin().is_terminal() {
        interactive(&shell)
    } else {
        piped(&shell)
    }
    if let Some(s) = shell.borrow_mut().session.take() {
        s.close();
    }
    Ok(true)
}

/// Commands from a pipe or file, one per line, no prompt (as zkCli reads a script).
fn piped(shell: &Rc<RefCell<Shell>>) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if let Next::Quit = one_line(shell, &line) {
            return;
        }
    }
}

fn one_line(shell: &Rc<RefCell<Shell>>, line: &str) -> Next {
    let words = split_words(line);
    if words.is_empty() {
        return Next::Go;
    }
    let mut shell = shell.borrow_mut();
    shell.history.push(line.trim().to_string());
    let next = commands::execute(&mut shell, &words).1;
    let _ = std::io::stdout().flush();
    next
}

/// The line-editing shell: history in ~/.zabkeeper_history, tab completion.
fn interactive(shell: &Rc<RefCell<Shell>>) {
    let config = rustyline::Config::builder()
        .max_history_size(HISTORY_MAX)
        .map_or_else(|_| rustyline::Config::default(), |b| b.build());
    let Ok(mut editor) = Editor::<Completion, rustyline::history::DefaultHistory>::with_config(config) else {
        piped(shell);
        return;
    };
    editor.set_helper(Some(Completion { shell: Rc::clone(shell) }));
    let file = std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".zabkeeper_history"));
    if let Some(file) = &file {
        let _ = editor.load_history(file);
    }
    loop {
        let prompt = shell.borrow().prompt();
        match editor.readline(&prompt) {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                if let Next::Quit = one_line(shell, &line) {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
    if let Some(file) = &file {
        let _ = editor.save_history(file);
    }
}

/// Tab completion: command names first, then paths (asking the server for the children of
/// the path typed so far).
struct Completion {
    shell: Rc<RefCell<Shell>>,
}

impl Helper for Completion {}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Hinter for Completion {
    type Hint = String;
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start..];
        if start == 0 {
            let names = commands::NAMES.iter().filter(|n| n.starts_with(word)).map(|n| n.to_string()).collect();
            return Ok((0, names));
        }
        if !word.starts_with('/') {
            return Ok((start, Vec::new()));
        }
        let (parent, partial) = match word.rfind('/') {
            Some(0) => ("/", &word[1..]),
            Some(i) => (&word[..i], &word[i + 1..]),
            None => return Ok((start, Vec::new())),
        };
        let mut shell = self.shell.borrow_mut();
        let Some(session) = shell.session.as_mut() else { return Ok((start, Vec::new())) };
        let children = commands::children(session, parent).unwrap_or_default();
        let base = if parent == "/" { String::new() } else { parent.to_string() };
        let found = children.into_iter().filter(|c| c.starts_with(partial)).map(|c| format!("{base}/{c}")).collect();
        Ok((start, found))
    }
}
