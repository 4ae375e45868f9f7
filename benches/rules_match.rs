//! Rule matching cost per report, one thread: `cargo bench --bench rules_match`.
//!
//! Generates 1,000 rules shaped like a national deployment's (multilingual
//! keyword lists, some `all`/`none`, places, languages, a few regexes and a
//! few rules without keywords), and matches the labelled SMS of
//! `eval/geo-sms.tsv` plus the sentences of `tests/data/langid`, with rule
//! terms written into a share of them, against the first 10, 100 and 1,000
//! rules. The generator is seeded, so runs compare.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use ishara::eval::geo::{parse, sender_country};
use ishara::rules::{
    Condition, Filter, GroupBy, Matcher, Origin, PlaceFilter, Rule, RuleId, RuleMatch, Severity,
    Subject, Topic,
};

const RUN_FOR: Duration = Duration::from_secs(2);
/// Share of reports that get a rule term written in.
const SEEDED: f64 = 0.3;

/// Hazard topics with the words SMS writers use for them, in English,
/// French, Swahili, Portuguese, Spanish, Somali and Hausa.
const TOPICS: &[(&str, &[&str])] = &[
    (
        "cholera",
        &[
            "cholera",
            "choléra",
            "kipindupindu",
            "cólera",
            "daacuun",
            "kwalara",
            "watery diarrhoea",
            "rice water stool",
        ],
    ),
    (
        "flood",
        &[
            "flood",
            "flooding",
            "inondation",
            "mafuriko",
            "cheia",
            "inundación",
            "fatahaad",
            "ambaliya",
            "water rising",
        ],
    ),
    (
        "fire",
        &[
            "fire",
            "incendie",
            "moto",
            "incêndio",
            "incendio",
            "dab",
            "gobara",
            "burning houses",
        ],
    ),
    (
        "measles",
        &[
            "measles",
            "rougeole",
            "surua",
            "sarampo",
            "sarampión",
            "jadeeco",
            "kyanda",
            "rash and fever",
        ],
    ),
    (
        "drought",
        &[
            "drought",
            "sécheresse",
            "ukame",
            "seca",
            "sequía",
            "abaar",
            "fari",
            "no rain",
        ],
    ),
    (
        "violence",
        &[
            "attack",
            "shooting",
            "attaque",
            "shambulio",
            "ataque",
            "weerar",
            "hari",
            "gunmen",
            "armed men",
        ],
    ),
    (
        "displacement",
        &[
            "displaced",
            "déplacés",
            "wakimbizi",
            "deslocados",
            "desplazados",
            "barakacayaal",
            "yan gudun hijira",
            "fled",
        ],
    ),
    (
        "hunger",
        &[
            "hunger", "famine", "njaa", "fome", "hambre", "gaajo", "yunwa", "no food",
        ],
    ),
    (
        "landslide",
        &[
            "landslide",
            "glissement de terrain",
            "maporomoko",
            "deslizamento",
            "deslave",
            "mud slide",
        ],
    ),
    (
        "ebola",
        &[
            "ebola",
            "fièvre hémorragique",
            "homa ya damu",
            "febre hemorrágica",
            "bleeding fever",
        ],
    ),
    (
        "malaria",
        &[
            "malaria",
            "paludisme",
            "homa ya malaria",
            "malária",
            "kaneecada",
            "zazzabin cizon sauro",
        ],
    ),
    (
        "earthquake",
        &[
            "earthquake",
            "séisme",
            "tremblement de terre",
            "tetemeko",
            "terremoto",
            "dhulgariir",
            "girgizar kasa",
        ],
    ),
    (
        "cyclone",
        &[
            "cyclone",
            "storm",
            "tempête",
            "kimbunga",
            "ciclone",
            "huracán",
            "duufaan",
            "guguwa",
            "strong winds",
        ],
    ),
    (
        "locust",
        &[
            "locust",
            "locusts",
            "criquets",
            "nzige",
            "gafanhotos",
            "langosta",
            "ayax",
            "fara",
        ],
    ),
    (
        "injury",
        &[
            "injured", "blessés", "majeruhi", "feridos", "heridos", "dhaawac", "rauni", "wounded",
        ],
    ),
    (
        "death",
        &[
            "dead", "died", "morts", "wamekufa", "mortos", "muertos", "dhimasho", "sun mutu",
            "bodies",
        ],
    ),
    (
        "water",
        &[
            "no water",
            "pas d'eau",
            "hakuna maji",
            "sem água",
            "sin agua",
            "biyo la'aan",
            "babu ruwa",
            "borehole broken",
        ],
    ),
    (
        "shelter",
        &[
            "shelter",
            "abri",
            "makazi",
            "abrigo",
            "refugio",
            "hoy",
            "matsuguni",
            "tents",
        ],
    ),
];

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mbu", "ni", "ta", "se", "wa", "ri", "go", "ma", "ndi", "ko", "zu", "ba", "le",
    "sha", "tu", "ya",
];

fn synthetic_word(rng: &mut StdRng) -> String {
    (0..rng.gen_range(2..=4))
        .map(|_| *SYLLABLES.choose(rng).expect("syllables"))
        .collect()
}

fn topic(name: String, terms: Vec<String>) -> Topic {
    Topic { name, terms }
}

fn rules(count: usize, admin1_codes: &[String], rng: &mut StdRng) -> Vec<Rule> {
    let countries: Vec<&str> = {
        let mut c: Vec<&str> = admin1_codes
            .iter()
            .filter_map(|a| a.split('.').next())
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    (0..count)
        .map(|i| {
            let mut filter = Filter::default();
            let keyless = rng.gen_bool(0.05);
            if !keyless {
                // Mostly one topic as a map of multilingual terms; sometimes a
                // flat list mixing two topics and local words.
                let (name, words) = TOPICS.choose(rng).expect("topics");
                let n = rng.gen_range(3..=10);
                let mut terms: Vec<String> = words
                    .choose_multiple(rng, n.min(words.len()))
                    .map(|w| (*w).to_owned())
                    .collect();
                while terms.len() < n {
                    terms.push(synthetic_word(rng));
                }
                if rng.gen_bool(0.3) {
                    filter.any = terms
                        .into_iter()
                        .map(|t| topic(t.clone(), vec![t]))
                        .collect();
                } else {
                    filter.any = vec![topic((*name).to_owned(), terms)];
                    if rng.gen_bool(0.3) {
                        let (other, words) = TOPICS.choose(rng).expect("topics");
                        filter.any.push(topic(
                            (*other).to_owned(),
                            words.iter().take(4).map(|w| (*w).to_owned()).collect(),
                        ));
                    }
                }
            }
            if rng.gen_bool(0.15) {
                let (name, words) = TOPICS.choose(rng).expect("topics");
                filter.all = vec![topic(
                    (*name).to_owned(),
                    words.iter().map(|w| (*w).to_owned()).collect(),
                )];
            }
            if rng.gen_bool(0.25) {
                filter.none = vec![topic(
                    "exercise".into(),
                    [
                        "drill",
                        "exercise",
                        "test",
                        "simulation",
                        "zoezi",
                        "mazoezi",
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                )];
            }
            if rng.gen_bool(0.3) {
                let k = rng.gen_range(1..=3);
                filter.languages = ["en", "fr", "sw", "pt", "so", "ha", "und"]
                    .choose_multiple(rng, k)
                    .map(|l| (*l).to_owned())
                    .collect();
            }
            if keyless || rng.gen_bool(0.4) {
                filter.places = (0..rng.gen_range(1..=3))
                    .map(|_| match rng.gen_range(0..10) {
                        0..=3 => PlaceFilter::Admin(format!(
                            "{}.*",
                            countries.choose(rng).expect("countries")
                        )),
                        4..=7 => {
                            PlaceFilter::Admin(admin1_codes.choose(rng).expect("codes").clone())
                        }
                        8 => PlaceFilter::Named(synthetic_word(rng)),
                        _ => PlaceFilter::Near {
                            lat: rng.gen_range(-30.0..30.0),
                            lon: rng.gen_range(-20.0..100.0),
                            km: rng.gen_range(10.0..200.0),
                        },
                    })
                    .collect();
            }
            if keyless && rng.gen_bool(0.5) {
                filter.sources = vec!["feed".into()];
            }
            if rng.gen_bool(0.05) {
                filter.text = Some(
                    regex::Regex::new(r"(?i)\b\d+\s+(cases|people|dead|morts|watu)\b")
                        .expect("regex"),
                );
            }
            Rule {
                id: RuleId::parse(&format!("rule-{i}")).expect("id"),
                description: None,
                filter,
                group_by: vec![GroupBy::Admin1],
                condition: Condition::Count {
                    window: Duration::from_secs(86_400),
                    at_least: 3,
                },
                cooldown: Duration::from_secs(3600),
                severity: Severity::Severe,
                notify: vec!["log".into()],
                template: None,
                labels: Default::default(),
                origin: Origin {
                    file: PathBuf::from("bench.yaml"),
                    line: i + 1,
                    column: 3,
                },
            }
        })
        .collect()
}

struct Report {
    text: String,
    language: &'static str,
    source: &'static str,
    country: Option<String>,
    admin1: Option<String>,
}

fn corpus(rules: &[Rule], rng: &mut StdRng) -> Vec<Report> {
    let root = env!("CARGO_MANIFEST_DIR");
    let geo =
        std::fs::read_to_string(format!("{root}/eval/geo-sms.tsv")).expect("eval/geo-sms.tsv");
    let mut reports: Vec<Report> = parse(&geo)
        .expect("eval rows")
        .into_iter()
        .map(|r| Report {
            country: sender_country(&r.sender)
                .map(str::to_owned)
                .or(r.expected_country),
            admin1: r.expected_admin1,
            text: r.text,
            language: "en",
            source: "twilio",
        })
        .collect();
    for (language, file) in [("en", "en"), ("fr", "fr"), ("sw", "sw")] {
        let text =
            std::fs::read_to_string(format!("{root}/tests/data/langid/{file}.sentences.txt"))
                .expect("langid sentences");
        reports.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| Report {
                    text: l.to_owned(),
                    language,
                    source: "feed",
                    country: None,
                    admin1: None,
                }),
        );
    }
    let terms: Vec<&str> = rules
        .iter()
        .flat_map(|r| r.filter.any.iter().chain(&r.filter.all))
        .flat_map(|t| t.terms.iter().map(String::as_str))
        .collect();
    for report in &mut reports {
        report.language = ["en", "en", "sw", "fr", "und"]
            .choose(rng)
            .expect("languages");
        if rng.gen_bool(SEEDED) {
            let mut words: Vec<&str> = report.text.split(' ').collect();
            let at = rng.gen_range(0..=words.len());
            words.insert(at, terms.choose(rng).expect("terms"));
            report.text = words.join(" ");
        }
    }
    reports.shuffle(rng);
    reports
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1e3
}

fn measure(matcher: &Matcher, reports: &[Subject<'_>]) {
    let mut out: Vec<RuleMatch> = Vec::new();
    // Warm the thread-local buffers and the caches.
    for r in reports {
        matcher.matches(r, &mut out);
    }
    let mut times: Vec<u64> = Vec::new();
    let mut matched = 0usize;
    let mut rule_hits = 0usize;
    let started = Instant::now();
    while started.elapsed() < RUN_FOR {
        for r in reports {
            let t = Instant::now();
            matcher.matches(r, &mut out);
            times.push(t.elapsed().as_nanos() as u64);
            matched += usize::from(!out.is_empty());
            rule_hits += out.len();
        }
    }
    let n = times.len();
    let mean = times.iter().sum::<u64>() as f64 / n as f64 / 1e3;
    times.sort_unstable();
    println!(
        "{:>5} rules, {:>5} terms: mean {mean:.2} µs, p50 {:.2} µs, p99 {:.2} µs, max {:.1} µs per report \
         ({n} timed; {:.0}% of reports matched a rule, {:.2} rules per report)",
        matcher.len(),
        matcher.patterns(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[n - 1] as f64 / 1e3,
        100.0 * matched as f64 / n as f64,
        rule_hits as f64 / n as f64,
    );
}

fn main() {
    let mut rng = StdRng::seed_from_u64(20_240_611);
    let root = env!("CARGO_MANIFEST_DIR");
    let geo =
        std::fs::read_to_string(format!("{root}/eval/geo-sms.tsv")).expect("eval/geo-sms.tsv");
    let mut admin1_codes: Vec<String> = parse(&geo)
        .expect("eval rows")
        .into_iter()
        .filter_map(|r| r.expected_admin1)
        .collect();
    admin1_codes.sort_unstable();
    admin1_codes.dedup();

    let all = rules(1000, &admin1_codes, &mut rng);
    let reports = corpus(&all, &mut rng);
    let subjects: Vec<Subject<'_>> = reports
        .iter()
        .map(|r| Subject {
            text: &r.text,
            language: r.language,
            source: r.source,
            country: r.country.as_deref(),
            admin1_code: r.admin1.as_deref(),
            admin1_name: None,
            place_name: None,
            lat: None,
            lon: None,
        })
        .collect();
    let mean_len = reports.iter().map(|r| r.text.len()).sum::<usize>() / reports.len();
    println!(
        "{} reports, mean {mean_len} bytes, {:.0}% with a rule term written in",
        reports.len(),
        SEEDED * 100.0
    );

    let mut builds: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let m = Matcher::new(&all);
            let elapsed = t.elapsed();
            std::hint::black_box(m);
            elapsed
        })
        .collect();
    builds.sort_unstable();
    println!(
        "build: {:.1} ms for {} rules (median of {})",
        builds[builds.len() / 2].as_secs_f64() * 1e3,
        all.len(),
        builds.len()
    );

    for n in [10, 100, 1000] {
        measure(&Matcher::new(&all[..n]), &subjects);
    }
}
