//! `metal3ctl validate`: parse manifests strictly and run the admission rules
//! offline, before `kubectl apply` would find the problems one at a time.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use metal3_hostmodel::manifest::{self, ManifestError, ParseOptions};
use metal3_hostmodel::validation;
use metal3_hostmodel::Object;

/// Formats `-o` can print the parsed objects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A JSON array of the objects, in input order.
    Json,
    /// Multi-document YAML.
    Yaml,
}

/// Arguments of `metal3ctl validate`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    metal3ctl validate -f hosts.yaml\n  \
    metal3ctl validate -f manifests/ -f extra.json\n  \
    kubectl get bmh -A -o yaml | metal3ctl validate -f - -o json\n\n\
    Each problem is printed on stderr as `<kind>/<namespace>/<name>: <field path>: <message>`;\n\
    the exit status is 0 when every object is valid, 1 otherwise, 2 when input cannot be read.")]
pub struct ValidateArgs {
    /// File, directory (its *.yaml, *.yml and *.json, sorted) or `-` for stdin.
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    files: Vec<PathBuf>,
    /// Drop unknown fields instead of reporting them (as the API server prunes).
    #[arg(long)]
    lenient: bool,
    /// Print the parsed objects, exactly as stored (no defaults added).
    #[arg(short = 'o', long = "output", value_enum)]
    output: Option<Output>,
}

/// Why input could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Output could not be produced.
    #[error("{0}")]
    Output(#[from] ManifestError),
}

/// Runs `validate` and turns unreadable input into exit status 2.
pub fn main(args: ValidateArgs) -> ExitCode {
    run(args).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// Runs `validate`; problems go to stderr, objects (with `-o`) to stdout.
pub fn run(args: ValidateArgs) -> Result<ExitCode, InputError> {
    let options = ParseOptions {
        strict: !args.lenient,
    };
    let mut objects: Vec<Object> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for (name, text) in read_inputs(&args.files)? {
        match manifest::parse_each(&text, options) {
            Err(e) => problems.push(format!("{name}: {e}")),
            Ok(results) => {
                for r in results {
                    match r {
                        Ok(o) => objects.push(o),
                        Err(errs) => problems.extend(errs.iter().map(|e| problem_line(&name, e))),
                    }
                }
            }
        }
    }
    problems.extend(
        validation::validate_objects(&objects)
            .iter()
            .map(ToString::to_string),
    );

    match args.output {
        Some(Output::Json) => println!("{}", manifest::to_json(&objects)?),
        Some(Output::Yaml) => print!("{}", manifest::to_yaml(&objects)?),
        None => {}
    }
    for p in &problems {
        eprintln!("{p}");
    }
    if problems.is_empty() {
        if args.output.is_none() {
            println!("{} objects valid", objects.len());
        }
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// `<kind>/<namespace>/<name>: <field path>: <message>`, or the file and
/// document when the object can't be named.
fn problem_line(file: &str, e: &ManifestError) -> String {
    let Some(at) = e.location() else {
        return format!("{file}: {e}");
    };
    let who = match &at.object {
        Some(o) => o.clone(),
        None => match at.item {
            Some(i) => format!("{file}: document {} item {i}", at.document),
            None => format!("{file}: document {}", at.document),
        },
    };
    match e.path() {
        Some(p) if !p.is_empty() => format!("{who}: {p}: {}", e.message()),
        _ => format!("{who}: {}", e.message()),
    }
}

/// (display name, content) of every input, in command-line then name order.
fn read_inputs(paths: &[PathBuf]) -> Result<Vec<(String, String)>, InputError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| InputError::Io { path, source }
    };
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(io(Path::new("<stdin>")))?;
            out.push(("<stdin>".to_string(), text));
        } else if p.is_dir() {
            let mut files: Vec<PathBuf> = Vec::new();
            for entry in std::fs::read_dir(p).map_err(io(p))? {
                let f = entry.map_err(io(p))?.path();
                let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("");
                if f.is_file() && matches!(ext, "yaml" | "yml" | "json") {
                    files.push(f);
                }
            }
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f).map_err(io(&f))?;
                out.push((f.display().to_string(), text));
            }
        } else {
            let text = std::fs::read_to_string(p).map_err(io(p))?;
            out.push((p.display().to_string(), text));
        }
    }
    Ok(out)
}
