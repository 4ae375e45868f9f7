//! The public GeoNames dump formats: the 19-column place files
//! (`cities1000.txt`, `allCountries.txt`, `KE.txt`) and
//! `admin1CodesASCII.txt`.

use std::collections::HashSet;

use super::{CountryCode, Place};
use crate::fold::fold;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RowError {
    #[error("{0} columns, a GeoNames place row has 19")]
    Columns(usize),
    #[error("bad {0}")]
    Field(&'static str),
}

/// Column numbers of the place dump.
mod col {
    pub const ID: usize = 0;
    pub const NAME: usize = 1;
    pub const ASCII: usize = 2;
    pub const ALTERNATES: usize = 3;
    pub const LAT: usize = 4;
    pub const LON: usize = 5;
    pub const CLASS: usize = 6;
    pub const CODE: usize = 7;
    pub const COUNTRY: usize = 8;
    pub const ADMIN1: usize = 10;
    pub const POPULATION: usize = 14;
}

/// One row of a place dump, borrowed from the line.
pub struct Row<'a> {
    cols: Vec<&'a str>,
}

impl<'a> Row<'a> {
    pub fn parse(line: &'a str) -> Result<Self, RowError> {
        let cols: Vec<&str> = line.trim_end_matches(['\n', '\r']).split('\t').collect();
        // Some tools drop the empty trailing columns; the ones we read come
        // first, so 15 columns are enough.
        if cols.len() < 15 {
            return Err(RowError::Columns(cols.len()));
        }
        Ok(Self { cols })
    }

    pub fn feature_class(&self) -> &'a str {
        self.cols[col::CLASS]
    }

    pub fn feature_code(&self) -> &'a str {
        self.cols[col::CODE]
    }

    /// Builds the place, keeping only the alternate names geoparsing uses.
    pub fn place(&self) -> Result<Place, RowError> {
        let c = &self.cols;
        let id = c[col::ID]
            .parse()
            .map_err(|_| RowError::Field("geonameid"))?;
        let lat: f32 = c[col::LAT]
            .parse()
            .map_err(|_| RowError::Field("latitude"))?;
        let lon: f32 = c[col::LON]
            .parse()
            .map_err(|_| RowError::Field("longitude"))?;
        let country = CountryCode::parse(c[col::COUNTRY]).ok_or(RowError::Field("country"))?;
        let population = if c[col::POPULATION].is_empty() {
            0
        } else {
            // A malformed population counts as unknown rather than losing
            // the place.
            c[col::POPULATION]
                .parse::<u64>()
                .unwrap_or(0)
                .min(u32::MAX as u64) as u32
        };
        let name = c[col::NAME];
        let ascii = if c[col::ASCII].is_empty() {
            name
        } else {
            c[col::ASCII]
        };
        Ok(Place {
            id,
            name: name.into(),
            ascii_name: ascii.into(),
            alternate_names: useful_alternates(name, ascii, c[col::ALTERNATES]).into(),
            lat,
            lon,
            feature_code: c[col::CODE].into(),
            country,
            admin1: c[col::ADMIN1].into(),
            population,
        })
    }
}

/// Which rows of a user's country file become places: populated places
/// (class P, which includes the admin seats PPLA..PPLA4 and capitals PPLC)
/// and their sections (PPLX, city districts that SMS name), but not the
/// historical, abandoned or destroyed ones. Rivers, hills, schools and
/// admin areas themselves (class A, whose names come from
/// `admin1CodesASCII.txt`) are left out: a report about "the river" must
/// not land on a stream named River.
pub fn is_kept(row: &Row) -> bool {
    row.feature_class() == "P" && !matches!(row.feature_code(), "PPLH" | "PPLQ" | "PPLW" | "PPLCH")
}

/// What one data line of a place file comes to.
pub enum Line {
    Kept(Place),
    /// A feature that is not a populated place (see [`is_kept`]).
    Skipped,
    Bad(RowError),
}

/// Reads a place file one line at a time through one buffer (country files
/// run to hundreds of MB), skipping blank and comment lines.
pub fn read_lines(
    mut reader: impl std::io::BufRead,
    mut each: impl FnMut(Line) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        each(match Row::parse(&line) {
            Err(e) => Line::Bad(e),
            Ok(row) if !is_kept(&row) => Line::Skipped,
            Ok(row) => row.place().map_or_else(Line::Bad, Line::Kept),
        })?;
    }
}

/// Alternate names in Latin or Arabic script that differ from the main
/// names once folded. GeoNames also lists airport and postal codes, and
/// machine transliterations in lower case ("tkht qysr") that would turn
/// ordinary words into places; those go.
pub fn useful_alternates(name: &str, ascii: &str, alternates: &str) -> String {
    let mut seen: HashSet<String> = [fold(name), fold(ascii)].into_iter().collect();
    let mut kept = String::new();
    for alt in alternates.split(',') {
        let alt = alt.trim();
        let letters = alt.chars().filter(|c| c.is_alphabetic()).count();
        if letters < 3
            || alt.chars().any(|c| c.is_ascii_digit())
            || !alt
                .chars()
                .all(|c| !c.is_alphabetic() || is_latin(c) || is_arabic(c))
        {
            continue;
        }
        let ascii_lower = alt
            .chars()
            .all(|c| !c.is_alphabetic() || c.is_ascii_lowercase());
        let code_like = letters <= 4 && alt.chars().all(|c| !c.is_alphabetic() || c.is_uppercase());
        if ascii_lower || code_like {
            continue;
        }
        if !seen.insert(fold(alt)) {
            continue;
        }
        if !kept.is_empty() {
            kept.push(',');
        }
        kept.push_str(alt);
    }
    kept
}

fn is_latin(c: char) -> bool {
    (c as u32) < 0x250 || ('\u{1E00}'..='\u{1EFF}').contains(&c)
}

fn is_arabic(c: char) -> bool {
    matches!(c as u32, 0x600..=0x6FF | 0x750..=0x77F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF)
}

/// Writes a place back as a dump row, leaving empty the columns Ishara does
/// not read, so extracts stay small and any GeoNames tool still reads them.
pub fn write_row(place: &Place, out: &mut String) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}\t{}\tP\t{}\t{}\t\t{}\t\t\t\t{}\t\t\t\t",
        place.id,
        place.name,
        place.ascii_name,
        place.alternate_names,
        place.lat,
        place.lon,
        place.feature_code,
        place.country.as_str(),
        place.admin1,
        place.population,
    );
}

/// One row of `admin1CodesASCII.txt`:
/// `KE.46<TAB>Turkana<TAB>Turkana<TAB>geonameid`.
pub struct Admin1Row<'t> {
    pub code: &'t str,
    pub name: &'t str,
    /// The name in ASCII; the name itself when the column is empty.
    pub ascii_name: &'t str,
}

pub fn admin1_rows(text: &str) -> impl Iterator<Item = Admin1Row<'_>> {
    text.lines().filter_map(|line| {
        let mut cols = line.split('\t');
        let code = cols.next()?.trim();
        let name = cols.next()?.trim();
        let ascii_name = cols.next().map(str::trim).filter(|a| !a.is_empty());
        (code.len() > 3 && code.as_bytes()[2] == b'.' && !name.is_empty()).then_some(Admin1Row {
            code,
            name,
            ascii_name: ascii_name.unwrap_or(name),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAIROBI: &str = "184745\tNairobi\tNairobi\tNBO,Nairobi,Nairobis,Nairóbi,Najrobi,nairobi,ナイロビ,نيروبي\t-1.28333\t36.81667\tP\tPPLC\tKE\t\t30\t\t\t\t2750547\t\t1684\tAfrica/Nairobi\t2024-01-01";

    #[test]
    fn a_dump_row_becomes_a_place_with_its_admin1_and_population() {
        let place = Row::parse(NAIROBI).unwrap().place().unwrap();
        assert_eq!(place.id, 184745);
        assert_eq!(place.country.as_str(), "KE");
        assert_eq!(place.admin1_code().as_deref(), Some("KE.30"));
        assert_eq!(place.population, 2_750_547);
        assert_eq!(&*place.feature_code, "PPLC");
    }

    #[test]
    fn codes_other_scripts_and_machine_transliterations_are_dropped() {
        let place = Row::parse(NAIROBI).unwrap().place().unwrap();
        assert_eq!(&*place.alternate_names, "Nairobis,Najrobi,نيروبي");
    }

    #[test]
    fn short_rows_are_refused() {
        assert_eq!(Row::parse("1\tX\tX").err(), Some(RowError::Columns(3)));
    }

    #[test]
    fn only_living_populated_places_are_kept() {
        let river = NAIROBI.replace("\tP\tPPLC\t", "\tH\tSTM\t");
        let ruin = NAIROBI.replace("\tP\tPPLC\t", "\tP\tPPLQ\t");
        let district = NAIROBI.replace("\tP\tPPLC\t", "\tP\tPPLX\t");
        assert!(is_kept(&Row::parse(NAIROBI).unwrap()));
        assert!(!is_kept(&Row::parse(&river).unwrap()));
        assert!(!is_kept(&Row::parse(&ruin).unwrap()));
        assert!(is_kept(&Row::parse(&district).unwrap()));
    }

    #[test]
    fn written_rows_read_back_the_same() {
        let place = Row::parse(NAIROBI).unwrap().place().unwrap();
        let mut line = String::new();
        write_row(&place, &mut line);
        assert_eq!(line.split('\t').count(), 19);
        assert_eq!(Row::parse(&line).unwrap().place().unwrap(), place);
    }
}
