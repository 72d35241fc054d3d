//! `wacontacts numbers …`: offline number tools (no session, no server).
//!
//! `wacontacts numbers normalize [--convention waha|onprem] [--region CC | --own +NUMBER] INPUT...`
//! prints one JSON object per input and line:
//! `{"input", "e164", "wa_id", "candidates", "error"}` (plus `"lid"` for a LID input).
//! Without INPUT (or with `-`) it reads standard input, one input per line, skipping
//! blank lines. Rejected inputs are reported in their line (`error: {code, message}`)
//! and do not change the exit status; bad flags do.

use std::io::{BufRead, BufWriter, Write};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use wacontacts_core::phone::report::report;
use wacontacts_core::phone::{Convention, PhoneNumber, Region};

/// `wacontacts numbers …`
#[derive(Debug, Args)]
pub struct NumbersArgs {
    #[command(subcommand)]
    pub command: NumbersCommand,
}

/// The `numbers` subcommands.
#[derive(Debug, Subcommand)]
pub enum NumbersCommand {
    /// Normalize phone numbers and WhatsApp ids to E.164, offline. Prints one JSON
    /// object per input: {input, e164, wa_id, candidates, error}.
    Normalize {
        /// How digits without '+' are read: `waha` (they already carry the country
        /// code, as in WAHA, Wawp and Whinself) or `onprem` (national numbers of the
        /// session's country, as in WhatsApp Business On-Premises). Default: `onprem`
        /// when --region or --own is given, else `waha`.
        #[arg(long, value_enum)]
        convention: Option<ConventionArg>,
        /// The session's own country for `onprem` (ISO 3166 code, e.g. BR, US, IN).
        #[arg(long, value_name = "CC", conflicts_with = "own")]
        region: Option<String>,
        /// The session's own number for `onprem` (e.g. +919876543210); its country is used.
        #[arg(long, value_name = "+NUMBER", allow_hyphen_values = true)]
        own: Option<String>,
        /// Numbers or ids (`+1 (555) 123-4567`, `5511987654321`, `15551234567@c.us`,
        /// `123456789012345@lid`, ...). None, or `-`, reads standard input, one per line.
        #[arg(value_name = "INPUT")]
        inputs: Vec<String>,
    },
}

/// `--convention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConventionArg {
    /// Digits without '+' carry the country code (WAHA, Wawp, Whinself).
    Waha,
    /// Digits without '+' are national numbers of --region / --own (On-Premises).
    Onprem,
}

/// Runs `wacontacts numbers …`.
pub fn run(args: NumbersArgs) -> anyhow::Result<()> {
    match args.command {
        NumbersCommand::Normalize {
            convention,
            region,
            own,
            inputs,
        } => {
            let convention = resolve_convention(convention, region.as_deref(), own.as_deref())?;
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let result = if inputs.is_empty() || inputs == ["-"] {
                let stdin = std::io::stdin();
                normalize_lines(stdin.lock(), &convention, &mut out)
            } else {
                normalize_all(inputs.iter().map(String::as_str), &convention, &mut out)
            };
            match result.and_then(|()| out.flush()) {
                Ok(()) => Ok(()),
                // `… | head` closed the pipe: not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(e).context("writing to standard output"),
            }
        }
    }
}

/// The convention the flags ask for.
pub fn resolve_convention(
    convention: Option<ConventionArg>,
    region: Option<&str>,
    own: Option<&str>,
) -> anyhow::Result<Convention> {
    let own_region = match (region, own) {
        (Some(_), Some(_)) => bail!("give either --region or --own, not both"),
        (Some(r), None) => Some(Region::parse(r).map_err(|e| anyhow::anyhow!("--region: {e}"))?),
        (None, Some(n)) => {
            let number = PhoneNumber::parse(n).map_err(|e| anyhow::anyhow!("--own: {e}"))?;
            match number.region() {
                Some(r) => Some(r),
                None => bail!("--own: {number} has no country (non-geographic code)"),
            }
        }
        (None, None) => None,
    };
    Ok(match (convention, own_region) {
        (Some(ConventionArg::Waha), Some(_)) => {
            bail!("--region and --own only apply to --convention onprem")
        }
        (Some(ConventionArg::Waha), None) | (None, None) => Convention::Waha,
        (Some(ConventionArg::Onprem), own_region) | (None, own_region @ Some(_)) => {
            Convention::OnPrem { own_region }
        }
    })
}

fn normalize_all<'a>(
    inputs: impl Iterator<Item = &'a str>,
    convention: &Convention,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for input in inputs {
        let line =
            serde_json::to_string(&report(input, convention)).map_err(std::io::Error::other)?;
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn normalize_lines(
    input: impl BufRead,
    convention: &Convention,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for line in input.lines() {
        let line = line?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        normalize_all(std::iter::once(line), convention, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions_from_flags() {
        assert_eq!(
            resolve_convention(None, None, None).unwrap(),
            Convention::Waha
        );
        let br = Convention::onprem(Region::parse("BR").unwrap());
        assert_eq!(resolve_convention(None, Some("br"), None).unwrap(), br);
        assert_eq!(
            resolve_convention(Some(ConventionArg::Onprem), None, Some("+55 11 98765-4321"))
                .unwrap(),
            br
        );
        assert_eq!(
            resolve_convention(Some(ConventionArg::Onprem), None, None).unwrap(),
            Convention::OnPrem { own_region: None }
        );
        assert!(resolve_convention(Some(ConventionArg::Waha), Some("BR"), None).is_err());
        assert!(resolve_convention(None, Some("XX"), None).is_err());
        assert!(resolve_convention(None, None, Some("abc")).is_err());
    }

    #[test]
    fn one_json_object_per_line() {
        let mut out = Vec::new();
        let input = "6315551002\r\n\n1-631-555-1002\n+54 9 11 5612-1008\nabc\n";
        let india = Convention::onprem(Region::parse("IN").unwrap());
        normalize_lines(input.as_bytes(), &india, &mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["e164"], "+916315551002");
        assert_eq!(lines[1]["e164"], "+9116315551002");
        assert_eq!(lines[2]["wa_id"], "5491156121008");
        assert_eq!(
            lines[2]["candidates"],
            serde_json::json!(["+5491156121008", "+541156121008"])
        );
        assert_eq!(lines[3]["error"]["code"], "invalid_phone");
        assert_eq!(lines[3]["input"], "abc");
    }
}
