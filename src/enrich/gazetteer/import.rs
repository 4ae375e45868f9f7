//! Writing gazetteer files: `ishara gazetteer import` (a user's dump files
//! into the data directory) and `ishara gazetteer build` (the extract
//! compiled into the binary).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::{ADMIN1_FILE, dump};

/// What one imported file gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub file: PathBuf,
    /// Rows kept as places, or admin-1 names copied.
    pub kept: usize,
    /// Rows of other features (rivers, schools, ruins).
    pub skipped: usize,
    pub bad: usize,
}

/// Copies each file into `dir` in the compact dump format: place files
/// keep their populated places (see [`dump::is_kept`]) under their own
/// name, `admin1CodesASCII.txt` is copied as is. Re-importing a file
/// replaces its earlier import.
pub fn import(files: &[PathBuf], dir: &Path) -> anyhow::Result<Vec<Imported>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut done = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} is not a file name", file.display()))?;
        if name == ADMIN1_FILE {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            std::fs::write(dir.join(ADMIN1_FILE), &text)?;
            done.push(Imported {
                file: file.clone(),
                kept: dump::admin1_rows(&text).count(),
                ..Imported::default()
            });
            continue;
        }
        if !name.ends_with(".txt") {
            anyhow::bail!(
                "{}: expected a GeoNames .txt dump (unzip KE.zip first)",
                file.display()
            );
        }
        let reader = BufReader::new(
            File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
        );
        // Written beside, then renamed: a failed import leaves the old one.
        let target = dir.join(name);
        let partial = dir.join(format!("{name}.partial"));
        let mut out = std::io::BufWriter::new(File::create(&partial)?);
        let counts = compact(reader, |row| out.write_all(row.as_bytes()))
            .with_context(|| format!("cannot import {}", file.display()))?;
        out.flush()?;
        drop(out);
        std::fs::rename(&partial, &target)?;
        done.push(Imported {
            file: file.clone(),
            ..counts
        });
    }
    Ok(done)
}

/// Builds the embedded extract from a GeoNames directory holding
/// `cities1000.txt` and `admin1CodesASCII.txt`: `places.txt.gz` and
/// `admin1CodesASCII.txt` in `out`.
pub fn build(source: &Path, out: &Path) -> anyhow::Result<Imported> {
    let cities = source.join("cities1000.txt");
    let reader = BufReader::new(
        File::open(&cities).with_context(|| format!("cannot open {}", cities.display()))?,
    );
    std::fs::create_dir_all(out)?;
    let mut gz = GzEncoder::new(
        File::create(out.join("places.txt.gz"))?,
        Compression::best(),
    );
    let counts = compact(reader, |row| gz.write_all(row.as_bytes()))?;
    gz.finish()?.sync_all()?;
    std::fs::copy(source.join(ADMIN1_FILE), out.join(ADMIN1_FILE))
        .with_context(|| format!("cannot copy {ADMIN1_FILE}"))?;
    Ok(Imported {
        file: cities,
        ..counts
    })
}

fn compact(
    reader: impl BufRead,
    mut write: impl FnMut(&str) -> std::io::Result<()>,
) -> anyhow::Result<Imported> {
    let mut counts = Imported::default();
    let mut row_out = String::new();
    dump::read_lines(reader, |line| match line {
        dump::Line::Kept(place) => {
            row_out.clear();
            dump::write_row(&place, &mut row_out);
            counts.kept += 1;
            write(&row_out)
        }
        dump::Line::Skipped => {
            counts.skipped += 1;
            Ok(())
        }
        dump::Line::Bad(_) => {
            counts.bad += 1;
            Ok(())
        }
    })?;
    Ok(counts)
}
