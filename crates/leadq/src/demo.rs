//! `leadq demo generate`: a synthetic B2B company's leads, events and
//! outcomes. Conversions are driven by a hidden fit (company and person)
//! and a hidden intent (which also drives engagement), so a good scoring
//! model can find them but never perfectly. Values are as messy as real
//! exports: placeholders, case variants, number formats, duplicates and a
//! few broken rows.

use crate::cli::{DemoArgs, DemoCommand, UsageError};
use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The model that scores the demo data, shipped inside the binary.
pub const DEFAULT_MODEL: &str = include_str!("../../../examples/default-model.toml");
const DEMO_AS_OF: &str = "2026-11-01T00:00:00Z";

pub fn run(args: DemoArgs) -> Result<()> {
    let (leads, seed, events_per_lead, as_of, out) = match args.command {
        DemoCommand::Generate {
            leads,
            seed,
            events_per_lead,
            as_of,
            out,
        } => (leads, seed, events_per_lead, as_of, out),
        DemoCommand::Model => return crate::output::emit(DEFAULT_MODEL),
        DemoCommand::Run { leads, seed, out } => return run_demo(leads, seed, &out),
    };
    let as_of = leadq_ingest::time::parse_timestamp(&as_of)
        .ok_or_else(|| UsageError(format!("--as-of '{as_of}' is not a timestamp")))?;
    if leads == 0 {
        return Err(UsageError("--leads must be at least 1".into()).into());
    }
    if !(0.0..=1000.0).contains(&events_per_lead) {
        return Err(UsageError("--events-per-lead must be between 0 and 1000".into()).into());
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let stats = generate(
        &Spec {
            people: leads,
            seed,
            events_per_lead,
            as_of: as_of.0,
        },
        &out,
    )?;
    eprintln!(
        "wrote {}: {} lead rows ({} people, {} duplicate rows, {} broken rows), {} events, {} conversions ({:.1}%)",
        out.display(),
        stats.lead_rows,
        leads,
        stats.duplicate_rows,
        stats.broken_rows,
        stats.events,
        stats.converted,
        100.0 * stats.converted as f64 / leads as f64
    );
    Ok(())
}

/// Generates a data set, qualifies it and prints the ten best leads.
fn run_demo(leads: usize, seed: u64, out: &Path) -> Result<()> {
    if leads == 0 {
        return Err(UsageError("--leads must be at least 1".into()).into());
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let as_of = leadq_ingest::time::parse_timestamp(DEMO_AS_OF).unwrap_or(leadq_core::Timestamp(0));
    generate(
        &Spec {
            people: leads,
            seed,
            events_per_lead: 10.0,
            as_of: as_of.0,
        },
        out,
    )?;
    let model_path = out.join("model.toml");
    std::fs::write(&model_path, DEFAULT_MODEL)
        .with_context(|| format!("cannot write {}", model_path.display()))?;
    let model = leadq_core::CompiledModel::from_toml(DEFAULT_MODEL)
        .map_err(|e| anyhow::anyhow!("default model: {e}"))?;
    let mapping = leadq_ingest::Mapping::default();
    let run = crate::pipeline::load_and_score(
        &out.join("leads.csv"),
        model,
        &mapping,
        Some(&out.join("events.csv")),
        as_of,
        None,
        false,
    )?;
    let ids: Vec<&str> = run.batch.leads.iter().map(|l| l.id.as_str()).collect();
    let order = leadq_core::scoring::rank(&run.model, &ids, &run.scores);
    let qualified = out.join("qualified.csv");
    crate::output::write_leads(
        &run,
        &order,
        crate::cli::OutputFormat::Csv,
        true,
        &mut BufWriter::new(
            File::create(&qualified)
                .with_context(|| format!("cannot create {}", qualified.display()))?,
        ),
    )?;
    let mut o = String::new();
    outln!(
        o,
        "The ten best of {} leads (as of {DEMO_AS_OF}):\n",
        run.batch.leads.len()
    );
    for (rank, &i) in order.iter().take(10).enumerate() {
        let (l, s) = (&run.batch.leads[i], &run.scores[i]);
        let who = [
            l.full_name(),
            l.contact.title.as_ref().map(|t| t.to_string()),
            l.company.name.as_ref().map(|n| n.to_string()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        outln!(
            o,
            "{:>2}. {} {} fit {:.0} engagement {:.1}{}  {who}",
            rank + 1,
            s.priority,
            l.id,
            s.fit,
            s.engagement,
            if s.mql { " MQL" } else { "" }
        );
        let reasons = run.model.reasons_text(s);
        outln!(
            o,
            "    {}",
            if reasons.chars().count() > 150 {
                format!("{}…", reasons.chars().take(150).collect::<String>())
            } else {
                reasons
            }
        );
    }
    outln!(o, "\n{}", crate::output::summary(&run, None).trim_end());
    outln!(
        o,
        "\nFiles in {dir}: leads.csv, events.csv, outcomes.csv, model.toml, qualified.csv.\nNext: leadq explain {dir}/leads.csv --events {dir}/events.csv --model {dir}/model.toml --as-of {DEMO_AS_OF} --lead {first}\n      leadq backtest --model {dir}/model.toml --data {dir}/leads.csv --events {dir}/events.csv --outcomes {dir}/outcomes.csv --label converted --as-of {DEMO_AS_OF}",
        dir = out.display(),
        first = order.first().map_or("L0000001", |&i| run.batch.leads[i].id.as_str())
    );
    crate::output::emit(&o)
}

pub struct Spec {
    pub people: usize,
    pub seed: u64,
    pub events_per_lead: f64,
    pub as_of: i64,
}

#[derive(Default)]
pub struct Stats {
    pub lead_rows: usize,
    pub duplicate_rows: usize,
    pub broken_rows: usize,
    pub events: usize,
    pub converted: usize,
}

const INDUSTRIES: &[(&str, f64, f64)] = &[
    // (name, weight, fit contribution)
    ("Software", 18.0, 1.0),
    ("Fintech", 6.0, 0.9),
    ("Financial Services", 8.0, 0.7),
    ("Healthcare", 10.0, 0.4),
    ("Manufacturing", 12.0, 0.4),
    ("Retail", 10.0, 0.1),
    ("Education", 8.0, -0.5),
    ("Government", 4.0, -0.4),
    ("Non-profit", 4.0, -0.6),
    ("Media", 6.0, 0.0),
    ("Consulting", 8.0, 0.1),
    ("Logistics", 6.0, 0.2),
];

const COUNTRIES: &[(&str, &[&str], f64, f64)] = &[
    // (code, spellings, weight, fit)
    (
        "US",
        &[
            "United States",
            "USA",
            "us",
            "U.S.",
            "United States of America",
        ],
        35.0,
        0.5,
    ),
    (
        "GB",
        &["United Kingdom", "UK", "gb", "Great Britain"],
        10.0,
        0.4,
    ),
    ("DE", &["Germany", "Deutschland", "DE"], 8.0, 0.4),
    ("FR", &["France", "FR"], 5.0, 0.2),
    ("CA", &["Canada", "CA"], 5.0, 0.4),
    ("IN", &["India", "IN"], 8.0, -0.2),
    ("AU", &["Australia", "AU"], 4.0, 0.2),
    ("BR", &["Brazil", "Brasil"], 4.0, -0.1),
    ("NL", &["Netherlands", "Holland"], 3.0, 0.3),
    ("ES", &["Spain", "España"], 3.0, 0.0),
    ("SG", &["Singapore"], 2.0, 0.2),
    ("JP", &["Japan"], 2.0, 0.0),
    ("MX", &["Mexico"], 2.0, -0.2),
    ("ZA", &["South Africa"], 2.0, -0.2),
];

const SOURCES: &[(&str, f64, f64)] = &[
    ("Organic Search", 25.0, 0.0),
    ("Paid Search", 15.0, 0.0),
    ("Referral", 8.0, 0.6),
    ("Partner", 5.0, 0.5),
    ("Webinar", 8.0, 0.2),
    ("Content", 12.0, -0.1),
    ("Paid Social", 10.0, -0.3),
    ("Event", 7.0, 0.2),
    ("Outbound", 10.0, 0.0),
];

const SENIORITY_TITLES: &[(&[&str], f64, f64)] = &[
    (
        &[
            "CEO",
            "Founder",
            "Co-Founder & CEO",
            "Chief Technology Officer",
            "CFO",
            "Chief Marketing Officer",
            "COO",
        ],
        8.0,
        0.9,
    ),
    (
        &[
            "VP Engineering",
            "VP of Marketing",
            "Vice President, Sales",
            "Head of Data",
            "VP Operations",
            "Head of IT",
        ],
        10.0,
        0.8,
    ),
    (
        &[
            "Director of Engineering",
            "Marketing Director",
            "Director, IT",
            "Sales Director",
            "Director of Finance",
        ],
        14.0,
        0.6,
    ),
    (
        &[
            "Engineering Manager",
            "IT Manager",
            "Marketing Manager",
            "Product Manager",
            "Operations Manager",
            "Sales Manager",
        ],
        22.0,
        0.3,
    ),
    (
        &[
            "Senior Software Engineer",
            "Lead Developer",
            "Senior Analyst",
            "Principal Architect",
            "Senior Accountant",
        ],
        18.0,
        0.1,
    ),
    (
        &[
            "Software Engineer",
            "Data Analyst",
            "Accountant",
            "Marketing Specialist",
            "Sales Representative",
            "Consultant",
            "Teacher",
        ],
        22.0,
        -0.1,
    ),
    (
        &["Marketing Intern", "Student", "Engineering Intern"],
        6.0,
        -0.8,
    ),
];

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Maria",
    "Wei",
    "Priya",
    "Ahmed",
    "Sofia",
    "Lucas",
    "Emma",
    "Noah",
    "Olivia",
    "Liam",
    "Hannah",
    "Jonas",
    "Chloe",
    "Raj",
    "Aisha",
    "Mateo",
    "Yuki",
    "Lena",
    "Omar",
    "Zoe",
    "Daniel",
    "Sara",
    "Tom",
    "Anna",
    "Felix",
    "Nina",
    "Ivan",
    "Eva",
    "Leo",
    "Mia",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Muller",
    "Schmidt",
    "Patel",
    "Kumar",
    "Chen",
    "Wang",
    "Kim",
    "Tanaka",
    "Silva",
    "Santos",
    "Rossi",
    "Dubois",
    "Novak",
    "Jansen",
    "Nielsen",
    "Kowalski",
    "Ivanova",
    "Cohen",
    "Okafor",
    "Haddad",
    "Larsen",
    "Moreau",
    "Fischer",
    "Weber",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Taylor",
    "Clark",
    "Lewis",
];
const SYLLABLES: &[&str] = &[
    "ac", "me", "no", "va", "tek", "lo", "gi", "qu", "an", "tum", "zen", "ith", "ora", "bit",
    "flow", "core", "nex", "sys", "data", "cloud", "byte", "mark", "ly", "io", "sta", "pro", "via",
    "tra", "net", "hub",
];
const SUFFIXES: &[&str] = &[
    "Inc",
    "Ltd",
    "GmbH",
    "LLC",
    "Corp",
    "",
    "",
    "Group",
    "Labs",
    "Technologies",
];
const FREE: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "gmx.de",
    "proton.me",
];
const DISPOSABLE: &[&str] = &[
    "mailinator.com",
    "yopmail.com",
    "10minutemail.com",
    "guerrillamail.com",
];
const PAGES: &[(&str, f64)] = &[
    ("/", 0.0),
    ("/blog/lead-scoring-guide", -0.2),
    ("/blog/bant-vs-meddic", -0.1),
    ("/product", 0.3),
    ("/product/routing", 0.4),
    ("/docs/getting-started", 0.5),
    ("/docs/api", 0.6),
    ("/customers/acme-story", 0.5),
    ("/compare/alternatives", 0.7),
    ("/careers", -0.8),
    ("/pricing", 1.0),
];

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T], weight: impl Fn(&T) -> f64) -> &'a T {
    let total: f64 = items.iter().map(&weight).sum();
    let mut x = rng.random::<f64>() * total;
    for it in items {
        x -= weight(it);
        if x <= 0.0 {
            return it;
        }
    }
    &items[items.len() - 1]
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller.
    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        return (mean + mean.sqrt() * normal(rng)).round().max(0.0) as usize;
    }
    let l = (-mean).exp();
    let (mut k, mut p) = (0, 1.0);
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

fn iso(t: i64) -> String {
    leadq_ingest::time::format_timestamp(leadq_core::Timestamp(t))
}

struct Company {
    name: String,
    domain: String,
    industry: usize,
    employees: f64,
    country: usize,
}

fn messy_case(rng: &mut ChaCha8Rng, s: &str) -> String {
    match rng.random_range(0..20) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        2 => format!(" {s} "),
        3 => s.replace(' ', "  "),
        _ => s.to_string(),
    }
}

fn employees_text(rng: &mut ChaCha8Rng, n: f64) -> String {
    let n = n.round() as i64;
    match rng.random_range(0..20) {
        0 if n >= 1000 => format!("{},{:03}", n / 1000, n % 1000),
        1 => {
            let bands = [
                (1, 10),
                (11, 50),
                (51, 200),
                (201, 500),
                (501, 1000),
                (1001, 5000),
                (5001, 10000),
            ];
            match bands.iter().find(|(lo, hi)| n >= *lo && n <= *hi) {
                Some((lo, hi)) => format!("{lo}-{hi}"),
                None => format!("{n}"),
            }
        }
        2 if n >= 10_000 => "10,000+".to_string(),
        3 if n >= 2000 => format!("{}k", n / 1000),
        _ => n.to_string(),
    }
}

fn phone(rng: &mut ChaCha8Rng, country: &str) -> Option<String> {
    let d = |rng: &mut ChaCha8Rng, n: usize| {
        (0..n)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect::<String>()
    };
    match country {
        "US" | "CA" => {
            let area = [
                "212", "415", "312", "617", "206", "512", "303", "404", "416", "604",
            ][rng.random_range(0..10)];
            let exch = format!("{}{}", rng.random_range(2..10), d(rng, 2));
            let line = d(rng, 4);
            Some(match rng.random_range(0..4) {
                0 => format!("({area}) {exch}-{line}"),
                1 => format!("+1 {area} {exch} {line}"),
                2 => format!("{area}.{exch}.{line}"),
                _ => format!("+1{area}{exch}{line}"),
            })
        }
        "GB" => Some(format!("+44 20 7{} {}", d(rng, 3), d(rng, 4))),
        "DE" => Some(format!("+49 30 {}", d(rng, 8))),
        _ => None,
    }
}

/// Writes leads.csv, events.csv and outcomes.csv into `dir`.
pub fn generate(spec: &Spec, dir: &Path) -> Result<Stats> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut leads_w = BufWriter::with_capacity(
        1 << 20,
        File::create(dir.join("leads.csv")).context("cannot create leads.csv")?,
    );
    let mut events_w = BufWriter::with_capacity(
        1 << 22,
        File::create(dir.join("events.csv")).context("cannot create events.csv")?,
    );
    let mut outcomes_w = BufWriter::with_capacity(
        1 << 20,
        File::create(dir.join("outcomes.csv")).context("cannot create outcomes.csv")?,
    );
    writeln!(leads_w, "lead_id,email,first_name,last_name,phone,job_title,company,industry,employees,country,lead_source,campaign,created_at,opt_in,total_visits,bant.budget,bant.authority,bant.need,bant.timeline")?;
    writeln!(events_w, "event_id,lead_id,type,timestamp,url")?;
    writeln!(outcomes_w, "lead_id,converted,outcome,closed_at")?;

    let companies: Vec<Company> = (0..(spec.people / 3).max(1))
        .map(|i| {
            let n = rng.random_range(2..4);
            let base: String = (0..n)
                .map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())])
                .collect();
            let base = format!(
                "{base}{}",
                if i % 7 == 0 {
                    i.to_string()
                } else {
                    String::new()
                }
            );
            let mut name = base[..1].to_uppercase() + &base[1..];
            let suffix = SUFFIXES[rng.random_range(0..SUFFIXES.len())];
            let tld = [".com", ".io", ".de", ".co.uk", ".net"][rng.random_range(0..5)];
            let domain = format!("{base}{i}{tld}");
            if !suffix.is_empty() {
                name = format!("{name} {suffix}");
            }
            let industry = INDUSTRIES
                .iter()
                .position(|x| std::ptr::eq(x, pick(&mut rng, INDUSTRIES, |x| x.1)))
                .unwrap_or(0);
            let employees = (10f64.powf(rng.random_range(0.0..4.7))).round().max(1.0);
            let country = COUNTRIES
                .iter()
                .position(|x| std::ptr::eq(x, pick(&mut rng, COUNTRIES, |x| x.2)))
                .unwrap_or(0);
            Company {
                name,
                domain,
                industry,
                employees,
                country,
            }
        })
        .collect();

    let mut stats = Stats::default();
    let mut event_id: u64 = 0;
    let year = 365 * 86_400;
    for p in 0..spec.people {
        let c = &companies[rng.random_range(0..companies.len())];
        let first = FIRST[rng.random_range(0..FIRST.len())];
        let last = LAST[rng.random_range(0..LAST.len())];
        let (titles, _, title_fit) = pick(&mut rng, SENIORITY_TITLES, |x| x.1);
        let title = titles[rng.random_range(0..titles.len())];
        let (source, _, source_fit) = pick(&mut rng, SOURCES, |x| x.1);
        let (code, spellings, _, country_fit) = COUNTRIES[c.country];
        let email_roll = rng.random_range(0..100);
        let (email, email_fit) = match email_roll {
            0..=69 => (
                format!(
                    "{}.{}@{}",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    c.domain
                ),
                0.3,
            ),
            70..=95 => (
                format!(
                    "{}{}{}@{}",
                    first.to_lowercase(),
                    last.to_lowercase(),
                    rng.random_range(1..99),
                    FREE[rng.random_range(0..FREE.len())]
                ),
                -0.3,
            ),
            _ => (
                format!(
                    "{}{}@{}",
                    first.to_lowercase(),
                    rng.random_range(100..999),
                    DISPOSABLE[rng.random_range(0..DISPOSABLE.len())]
                ),
                -1.5,
            ),
        };
        let size_fit = match c.employees {
            e if e >= 1000.0 => 0.8,
            e if e >= 200.0 => 0.6,
            e if e >= 50.0 => 0.2,
            e if e < 10.0 => -0.6,
            _ => 0.0,
        };
        let fit = INDUSTRIES[c.industry].2 * 0.8
            + size_fit
            + title_fit * 0.7
            + country_fit * 0.5
            + email_fit
            + source_fit * 0.4
            + 0.3 * normal(&mut rng);
        let intent = sigmoid(1.2 * normal(&mut rng) - 0.6 + 0.35 * fit);
        let created = spec.as_of - rng.random_range(0..year);
        let converted =
            rng.random::<f64>() < sigmoid(-7.2 + 1.6 * fit + 4.5 * intent + 0.5 * normal(&mut rng));
        stats.converted += converted as usize;
        let id = format!("L{:07}", p + 1);

        // Events: volume and kind follow intent; recent when intent is high.
        let n_events = poisson(&mut rng, spec.events_per_lead * (0.25 + 1.5 * intent));
        let mut visits = 0;
        for _ in 0..n_events {
            let age = (-(rng.random::<f64>().max(1e-9)).ln() * 90.0 * (1.3 - intent))
                .min((spec.as_of - created) as f64 / 86_400.0 + 30.0);
            let at = spec.as_of - (age * 86_400.0) as i64 - rng.random_range(0..3600);
            let roll = rng.random::<f64>();
            let hot = intent * rng.random::<f64>();
            let (kind, url) = if roll < 0.45 {
                visits += 1;
                let page = pick(&mut rng, PAGES, |x| {
                    (1.0 + x.1 * (intent - 0.4) * 2.0).max(0.05)
                });
                ("page_view", page.0)
            } else if roll < 0.65 {
                ("email_open", "")
            } else if roll < 0.73 {
                ("email_click", "")
            } else if roll < 0.76 {
                (
                    if hot > 0.4 {
                        "email_reply"
                    } else {
                        "email_bounce"
                    },
                    "",
                )
            } else if roll < 0.78 {
                (
                    if hot < 0.05 {
                        "email_unsubscribe"
                    } else {
                        "email_open"
                    },
                    "",
                )
            } else if roll < 0.83 {
                ("content_download", "")
            } else if roll < 0.87 {
                ("webinar_registered", "")
            } else if roll < 0.89 {
                ("webinar_attended", "")
            } else if roll < 0.92 {
                ("form_submit", "")
            } else if roll < 0.94 {
                ("chat_started", "")
            } else if hot > 0.5 {
                (
                    ["demo_request", "trial_signup", "meeting_booked"][rng.random_range(0..3)],
                    "",
                )
            } else {
                ("page_view", "/blog/lead-scoring-guide")
            };
            event_id += 1;
            writeln!(events_w, "E{event_id:09},{id},{kind},{},{url}", iso(at))?;
            stats.events += 1;
            // A webhook retried: the same event delivered twice.
            if rng.random_range(0..100) == 0 {
                writeln!(events_w, "E{event_id:09},{id},{kind},{},{url}", iso(at))?;
                stats.events += 1;
            }
        }
        // Anonymous traffic that never became a lead.
        if rng.random_range(0..200) == 0 {
            event_id += 1;
            writeln!(
                events_w,
                "E{event_id:09},anon-{p},page_view,{},/pricing",
                iso(spec.as_of - rng.random_range(0..year))
            )?;
            stats.events += 1;
        }

        let employees = employees_text(&mut rng, c.employees);
        let industry = match rng.random_range(0..25) {
            0 => "N/A".to_string(),
            1 => "Select".to_string(),
            2 => String::new(),
            _ => messy_case(&mut rng, INDUSTRIES[c.industry].0),
        };
        let country = spellings[rng.random_range(0..spellings.len())].to_string();
        let phone = if rng.random_range(0..10) < 6 {
            phone(&mut rng, code).unwrap_or_default()
        } else {
            String::new()
        };
        let campaign = match rng.random_range(0..4) {
            0 => "Q3 Webinar Series",
            1 => "Spring Promo",
            2 => "",
            _ => "Always On",
        };
        let opt_in = ["yes", "no", "", "Yes", "TRUE"][rng.random_range(0..5)];
        // Reps have answered BANT for some leads; answers follow intent.
        let bant: [&str; 4] = if rng.random_range(0..100) < 15 {
            let good = intent > 0.45;
            [
                if good {
                    ["confirmed", "planned"][rng.random_range(0..2)]
                } else {
                    ["planned", "none", ""][rng.random_range(0..3)]
                },
                if *title_fit > 0.5 {
                    "decision_maker"
                } else {
                    ["influencer", "user"][rng.random_range(0..2)]
                },
                if good {
                    ["critical", "important"][rng.random_range(0..2)]
                } else {
                    ["nice_to_have", "important", ""][rng.random_range(0..3)]
                },
                if good {
                    ["within_3_months", "within_6_months"][rng.random_range(0..2)]
                } else {
                    ["within_12_months", "later", ""][rng.random_range(0..3)]
                },
            ]
        } else {
            ["", "", "", ""]
        };
        let total_visits = if rng.random_range(0..30) == 0 {
            String::new()
        } else {
            visits.to_string()
        };
        let mut email_field = email.clone();
        let roll = rng.random_range(0..1000);
        let mut broken = false;
        if roll < 8 {
            // A typo no importer can fix.
            email_field = email.replace('@', "@@");
            broken = true;
        } else if roll < 11 {
            email_field = email.replace('@', " at ");
            broken = true;
        }
        let mut emp_field = employees;
        if (11..14).contains(&roll) {
            emp_field = "lots".into();
            broken = true;
        }
        stats.broken_rows += broken as usize;
        let record = [
            id.clone(),
            email_field,
            first.to_string(),
            last.to_string(),
            phone.clone(),
            title.to_string(),
            c.name.clone(),
            industry.clone(),
            emp_field,
            country.clone(),
            messy_case(&mut rng, source),
            campaign.to_string(),
            iso(created),
            opt_in.to_string(),
            total_visits.clone(),
            bant[0].into(),
            bant[1].into(),
            bant[2].into(),
            bant[3].into(),
        ];
        write_csv_row(&mut leads_w, &record)?;
        stats.lead_rows += 1;
        // Duplicates: the same person again (another form fill, another list).
        let dup = rng.random_range(0..100);
        if dup < 3 && !broken {
            let mut again = record.clone();
            again[0] = format!("{id}-D");
            again[1] = messy_case(&mut rng, &email).to_uppercase();
            again[4] = String::new();
            again[12] = iso(created + rng.random_range(0..30 * 86_400).min(spec.as_of - created));
            write_csv_row(&mut leads_w, &again)?;
            stats.lead_rows += 1;
            stats.duplicate_rows += 1;
        } else if dup == 3 && !broken && first.len() > 3 {
            // A near-duplicate typed by hand at an event: no email, name typo.
            let mut again = record.clone();
            again[0] = format!("{id}-E");
            again[1] = String::new();
            again[2] = first[..first.len() - 1].to_string();
            again[4] = if phone.is_empty() {
                String::new()
            } else {
                phone.clone()
            };
            write_csv_row(&mut leads_w, &again)?;
            stats.lead_rows += 1;
            stats.duplicate_rows += 1;
        }
        if rng.random_range(0..500) == 0 {
            // A row with nothing to identify anyone.
            write_csv_row(
                &mut leads_w,
                &[
                    String::new(),
                    String::new(),
                    "Unknown".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    c.name.clone(),
                    industry,
                    String::new(),
                    country,
                    "Event".into(),
                    String::new(),
                    iso(created),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
            )?;
            stats.lead_rows += 1;
            stats.broken_rows += 1;
        }
        let outcome = if converted {
            "won"
        } else if rng.random::<f64>() < 0.7 {
            "lost"
        } else {
            "open"
        };
        let closed = if outcome == "open" {
            String::new()
        } else {
            iso((created + rng.random_range(7..120) * 86_400).min(spec.as_of))
        };
        writeln!(outcomes_w, "{id},{},{outcome},{closed}", converted as u8)?;
    }
    leads_w.flush()?;
    events_w.flush()?;
    outcomes_w.flush()?;
    Ok(stats)
}

fn write_csv_row(w: &mut impl Write, fields: &[String]) -> std::io::Result<()> {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        if f.contains([',', '"', '\n', '\r']) || f.starts_with(' ') || f.ends_with(' ') {
            w.write_all(b"\"")?;
            w.write_all(f.replace('"', "\"\"").as_bytes())?;
            w.write_all(b"\"")?;
        } else {
            w.write_all(f.as_bytes())?;
        }
    }
    w.write_all(b"\n")
}
