use thiserror::Error;

/// Everything that can go wrong while learning or applying a model.
#[derive(Debug, Error)]
pub enum PredictError {
    #[error("column `{0}` is not in the data")]
    MissingColumn(String),
    #[error("label `{column}` row {row}: value `{value}` is empty")]
    EmptyLabel {
        column: String,
        row: usize,
        value: String,
    },
    #[error("the label needs both outcomes: {positives} positive and {negatives} negative rows")]
    SingleClass { positives: usize, negatives: usize },
    #[error("no usable feature is left after exclusions")]
    NoFeatures,
    #[error("not enough rows: {0}")]
    TooFewRows(String),
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    #[error("not a leadq-predict model file: {0}")]
    Format(String),
}
