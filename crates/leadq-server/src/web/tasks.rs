//! The lead page's task section: the lead's tasks, soonest due first, with
//! a button to complete open ones, and a form to add one.

use super::{encode, when};
use crate::error::ApiResult;
use crate::AppState;
use leadq_store::{TaskFilter, TaskRow};
use maud::{html, Markup};

pub fn load(state: &AppState, lead_id: &str) -> ApiResult<Vec<TaskRow>> {
    Ok(state.store.list_tasks(&TaskFilter {
        lead_id: Some(lead_id.to_string()),
        limit: 200,
        ..Default::default()
    })?)
}

pub fn section(tasks: &[TaskRow], lead_id: &str, now: i64) -> Markup {
    html! {
        @if tasks.is_empty() {
            p.muted { "No tasks." }
        } @else {
            table #tasks {
                thead { tr { th { "Due" } th { "Task" } th { "Owner" } th { "State" } th { span.sr { "Action" } } } }
                tbody {
                    @for t in tasks {
                        tr data-status=(t.status) {
                            td {
                                (when(t.due_at))
                                @if t.status == "open" && t.due_at < now { " " strong.overdue { "overdue" } }
                            }
                            td { (t.kind) ": " (t.title) @if let Some(n) = &t.notes { br; span.muted { (n) } } }
                            td { (t.owner.as_deref().unwrap_or("—")) }
                            td { (t.status) @if t.snoozed > 0 { " (snoozed " (t.snoozed) "×)" } }
                            td {
                                @if t.status == "open" {
                                    form.inline data-api={"/api/v1/tasks/" (encode(&t.id)) "/complete"} data-method="POST" data-then="reload"
                                        aria-label={"Complete " (t.title)} {
                                        button type="submit" { "Done" }
                                        p role="alert" {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.inline data-api={"/api/v1/leads/" (encode(lead_id)) "/tasks"} data-method="POST" data-then="reload"
            aria-label="Add a task" {
            label { "Task " input name="title" required maxlength="200"; }
            label { "Kind "
                select name="kind" {
                    @for k in leadq_core::tasks::TASK_KINDS { option value=(k) { (k) } }
                }
            }
            label { "Due in business hours " input name="due_business_hours" type="number" min="0" step="0.5" value="8" data-type="number"; }
            button type="submit" { "Add task" }
            p role="alert" {}
        }
    }
}
