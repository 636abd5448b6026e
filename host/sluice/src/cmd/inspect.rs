//! `sluice inspect`: the operator's and tester's window into CAR files and firehose frames.
//!
//! Output is JSON lines on stdout. Bad input exits non-zero with one line on stderr naming what is
//! wrong (which block, which key).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde::Serialize;
use sluice_atproto::Cid;
use sluice_atproto::crypto::PublicKey;
use sluice_atproto::data::AtprotoJson;
use sluice_atproto::firehose::{Frame, frame_to_json};
use sluice_atproto::identity::DidDocument;
use sluice_atproto::repo::{ReadOptions, RepoReader};
use std::io::Write as _;
use tokio::io::AsyncRead;

/// Arguments of `sluice inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    #[command(subcommand)]
    what: InspectCommand,
}

#[derive(Debug, Subcommand)]
enum InspectCommand {
    /// Print a repo CAR: the commit as one JSON line, then every record as one JSON line
    /// `{"collection","rkey","cid","record"}` (record in atproto JSON), in key order.
    Car(CarArgs),
    /// Decode one firehose frame (`subscribeRepos` or `subscribeLabels`) to JSON.
    Frame(FrameArgs),
}

#[derive(Debug, Args)]
struct CarArgs {
    /// The CAR file, or `-` for standard input.
    file: PathBuf,
    /// Check the commit signature against the `#atproto` key of this DID document (JSON file);
    /// the commit's DID must also be the document's.
    #[arg(long, env = "SLUICE_INSPECT_DID_DOC", conflicts_with = "key")]
    did_doc: Option<PathBuf>,
    /// Check the commit signature against this key (`did:key:…`).
    #[arg(long, env = "SLUICE_INSPECT_KEY")]
    key: Option<String>,
    /// Bytes of blocks held in memory before the reader spills to disk.
    #[arg(long, env = "SLUICE_INSPECT_MEMORY_BUDGET", default_value_t = sluice_atproto::repo::DEFAULT_MEMORY_BUDGET)]
    memory_budget: usize,
    /// Print only the commit line and a count, not the records.
    #[arg(long)]
    summary: bool,
}

#[derive(Debug, Args)]
struct FrameArgs {
    /// The frame file (binary, as received on the WebSocket), or `-` for standard input.
    file: PathBuf,
}

/// Runs `sluice inspect`.
pub(crate) fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    match args.what {
        InspectCommand::Car(car) => runtime.block_on(inspect_car(car)),
        InspectCommand::Frame(frame) => runtime.block_on(inspect_frame(frame)),
    }
}

async fn open_input(path: &PathBuf) -> anyhow::Result<Box<dyn AsyncRead + Unpin>> {
    if path.as_os_str() == "-" {
        Ok(Box::new(tokio::io::stdin()))
    } else {
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Box::new(file))
    }
}

/// Where the signing key comes from, and whether the DID must match.
struct KeyCheck {
    key: PublicKey,
    expected_did: Option<String>,
}

fn key_check(args: &CarArgs) -> anyhow::Result<Option<KeyCheck>> {
    if let Some(path) = &args.did_doc {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let doc = DidDocument::from_json(&bytes)
            .with_context(|| format!("parsing the DID document {}", path.display()))?;
        let key = doc.signing_key()?;
        return Ok(Some(KeyCheck {
            key,
            expected_did: Some(doc.id),
        }));
    }
    if let Some(did_key) = &args.key {
        let key = PublicKey::from_did_key(did_key).context("parsing --key")?;
        return Ok(Some(KeyCheck {
            key,
            expected_did: None,
        }));
    }
    Ok(None)
}

/// The commit line of `inspect car`.
#[derive(Serialize)]
struct CommitLine<'a> {
    did: &'a str,
    rev: Option<&'a str>,
    data: String,
    version: u64,
    prev: Option<String>,
    commit: String,
    signature: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_error: Option<String>,
}

/// A record line of `inspect car`.
#[derive(Serialize)]
struct RecordLine<'a> {
    collection: &'a str,
    rkey: &'a str,
    #[serde(serialize_with = "serialize_display")]
    cid: &'a Cid,
    record: AtprotoJson<'a>,
}

/// Writes a value with its `Display` form (CIDs as base32 text rather than raw bytes).
fn serialize_display<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

async fn inspect_car(args: CarArgs) -> anyhow::Result<ExitCode> {
    let check = key_check(&args)?;
    let input = open_input(&args.file).await?;
    let options = ReadOptions {
        memory_budget: args.memory_budget,
        ..ReadOptions::default()
    };
    let reader = RepoReader::read(tokio::io::BufReader::new(input), &options).await?;
    let commit = reader.commit();

    let (signature, signature_error) = match &check {
        None => ("unchecked", None),
        Some(KeyCheck { key, expected_did }) => {
            let verdict = match expected_did {
                Some(did) => commit.verify_for(did, key),
                None => commit.verify(key),
            };
            match verdict {
                Ok(()) => ("valid", None),
                Err(error) => ("invalid", Some(error.to_string())),
            }
        }
    };

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    serde_json::to_writer(
        &mut out,
        &CommitLine {
            did: &commit.did,
            rev: commit.rev.as_deref(),
            data: commit.data.to_string(),
            version: commit.version,
            prev: commit.prev.map(|c| c.to_string()),
            commit: reader.commit_cid().to_string(),
            signature,
            signature_error: signature_error.clone(),
        },
    )?;
    out.write_all(b"\n")?;

    let mut count = 0u64;
    let mut errors = Vec::new();
    for item in reader.records() {
        let record = match item {
            Ok(record) => record,
            Err(error) => {
                errors.push(error.to_string());
                continue;
            }
        };
        let value = match record.to_ipld() {
            Ok(value) => value,
            Err(error) => {
                errors.push(error.to_string());
                continue;
            }
        };
        count += 1;
        if !args.summary {
            serde_json::to_writer(
                &mut out,
                &RecordLine {
                    collection: record.collection(),
                    rkey: record.rkey(),
                    cid: &record.cid,
                    record: AtprotoJson(&value),
                },
            )?;
            out.write_all(b"\n")?;
        }
    }
    if args.summary {
        writeln!(out, "{}", serde_json::json!({ "records": count }))?;
    }
    out.flush()?;

    if let Some(first) = errors.first() {
        let more = match errors.len() {
            1 => String::new(),
            n => format!(" (and {} more errors)", n - 1),
        };
        bail!("{first}{more}");
    }
    if let Some(error) = signature_error {
        bail!("signature invalid: {error}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn inspect_frame(args: FrameArgs) -> anyhow::Result<ExitCode> {
    let mut input = open_input(&args.file).await?;
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut input, &mut bytes)
        .await
        .context("reading the frame")?;
    let frame = Frame::decode(&bytes)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer(&mut out, &frame_to_json(&frame))?;
    out.write_all(b"\n")?;
    Ok(ExitCode::SUCCESS)
}
