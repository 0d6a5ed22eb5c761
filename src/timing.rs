//! `--bench N` on `tfg run` and `tfg train`: how long compiling took and how
//! long each of N timed runs (or training steps) took after a warm-up, as the
//! `"timing"` member of the `--json` object and as two lines of text.
//!
//! Compile time is from the `.tfg` text to runnable code: the frontend, the
//! pass pipeline and code generation, not reading files or feeds.

use std::time::{Duration, Instant};
use tfg_driver::train::Reduced;

/// What `--bench` measured.
pub struct Timing {
    pub compile: Duration,
    runs: Vec<Duration>,
    /// Data-parallel training: each step's exchange.
    all_reduce: Vec<Reduced>,
    /// On the `cpu` backend, whether the timed runs ran LLVM's code (the
    /// tier-up) or Cranelift's.
    pub llvm: Option<bool>,
}

impl Timing {
    pub fn new(compile: Duration) -> Timing {
        Timing {
            compile,
            runs: Vec::new(),
            all_reduce: Vec::new(),
            llvm: None,
        }
    }

    /// Times `f` as one run.
    pub fn run<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.runs.push(started.elapsed());
        out
    }

    /// Records a run timed elsewhere.
    pub fn record(&mut self, run: Duration) {
        self.runs.push(run);
    }

    /// Records a step's exchange, part of the step's time.
    pub fn record_all_reduce(&mut self, reduced: Reduced) {
        self.all_reduce.push(reduced);
    }

    /// The bytes a step all-reduced, and the median wait and all-reduce in ms.
    fn exchange(&self) -> Option<(usize, f64, f64)> {
        let last = self.all_reduce.last()?;
        let waited: Vec<Duration> = self.all_reduce.iter().map(|r| r.waited).collect();
        let took: Vec<Duration> = self.all_reduce.iter().map(|r| r.took).collect();
        Some((last.bytes, stats(&waited).0, stats(&took).0))
    }

    /// `{"compile_ms": …, "run_ms": {"median": …, "min": …, "max": …}}`,
    /// `"cpu_code": "llvm"|"cranelift"` where known, and `"all_reduce":
    /// {"bytes": …, "median_ms": …, "wait_median_ms": …}` after
    /// data-parallel steps.
    pub fn json(&self) -> String {
        let (median, min, max) = stats(&self.runs);
        let reduced = match self.exchange() {
            None => String::new(),
            Some((bytes, waited, took)) => format!(
                ", \"all_reduce\": {{\"bytes\": {bytes}, \"median_ms\": {took:?}, \"wait_median_ms\": {waited:?}}}"
            ),
        };
        let code = match self.llvm {
            None => "",
            Some(true) => ", \"cpu_code\": \"llvm\"",
            Some(false) => ", \"cpu_code\": \"cranelift\"",
        };
        format!(
            "{{\"compile_ms\": {:?}, \"run_ms\": {{\"median\": {median:?}, \"min\": {min:?}, \"max\": {max:?}}}{code}{reduced}}}",
            millis(self.compile)
        )
    }

    /// Two lines for people (three after data-parallel steps); `per` names
    /// what was timed ("run", "step").
    pub fn text(&self, per: &str) -> String {
        let (median, min, max) = stats(&self.runs);
        let reduced = match self.exchange() {
            None => String::new(),
            Some((bytes, waited, took)) => format!(
                "all-reduce: {bytes} bytes a {per}, median {took:.3} ms (and {waited:.3} ms waiting for the slowest rank)\n"
            ),
        };
        format!(
            "compile: {:.3} ms\n{per}: median {median:.3} ms, min {min:.3} ms, max {max:.3} ms over {} {per}s\n{reduced}",
            millis(self.compile),
            self.runs.len()
        )
    }
}

/// (median, min, max) of `runs` in milliseconds; the median of an even count
/// is the mean of the middle two. Zeros when nothing ran.
fn stats(runs: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = runs.iter().map(|d| millis(*d)).collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    match (ms.first(), ms.last()) {
        (Some(&min), Some(&max)) => {
            let median = if n % 2 == 1 {
                ms[n / 2]
            } else {
                (ms[n / 2 - 1] + ms[n / 2]) / 2.0
            };
            (median, min, max)
        }
        _ => (0.0, 0.0, 0.0),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Adds `"timing": …` as the last member of a `--json` object (`report` ends in `}\n`).
pub fn with_timing(report: &str, timing: &Timing) -> String {
    tfg_formats::json::with_member(report, "timing", &timing.json())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(compile_ms: u64, runs_ms: &[u64]) -> Timing {
        let mut t = Timing::new(Duration::from_millis(compile_ms));
        for &r in runs_ms {
            t.record(Duration::from_millis(r));
        }
        t
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(stats(&timing(0, &[5, 1, 3]).runs), (3.0, 1.0, 5.0));
        assert_eq!(stats(&timing(0, &[4, 1, 2, 8]).runs), (3.0, 1.0, 8.0));
    }

    #[test]
    fn timing_is_the_last_member_of_the_report() {
        let t = timing(12, &[2, 4, 3]);
        let text = with_timing("{\"outputs\": {\"y\": {}}}\n", &t);
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            parsed,
            serde_json::json!({
                "outputs": {"y": {}},
                "timing": {"compile_ms": 12.0, "run_ms": {"median": 3.0, "min": 2.0, "max": 4.0}}
            })
        );
        assert!(text.ends_with("}}}\n"));
    }
}
