//! The logged items that travel from R's `log_*` calls through the outbox to a sink,
//! and their staged form: numbered, serialised JSON text, grouped by kind.

use serde_json::{json, Value};

/// The kinds of logged items; within a kind, items are delivered in the order logged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Kind {
    Metric,
    Parameter,
    Output,
    Rest,
}

impl Kind {
    pub fn tag(self) -> char {
        match self {
            Kind::Metric => 'm',
            Kind::Parameter => 'p',
            Kind::Output => 'o',
            Kind::Rest => 'r',
        }
    }

    pub fn from_tag(c: &str) -> Option<Kind> {
        match c {
            "m" => Some(Kind::Metric),
            "p" => Some(Kind::Parameter),
            "o" => Some(Kind::Output),
            "r" => Some(Kind::Rest),
            _ => None,
        }
    }
}

/// A REST write waiting to be sent: its endpoint below `/api/rest/v2/` and JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct RestWrite {
    pub endpoint: String,
    pub body: String,
}

impl RestWrite {
    /// The staged form, `{"e": endpoint, "b": body}` (as the spool stores it).
    pub fn to_staged(&self) -> String {
        json!({"e": self.endpoint, "b": self.body}).to_string()
    }

    pub fn from_staged(json: &str) -> RestWrite {
        let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        RestWrite {
            endpoint: v["e"].as_str().unwrap_or("").to_string(),
            body: v["b"].as_str().unwrap_or("{}").to_string(),
        }
    }
}

/// One metric point, kept compact while waiting (a million of them must fit in a few
/// tens of MiB) and turned into JSON only when staged.
#[derive(Clone, Debug)]
pub struct MetricPoint {
    pub name: String,
    pub value: Value,
    pub step: Option<i64>,
    pub epoch: Option<i64>,
    pub context: Option<String>,
    pub timestamp: i64,
}

impl MetricPoint {
    pub fn to_json(&self) -> Value {
        json!({
            "metricName": self.name, "metricValue": self.value, "step": self.step,
            "epoch": self.epoch, "context": self.context, "timestamp": self.timestamp
        })
    }
}

/// A logged item waiting to be staged.
pub enum Entry {
    Metric(MetricPoint),
    Parameter(Value),
    Output(Value),
    Rest(RestWrite),
}

impl Entry {
    /// Its kind and staged JSON text: what the spool stores and a sink receives.
    pub fn staged(&self) -> (Kind, String) {
        match self {
            Entry::Metric(m) => (Kind::Metric, m.to_json().to_string()),
            Entry::Parameter(v) => (Kind::Parameter, v.to_string()),
            Entry::Output(v) => (Kind::Output, v.to_string()),
            Entry::Rest(w) => (Kind::Rest, w.to_staged()),
        }
    }
}

/// Comet's encoding of metric values: numbers as numbers, NaN and infinities as the
/// strings the official SDK sends.
pub fn number(x: f64) -> Value {
    if x.is_nan() {
        json!("NaN")
    } else if x == f64::INFINITY {
        json!("Infinity")
    } else if x == f64::NEG_INFINITY {
        json!("-Infinity")
    } else if x == x.trunc() && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_numbers() {
        assert_eq!(number(f64::NAN), json!("NaN"));
        assert_eq!(number(f64::INFINITY), json!("Infinity"));
        assert_eq!(number(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(number(100000.0), json!(100000));
        assert_eq!(number(0.25), json!(0.25));
    }

    #[test]
    fn rest_writes_round_trip_through_the_staged_form() {
        let w = RestWrite {
            endpoint: "write/experiment/tags".into(),
            body: "{\"addedTags\":[\"a\"]}".into(),
        };
        assert_eq!(RestWrite::from_staged(&w.to_staged()), w);
        for k in [Kind::Metric, Kind::Parameter, Kind::Output, Kind::Rest] {
            assert_eq!(Kind::from_tag(&k.tag().to_string()), Some(k));
        }
    }
}
