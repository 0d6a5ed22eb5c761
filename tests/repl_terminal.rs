//! `tfg repl` on a terminal: a session driven through tmux (send-keys to type,
//! capture-pane to read the screen), as a user at a terminal would drive it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long the screen may take to show what a step waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// A tmux server of its own, running `tfg repl` in its one window.
struct Terminal {
    socket: String,
    /// How much of the screen's text earlier steps have seen.
    seen: usize,
}

impl Terminal {
    /// Starts `tfg repl ARGS` in a 120×50 terminal with `data` as the data
    /// directory, or `None` where tmux is missing (a failure where
    /// `TFG_REQUIRE_TMUX` is set, as `scripts/test` sets it).
    fn start(test: &str, data: &Path, args: &[&str]) -> Option<Terminal> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("TFG_REQUIRE_TMUX").is_none(),
                "tmux is required (TFG_REQUIRE_TMUX) but not found"
            );
            eprintln!("skipped: no tmux (scripts/test installs it)");
            return None;
        }
        let socket = format!("tfg-{test}-{}", std::process::id());
        let command = format!(
            "env XDG_DATA_HOME='{}' TERM=xterm-256color '{}' repl {}",
            data.display(),
            env!("CARGO_BIN_EXE_tfg"),
            args.join(" ")
        );
        let terminal = Terminal { socket, seen: 0 };
        let size = ["-x", "120", "-y", "50"];
        let dir = env!("CARGO_MANIFEST_DIR");
        terminal.tmux(&[&["new-session", "-d", "-c", dir][..], &size, &[&command]].concat());
        Some(terminal)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Everything the window has shown, wrapped lines joined.
    fn screen(&self) -> String {
        let text = self.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
        text.trim_end().to_string()
    }

    /// Types `keys` literally, then presses Enter.
    fn line(&mut self, keys: &str) {
        self.keys(keys);
        self.tmux(&["send-keys", "Enter"]);
    }

    /// Types `keys` literally.
    fn keys(&mut self, keys: &str) {
        self.seen = self.screen().len();
        self.tmux(&["send-keys", "-l", keys]);
    }

    /// Waits until the screen shows every one of `texts` after what the
    /// previous steps saw.
    fn expect(&mut self, texts: &[&str]) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            let new = screen.get(self.seen..).unwrap_or("");
            if texts.iter().all(|t| new.contains(t)) {
                return new.to_string();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the screen never showed {texts:?}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn history(data: &Path) -> PathBuf {
    data.join("tfg").join("history")
}

#[test]
fn a_terminal_session_defines_runs_survives_errors_and_trains() {
    let data = common::scratch("repl_terminal");
    let Some(mut t) = Terminal::start("session", &data, &["--graph", "hello"]) else {
        return;
    };
    t.expect(&["graph `hello`", ">>>"]);
    t.line("input x: f32 = 1.0");
    t.expect(&["x = 1.0 : f32"]);
    t.line("param w: f32 = 0.8");
    t.expect(&["w = 0.8 : f32"]);
    t.line("y = w * x");
    t.expect(&["y = 0.8 : f32"]);
    t.line("loss = (y - 0.0) ** 2");
    t.expect(&["loss = 0.64000005 : f32"]);
    t.line("output y, loss");
    t.line("y");
    t.expect(&["y = 0.8 : f32"]);

    t.line(":ir");
    t.expect(&[
        "graph hello {",
        "%y = mul %w, %x : f32",
        "output y = %y, loss = %loss",
    ]);
    t.line(":time y * 2");
    t.expect(&["_1 = 1.6 : f32", "compile ", " ms, run ", " ms"]);

    // Errors show the caret under the typed line, and the session goes on.
    t.line("z = y +");
    t.expect(&[
        "error: expected an expression",
        "1 | z = y +",
        "  |        ^",
    ]);
    t.line("z = w @ [1, 2]");
    t.expect(&[
        "error: matmul",
        "1 | z = w @ [1, 2]",
        "  |     ^^^^^^^^^^ in `@`",
    ]);

    // Tab completes a builtin: `maxi` → `maximum`; max(y, 2y) = 1.6.
    t.keys("maxi");
    t.tmux(&["send-keys", "Tab"]);
    t.expect(&["maximum"]);
    t.line("(y, 2 * y)");
    t.expect(&["_2 = 1.6 : f32"]);

    // A train item over several lines: the entry goes on until its `}`.
    t.line("train hello {");
    t.line("    minimize loss; optimizer sgd(lr = 0.025)");
    t.line("    steps 100");
    t.line("}");
    t.expect(&["train item set"]);
    t.line(":train");
    t.expect(&["trained 100 steps", "final_loss = "]);
    t.line("y");
    // 0.8 · 0.95¹⁰⁰: each sgd step with lr 0.025 scales w by 0.95.
    t.expect(&["y = 0.0047364226 : f32"]);

    // The file appears before rustyline has written into it: wait for the
    // line itself, not for the file.
    t.tmux(&["send-keys", "C-d"]);
    let started = Instant::now();
    let read = || std::fs::read_to_string(history(&data)).unwrap_or_default();
    while !read().contains("y = w * x\n") && started.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(50));
    }
    let kept = read();
    assert!(kept.contains("y = w * x\n"), "the history holds:\n{kept}");
}
