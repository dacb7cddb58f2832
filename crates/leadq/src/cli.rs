//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "leadq",
    version,
    about = "Lead qualification engine: score, qualify, rank and explain leads",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Score, qualify and rank every lead of a file with a scoring model
    Qualify(QualifyArgs),
    /// Show the full score breakdown of one lead
    Explain(ExplainArgs),
    /// Measure how well a rules model ranks leads whose outcome is known
    Backtest(BacktestArgs),
    /// List and show the qualification frameworks (BANT, MEDDIC, …)
    Frameworks(FrameworksArgs),
    /// Generate a realistic synthetic data set
    Demo(DemoArgs),
    /// Run the service: HTTP API, background workers, embedded SQLite or PostgreSQL
    Serve(ServeArgs),
    /// Apply the database migrations and exit
    Migrate(StoreArgs),
    /// Users and API tokens
    Admin(AdminArgs),
    /// Export or erase everything stored about a person
    Privacy(PrivacyArgs),
    /// Reps' tasks: list, add, complete, snooze
    Tasks(TasksArgs),
    /// Learn a calibrated conversion probability from leads with known outcomes
    Train(TrainArgs),
    /// Score leads with a trained model: probability and top factors
    Predict(PredictArgs),
    /// Measure a trained model on leads with known outcomes
    Evaluate(EvaluateArgs),
}

/// A usage mistake found after parsing (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum OutputFormat {
    Csv,
    Json,
    Ndjson,
}

/// How to read lead and event files, shared by the commands that score.
#[derive(Args, Clone)]
pub struct ReadArgs {
    /// Engagement events (CSV, JSON or NDJSON) with lead_id or email, type, timestamp
    #[arg(long, value_name = "EVENTS")]
    pub events: Option<PathBuf>,
    /// Column mapping file (TOML)
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    pub mapping: Option<PathBuf>,
    /// Column mapping preset
    #[arg(long, value_name = "NAME", value_parser = ["hubspot", "salesforce", "generic"])]
    pub preset: Option<String>,
    /// Score as of this instant (RFC 3339 or YYYY-MM-DD); default: now
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Input format when the file name does not tell
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "json", "ndjson"])]
    pub input_format: Option<String>,
}

/// A scoring model and how to read the files it scores.
#[derive(Args, Clone)]
pub struct InputArgs {
    /// Scoring model (TOML)
    #[arg(long, short = 'm', value_name = "MODEL.toml")]
    pub model: PathBuf,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Args)]
pub struct QualifyArgs {
    /// Lead file (CSV with any delimiter, JSON array or NDJSON)
    pub input: PathBuf,
    #[command(flatten)]
    pub common: InputArgs,
    /// Output format (default: from --out's extension, else csv)
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write the ranked leads here instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write rejected rows (row, line, column, reason) here as CSV
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Write the duplicate merges here as CSV
    #[arg(long, value_name = "FILE")]
    pub merges: Option<PathBuf>,
    /// Write the account roll-up (leads grouped by company domain) here as CSV
    #[arg(long, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// Leave the input columns out of the output
    #[arg(long)]
    pub no_passthrough: bool,
    /// Print no summary
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ExplainArgs {
    /// Lead file
    pub input: PathBuf,
    #[command(flatten)]
    pub common: InputArgs,
    /// The lead to explain: its id or email
    #[arg(long, value_name = "ID")]
    pub lead: String,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct BacktestArgs {
    /// Rules model to evaluate (TOML)
    #[arg(long, short = 'm', value_name = "RULES.toml")]
    pub model: PathBuf,
    /// A second model to compare side by side
    #[arg(long, value_name = "OTHER.toml")]
    pub against: Option<PathBuf>,
    /// Leads with known outcomes
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The outcome column (1/yes/true/won = converted)
    #[arg(long, value_name = "COL")]
    pub label: String,
    /// Value of the label that means converted, when not 1/yes/true/won
    #[arg(long, value_name = "VALUE")]
    pub positive: Option<String>,
    /// A separate outcomes file joined on lead id (when the label is not in --data)
    #[arg(long, value_name = "FILE")]
    pub outcomes: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
    /// Write a self-contained HTML report (ROC, gain, lift, score distribution)
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

#[derive(Args)]
pub struct FrameworksArgs {
    #[command(subcommand)]
    pub command: FrameworksCommand,
}

#[derive(Subcommand)]
pub enum FrameworksCommand {
    /// List the shipped frameworks
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one framework's criteria and questions in asking order
    Show {
        /// BANT, MEDDIC, CHAMP, SPIN, GPCTBA/C&I or ANUM
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct DemoArgs {
    #[command(subcommand)]
    pub command: DemoCommand,
}

#[derive(Subcommand)]
pub enum DemoCommand {
    /// Generate a data set, qualify it with the default model and show the best leads
    Run {
        /// Number of people to generate
        #[arg(long, default_value_t = 10_000)]
        leads: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Directory for the generated and qualified files
        #[arg(long, short = 'o', default_value = "leadq-demo")]
        out: PathBuf,
    },
    /// Print the default scoring model (TOML) that matches the demo data
    Model,
    /// Write leads.csv, events.csv and outcomes.csv of a synthetic B2B company
    Generate {
        /// Number of distinct people (duplicates and bad rows come on top)
        #[arg(long, default_value_t = 10_000)]
        leads: usize,
        /// Random seed: the same seed gives the same files
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Average engagement events per lead
        #[arg(long, default_value_t = 10.0)]
        events_per_lead: f64,
        /// The data ends at this instant (RFC 3339 or YYYY-MM-DD)
        #[arg(long, default_value = "2026-11-01T00:00:00Z")]
        as_of: String,
        /// Output directory (created if missing)
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
}

/// Where the service keeps its data. Flags win over `LEADQ_*` environment
/// variables, which win over `leadq.toml`.
#[derive(Args, Clone, Default)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite database (leadq.db) [default: ./leadq-data]
    #[arg(long, env = "LEADQ_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://user@host/db) instead of the embedded SQLite
    #[arg(long, env = "LEADQ_DATABASE_URL", conflicts_with = "data_dir")]
    pub database_url: Option<String>,
    /// Configuration file [default: ./leadq.toml when it exists]
    #[arg(long, env = "LEADQ_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "LEADQ_BIND")]
    pub bind: Option<String>,
    /// Seed an empty store with generated leads, events, outcomes, reps, a
    /// published model and routing rules; print the URL and an admin token
    #[arg(long)]
    pub demo: bool,
    /// Leads generated by --demo
    #[arg(long, default_value_t = 2000)]
    pub demo_leads: usize,
    /// SMTP server for nurture email: smtp://user:password@host:port (STARTTLS;
    /// `?tls=none` for a local relay) or smtps://… (TLS)
    #[arg(long, env = "LEADQ_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// A PEM certificate to trust for the SMTP server besides the public
    /// roots (an internal CA or a self-signed relay)
    #[arg(long, env = "LEADQ_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender of nurture email, e.g. "Acme Sales <sales@acme.example>"
    #[arg(long, env = "LEADQ_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// The address recipients reach this server at, for unsubscribe and
    /// tracking links [default: http://BIND]
    #[arg(long, env = "LEADQ_PUBLIC_URL")]
    pub public_url: Option<String>,
}

#[derive(Args)]
pub struct TasksArgs {
    #[command(subcommand)]
    pub command: TasksCommand,
}

#[derive(Subcommand)]
pub enum TasksCommand {
    /// Open tasks, soonest due first
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this rep's
        #[arg(long)]
        owner: Option<String>,
        /// Only those past due
        #[arg(long)]
        overdue: bool,
        /// One JSON document instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Add a task for a lead's owner
    Add {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        lead: String,
        #[arg(long)]
        title: String,
        /// call, email, proposal, meeting or todo
        #[arg(long, default_value = "todo")]
        kind: String,
        /// Due this many business hours from now in the owner's working hours
        #[arg(long, default_value_t = 8.0)]
        due_hours: f64,
    },
    /// Mark a task done
    Complete {
        #[command(flatten)]
        store: StoreArgs,
        id: String,
    },
    /// Move a task's due time later
    Snooze {
        #[command(flatten)]
        store: StoreArgs,
        id: String,
        /// The new due instant (RFC 3339)
        #[arg(long, conflicts_with = "hours", required_unless_present = "hours")]
        until: Option<String>,
        /// Business hours from now in the owner's working hours
        #[arg(long)]
        hours: Option<f64>,
    },
}

#[derive(Args)]
pub struct PrivacyArgs {
    #[command(subcommand)]
    pub command: PrivacyCommand,
}

#[derive(Subcommand)]
pub enum PrivacyCommand {
    /// Print everything stored about the person with this email as one JSON document
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        email: String,
        /// Write the document to this file instead of stdout
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Erase the person with this email everywhere; prints the audit entry (which names nobody)
    Erase {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        email: String,
    },
}

#[derive(Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a user (and print a token for them)
    CreateUser {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        name: String,
        /// admin, marketing, manager or rep
        #[arg(long)]
        role: String,
        /// The rep a rep user acts as
        #[arg(long)]
        rep_id: Option<String>,
        /// Read the user's web sign-in password from the first line of stdin
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's web sign-in password, read from the first line of stdin
    SetPassword {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        name: String,
    },
    /// Create an API token and print it on stdout (shown once; stored hashed)
    CreateToken {
        #[command(flatten)]
        store: StoreArgs,
        /// admin, marketing, manager or rep
        #[arg(long)]
        role: String,
        /// A name to recognise the token by
        #[arg(long)]
        name: String,
        /// The rep a rep token acts as
        #[arg(long)]
        rep_id: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CalibrationArg {
    Isotonic,
    Platt,
    None,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum AlgorithmArg {
    Gbdt,
    Logistic,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Leads with known outcomes (CSV with `,` `;` or tab, JSON or NDJSON)
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The outcome column
    #[arg(long, value_name = "COL")]
    pub label: String,
    /// Value of the label that means converted, when not 1/yes/true
    #[arg(long, value_name = "VALUE")]
    pub positive: Option<String>,
    /// Columns that must not be features (ids, notes filled in later)
    #[arg(long, value_name = "COL,…", value_delimiter = ',')]
    pub exclude: Vec<String>,
    #[arg(long, value_enum, default_value = "gbdt")]
    pub algorithm: AlgorithmArg,
    /// How raw scores become probabilities, fitted on held-out folds:
    /// isotonic, platt, or none (the learner's own sigmoid)
    #[arg(long, value_enum, default_value = "isotonic")]
    pub calibration: CalibrationArg,
    /// Stratified K-fold cross-validation, then a final model on all rows [default: 5]
    #[arg(long, value_name = "K", conflicts_with = "holdout")]
    pub cv: Option<usize>,
    /// Hold out this fraction of rows for evaluation; the saved model is trained on the rest
    #[arg(long, value_name = "FRACTION")]
    pub holdout: Option<f64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where to write the model
    #[arg(long, short = 'o', value_name = "MODEL.json")]
    pub out: Option<PathBuf>,
    /// Use these columns even though the leakage guard flags them
    #[arg(long, value_name = "COL,…", value_delimiter = ',')]
    pub allow_leaky: Vec<String>,
    /// Write a self-contained HTML report (ROC, gain, lift, reliability,
    /// score distribution) of the cross-validation or holdout predictions
    #[arg(long, value_name = "REPORT.html")]
    pub report: Option<PathBuf>,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct PredictArgs {
    /// Trained model (JSON from `leadq train`)
    #[arg(long, short = 'm', value_name = "MODEL.json")]
    pub model: PathBuf,
    /// Leads to score
    pub input: PathBuf,
    /// Write the CSV here instead of standard output
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvaluateArgs {
    #[arg(long, short = 'm', value_name = "MODEL.json")]
    pub model: PathBuf,
    /// Leads with known outcomes
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The outcome column
    #[arg(long, value_name = "COL")]
    pub label: String,
    /// Value of the label that means converted [default: the model's]
    #[arg(long, value_name = "VALUE")]
    pub positive: Option<String>,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}
