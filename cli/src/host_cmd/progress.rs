//! `--wait` progress: one line per host with its state. On a terminal the
//! lines are live (indicatif spinners, redrawn in place, each state change
//! also kept above them); otherwise plain `HOST: OLD → NEW` lines, so logs
//! and pipes stay readable.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use metal3_provisioning::store::ObjectKey;

/// Above this many hosts a terminal gets one summary bar instead of a
/// line per host (a screen holds no more).
const MAX_LIVE_LINES: usize = 40;

/// Where progress goes.
pub enum Progress {
    /// Plain lines on stdout (`true`) or stderr.
    Plain(bool),
    /// Live display on a terminal.
    Live {
        multi: MultiProgress,
        bars: HashMap<ObjectKey, ProgressBar>,
        summary: Option<ProgressBar>,
    },
}

impl Progress {
    /// Live when the chosen stream is a terminal, else plain lines.
    pub fn new(keys: &[ObjectKey], initial: &HashMap<ObjectKey, String>, stdout: bool) -> Self {
        let tty = if stdout {
            std::io::stdout().is_terminal()
        } else {
            std::io::stderr().is_terminal()
        };
        if !tty {
            return Progress::Plain(stdout);
        }
        let target = if stdout {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::stderr()
        };
        let multi = MultiProgress::with_draw_target(target);
        let width = keys.iter().map(|k| k.name.len()).max().unwrap_or(0);
        let spinner =
            ProgressStyle::with_template(&format!("{{spinner}} {{prefix:<{width}}}  {{msg}}"))
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let mut bars = HashMap::new();
        let mut summary = None;
        if keys.len() <= MAX_LIVE_LINES {
            for k in keys {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(spinner.clone());
                b.set_prefix(k.name.clone());
                b.set_message(initial.get(k).cloned().unwrap_or_default());
                b.enable_steady_tick(Duration::from_millis(120));
                bars.insert(k.clone(), b);
            }
        } else {
            let b = multi.add(ProgressBar::new(keys.len() as u64));
            b.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} hosts settled  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            summary = Some(b);
        }
        Progress::Live {
            multi,
            bars,
            summary,
        }
    }

    /// A host changed state.
    pub fn changed(&self, key: &ObjectKey, before: &str, now: &str) {
        let line = format!("{}: {before} → {now}", key.name);
        match self {
            Progress::Plain(true) => println!("{line}"),
            Progress::Plain(false) => eprintln!("{line}"),
            Progress::Live { multi, bars, .. } => {
                if let Some(b) = bars.get(key) {
                    b.set_message(now.to_string());
                }
                // Keep the history above the live lines.
                let _ = multi.println(line);
            }
        }
    }

    /// A plain message (kept above the live lines).
    pub fn line(&self, text: &str) {
        match self {
            Progress::Plain(true) => println!("{text}"),
            Progress::Plain(false) => eprintln!("{text}"),
            Progress::Live { multi, .. } => {
                let _ = multi.println(text);
            }
        }
    }

    /// How many hosts are settled so far (summary bar only).
    pub fn settled(&self, n: usize) {
        if let Progress::Live {
            summary: Some(b), ..
        } = self
        {
            b.set_position(n as u64);
        }
    }

    /// Stops the live lines, leaving each host's final state on screen.
    pub fn finish(&self, last: &HashMap<ObjectKey, String>) {
        if let Progress::Live { bars, summary, .. } = self {
            for (k, b) in bars {
                b.finish_with_message(last.get(k).cloned().unwrap_or_default());
            }
            if let Some(b) = summary {
                b.finish();
            }
        }
    }
}
