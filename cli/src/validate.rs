//! `metal3ctl validate`: parse manifests strictly and run the admission rules
//! offline, before `kubectl apply` would find the problems one at a time.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use metal3_hostmodel::manifest::{self, ManifestError, ParseOptions, Parsed};

use crate::kinds;
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
    // Input order for `-o`: an index into `objects`, or a kind another crate
    // models (IPAM, ...) as its JSON.
    let mut outputs: Vec<Result<usize, serde_json::Value>> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for (name, text) in read_inputs(&args.files)? {
        match manifest::parse_each_with(&text, options, &kinds::is_ext) {
            Err(e) => problems.push(format!("{name}: {e}")),
            Ok(results) => {
                for r in results {
                    match r {
                        Parsed::Object(Ok(o)) => {
                            outputs.push(Ok(objects.len()));
                            objects.push(o);
                        }
                        Parsed::Object(Err(errs)) => {
                            problems.extend(errs.iter().map(|e| problem_line(&name, e)))
                        }
                        Parsed::Foreign(doc, at) => match kinds::parse_ext(&doc, &at, options) {
                            Ok(v) => outputs.push(Err(v)),
                            Err(errs) => {
                                problems.extend(errs.iter().map(|e| problem_line(&name, e)))
                            }
                        },
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

    let total = outputs.len();
    if let Some(format) = args.output {
        let mut values = Vec::with_capacity(outputs.len());
        for o in outputs {
            match o {
                Ok(i) => values.extend(manifest::to_values(objects.get(i..=i).unwrap_or(&[]))?),
                Err(v) => values.push(v),
            }
        }
        match format {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(&values)
                    .map_err(|e| ManifestError::Serialize(e.to_string()))?
            ),
            Output::Yaml => print!(
                "{}",
                metal3_hostmodel::yaml::to_string_multi(&values)
                    .map_err(|e| ManifestError::Serialize(e.message))?
            ),
        }
    }
    for p in &problems {
        eprintln!("{p}");
    }
    if problems.is_empty() {
        if args.output.is_none() {
            println!("{total} objects valid");
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
