//! Gives the build the git commit it is made from, for `flightrec --version`:
//! `FLIGHTREC_COMMIT`, left unset when the source is not a git checkout (a
//! crate or a tarball) or git is missing.

use std::process::Command;

fn main() {
    if let Some(commit) = git(&["rev-parse", "HEAD"]) {
        println!("cargo:rustc-env=FLIGHTREC_COMMIT={commit}");
    }
    // Build again when HEAD moves: a new commit, another branch checked out.
    for path in ["HEAD", "packed-refs"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    if let Some(file) =
        git(&["symbolic-ref", "-q", "HEAD"]).and_then(|b| git(&["rev-parse", "--git-path", &b]))
    {
        println!("cargo:rerun-if-changed={file}");
    }
}

/// What git prints, trimmed; `None` when it fails or prints nothing.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}
