//! `leadq frameworks list|show`.

use crate::cli::{FrameworksArgs, FrameworksCommand, UsageError};
use anyhow::Result;
use leadq_core::framework::{self, AnswerType};

pub fn run(args: FrameworksArgs) -> Result<()> {
    let mut o = String::new();
    match args.command {
        FrameworksCommand::List { json } => {
            let all = framework::built_in();
            if json {
                outln!(o, "{}", serde_json::to_string_pretty(&all)?);
                return crate::output::emit(&o);
            }
            outln!(o, "{:<12} {:<14} {:<9} NAME", "KEY", "COLUMNS", "CRITERIA");
            for f in all {
                outln!(
                    o,
                    "{:<12} {:<14} {:<9} {}",
                    f.key,
                    format!("{}.*", f.column_prefix()),
                    f.criteria.len(),
                    f.name
                );
            }
            crate::output::emit(&o)
        }
        FrameworksCommand::Show { name, json } => {
            let f = framework::find(&name, &[]).map_err(|e| UsageError(e.to_string()))?;
            if json {
                outln!(o, "{}", serde_json::to_string_pretty(&f)?);
                return crate::output::emit(&o);
            }
            outln!(o, "{} — {}", f.key, f.name);
            if !f.description.is_empty() {
                outln!(o, "{}", f.description);
            }
            match f.min_satisfied {
                Some(n) => outln!(o, "Qualified when at least {n} of {} criteria are satisfied; any disqualifying answer disqualifies.", f.criteria.len()),
                None => outln!(o, "Qualified when every required criterion is satisfied; any disqualifying answer disqualifies."),
            }
            outln!(
                o,
                "Answers are read from input columns {}.<criterion>.\n",
                f.column_prefix()
            );
            for (i, c) in f.criteria.iter().enumerate() {
                let req = if c.required { "required" } else { "optional" };
                outln!(
                    o,
                    "{}. {} ({}.{}, {req})",
                    i + 1,
                    c.name,
                    f.column_prefix(),
                    c.key
                );
                let answer = match c.answer {
                    AnswerType::Choice => format!("one of: {}", c.options.join(", ")),
                    AnswerType::YesNo => "yes / no".into(),
                    AnswerType::Number => match c.min {
                        Some(m) => format!("a number (satisfied from {m})"),
                        None => "a number".into(),
                    },
                    AnswerType::Text => "free text (satisfied when given)".into(),
                };
                outln!(o, "   answer: {answer}");
                if !c.satisfied_by.is_empty() {
                    outln!(o, "   satisfied by: {}", c.satisfied_by.join(", "));
                }
                if !c.disqualified_by.is_empty() {
                    outln!(o, "   disqualified by: {}", c.disqualified_by.join(", "));
                }
                for (qi, q) in c.questions.iter().enumerate() {
                    outln!(o, "   Q{}: {q}", qi + 1);
                }
                if !c.help.is_empty() {
                    outln!(o, "   good answer: {}", c.help);
                }
            }
            crate::output::emit(&o)
        }
    }
}
