//! What an experiment logs: metrics, parameters, others, tags, documents (HTML, code,
//! graph, git metadata, system details, status marks), output lines; and its run state
//! (times, heartbeats, archiving).

use rusqlite::{params, OptionalExtension};

use super::Store;
use crate::util::now_ms;

/// A metric point as a client sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub name: String,
    pub value: Option<String>,
    pub step: Option<i64>,
    pub epoch: Option<i64>,
    pub context: Option<String>,
    /// Milliseconds; the time of storing when the client sent none.
    pub ts: Option<i64>,
}

/// A metric point as stored, with its position in logging order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMetric {
    pub offset: i64,
    pub point: MetricPoint,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParameterValue {
    pub name: String,
    pub value: Option<String>,
    pub step: Option<i64>,
    pub ts: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputLine {
    pub offset: Option<i64>,
    pub text: String,
    pub stderr: bool,
    pub ts: Option<i64>,
}

/// One logged value, as the summaries see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub value: Option<String>,
    pub ts: Option<i64>,
    pub step: Option<i64>,
}

/// The named series Comet summarises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    Metrics,
    Parameters,
    Others,
}

impl Series {
    fn table(self) -> &'static str {
        match self {
            Series::Metrics => "metrics",
            Series::Parameters => "parameters",
            Series::Others => "others",
        }
    }
}

impl Store {
    /// Store metric points in one transaction, every one of them, as Comet does: equal
    /// points logged twice are two points. A resent batch is recognised by its
    /// identity (`Store::batch`), not by its content. Returns how many were stored.
    pub fn insert_metrics(&self, key: &str, points: &[MetricPoint]) -> rusqlite::Result<usize> {
        let tx = self.unit()?;
        let mut n = 0;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO metrics(experiment_key, name, value, step, epoch, context, ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let now = now_ms();
            for p in points {
                n += st.execute(params![
                    key,
                    p.name,
                    p.value,
                    p.step,
                    p.epoch,
                    p.context,
                    p.ts.unwrap_or(now),
                ])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    pub fn insert_parameters(
        &self,
        key: &str,
        values: &[ParameterValue],
    ) -> rusqlite::Result<usize> {
        let tx = self.unit()?;
        let mut n = 0;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO parameters(experiment_key, name, value, step, ts)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let now = now_ms();
            for p in values {
                n += st.execute(params![key, p.name, p.value, p.step, p.ts.unwrap_or(now)])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Whether exactly this parameter value (name, value, step and time) is stored.
    pub fn parameter_stored(&self, key: &str, p: &ParameterValue) -> rusqlite::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM parameters WHERE experiment_key = ?1 AND name = ?2
                 AND value IS ?3 AND step IS ?4 AND ts IS ?5",
                params![key, p.name, p.value, p.step, p.ts],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn log_other(&self, key: &str, name: &str, value: &str, ts: i64) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO others(experiment_key, name, value, ts) VALUES (?1, ?2, ?3, ?4)",
            params![key, name, value, ts],
        )?;
        Ok(())
    }

    pub fn other_stored(&self, key: &str, name: &str, value: &str) -> rusqlite::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM others WHERE experiment_key = ?1 AND name = ?2 AND value IS ?3",
                params![key, name, value],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Latest value of a parameter, as Comet's `valueCurrent` string.
    pub fn latest_parameter(&self, key: &str, name: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT value FROM parameters WHERE experiment_key = ?1 AND name = ?2
                 ORDER BY id DESC LIMIT 1",
                params![key, name],
                |r| r.get(0),
            )
            .optional()
    }

    /// A metric's points in logging order: (value, step, epoch, timestamp).
    #[allow(clippy::type_complexity)]
    pub fn metric_values(
        &self,
        key: &str,
        name: &str,
    ) -> rusqlite::Result<Vec<(Option<String>, Option<i64>, Option<i64>, Option<i64>)>> {
        let mut st = self.conn.prepare(
            "SELECT value, step, epoch, ts FROM metrics WHERE experiment_key = ?1 AND name = ?2
             ORDER BY id",
        )?;
        let rows = st.query_map(params![key, name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect()
    }

    /// The metric points of an experiment (of one name, or all), in logging order.
    pub fn metric_points(
        &self,
        key: &str,
        name: Option<&str>,
    ) -> rusqlite::Result<Vec<StoredMetric>> {
        let sql = format!(
            "SELECT id, name, value, step, epoch, context, ts FROM metrics
             WHERE experiment_key = ?1 {} ORDER BY id",
            if name.is_some() { "AND name = ?2" } else { "" }
        );
        let mut st = self.conn.prepare(&sql)?;
        let map = |r: &rusqlite::Row| {
            Ok(StoredMetric {
                offset: r.get(0)?,
                point: MetricPoint {
                    name: r.get(1)?,
                    value: r.get(2)?,
                    step: r.get(3)?,
                    epoch: r.get(4)?,
                    context: r.get(5)?,
                    ts: r.get(6)?,
                },
            })
        };
        let rows = match name {
            Some(n) => st.query_map(params![key, n], map)?.collect(),
            None => st.query_map(params![key], map)?.collect(),
        };
        rows
    }

    /// Every value of a series, with its name, in logging order.
    pub fn series_points(
        &self,
        series: Series,
        key: &str,
    ) -> rusqlite::Result<Vec<(String, Point)>> {
        let step = if series == Series::Others {
            "NULL"
        } else {
            "step"
        };
        let mut st = self.conn.prepare(&format!(
            "SELECT name, value, ts, {step} FROM {} WHERE experiment_key = ?1 ORDER BY id",
            series.table()
        ))?;
        let rows = st.query_map(params![key], |r| {
            Ok((
                r.get(0)?,
                Point {
                    value: r.get(1)?,
                    ts: r.get(2)?,
                    step: r.get(3)?,
                },
            ))
        })?;
        rows.collect()
    }

    /// Names of the others, metrics and parameters logged in a project, for its columns.
    pub fn column_names(&self, project_id: &str) -> rusqlite::Result<Vec<(String, &'static str)>> {
        let mut out = Vec::new();
        for (table, source) in [
            ("others", "log_other"),
            ("metrics", "metrics"),
            ("parameters", "params"),
        ] {
            let mut st = self.conn.prepare(&format!(
                "SELECT DISTINCT t.name FROM {table} t JOIN experiments e
                 ON e.experiment_key = t.experiment_key WHERE e.project_id = ?1 ORDER BY t.name"
            ))?;
            let rows = st.query_map(params![project_id], |r| r.get::<_, String>(0))?;
            for r in rows {
                out.push((r?, source));
            }
        }
        // Tags are columns too: comet_ml's `Tag("x")` query looks for the column.
        let mut st = self.conn.prepare(
            "SELECT DISTINCT t.tag FROM tags t JOIN experiments e
             ON e.experiment_key = t.experiment_key WHERE e.project_id = ?1 ORDER BY t.tag",
        )?;
        let rows = st.query_map(params![project_id], |r| r.get::<_, String>(0))?;
        for r in rows {
            out.push((r?, "tag"));
        }
        Ok(out)
    }

    pub fn add_tag(&self, key: &str, tag: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO tags(experiment_key, tag) VALUES (?1, ?2)",
            params![key, tag],
        )?;
        Ok(())
    }

    pub fn delete_tag(&self, key: &str, tag: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "DELETE FROM tags WHERE experiment_key = ?1 AND tag = ?2",
            params![key, tag],
        )?;
        Ok(())
    }

    /// Tags in the order they were added.
    pub fn tags(&self, key: &str) -> rusqlite::Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT tag FROM tags WHERE experiment_key = ?1 ORDER BY rowid")?;
        let rows = st.query_map(params![key], |r| r.get(0))?;
        rows.collect()
    }

    /// A document of an experiment (one per kind: html, code, graph, status, marks...).
    pub fn doc(&self, key: &str, kind: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT body FROM documents WHERE experiment_key = ?1 AND kind = ?2",
                params![key, kind],
                |r| r.get(0),
            )
            .optional()
    }

    pub fn set_doc(&self, key: &str, kind: &str, body: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO documents(experiment_key, kind, body) VALUES (?1, ?2, ?3)",
            params![key, kind, body],
        )?;
        Ok(())
    }

    pub fn clear_doc(&self, key: &str, kind: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "DELETE FROM documents WHERE experiment_key = ?1 AND kind = ?2",
            params![key, kind],
        )?;
        Ok(())
    }

    /// Store output lines in one transaction.
    pub fn insert_output(
        &self,
        key: &str,
        context: Option<&str>,
        lines: &[OutputLine],
    ) -> rusqlite::Result<()> {
        let tx = self.unit()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO output(experiment_key, line_offset, output, stderr, ts, context)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let now = now_ms();
            for l in lines {
                st.execute(params![
                    key,
                    l.offset,
                    l.text,
                    l.stderr as i64,
                    l.ts.unwrap_or(now),
                    context,
                ])?;
            }
        }
        tx.commit()
    }

    /// Whether this output line (offset, text and time) is stored.
    pub fn output_stored(&self, key: &str, l: &OutputLine) -> rusqlite::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM output WHERE experiment_key = ?1 AND line_offset IS ?2
                 AND output = ?3 AND ts IS ?4",
                params![key, l.offset, l.text, l.ts],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The output entries in line order.
    pub fn output(&self, key: &str) -> rusqlite::Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT output FROM output WHERE experiment_key = ?1 ORDER BY line_offset, id",
        )?;
        let rows = st.query_map(params![key], |r| r.get::<_, String>(0))?;
        rows.collect()
    }

    /// The offset the next output line of a resumed run takes.
    pub fn next_output_offset(&self, key: &str) -> rusqlite::Result<i64> {
        self.conn.query_row(
            "SELECT COALESCE(MAX(line_offset) + 1, 0) FROM output WHERE experiment_key = ?1",
            params![key],
            |r| r.get(0),
        )
    }

    pub fn set_file_path(&self, key: &str, path: &str, name: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE experiments SET file_path = ?2, file_name = ?3 WHERE experiment_key = ?1",
            params![key, path, name],
        )?;
        Ok(())
    }

    /// Set the start and/or end time; a run with an end time is no longer running.
    pub fn set_times(
        &self,
        key: &str,
        start: Option<i64>,
        end: Option<i64>,
    ) -> rusqlite::Result<()> {
        if let Some(s) = start {
            self.conn.execute(
                "UPDATE experiments SET start_ms = ?2 WHERE experiment_key = ?1",
                params![key, s],
            )?;
        }
        if let Some(e) = end {
            self.conn.execute(
                "UPDATE experiments SET end_ms = ?2, running = 0 WHERE experiment_key = ?1",
                params![key, e],
            )?;
        }
        Ok(())
    }

    pub fn set_archived(&self, key: &str, archived: bool) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE experiments SET archived = ?2 WHERE experiment_key = ?1",
            params![key, archived as i64],
        )?;
        Ok(())
    }

    /// A heartbeat: a live run is running and was last seen now; a run that says it is
    /// no longer alive has ended (its end time is kept if one was set explicitly).
    pub fn beat(&self, key: &str, alive: bool) -> rusqlite::Result<()> {
        let now = now_ms();
        if alive {
            // A run that beats again after it was ended for its silence (its end was
            // recorded at its last beat) is running again, its end not yet known.
            self.conn.execute(
                "UPDATE experiments SET running = 1, last_beat_ms = ?2,
                 end_ms = CASE WHEN running = 0 AND end_ms = last_beat_ms THEN NULL
                          ELSE end_ms END
                 WHERE experiment_key = ?1",
                params![key, now],
            )?;
        } else {
            // The end is now, unless one was set explicitly; an end inferred from the
            // run's silence (recorded at its last beat) gives way to the run's own word.
            self.conn.execute(
                "UPDATE experiments SET running = 0, last_beat_ms = ?2,
                 end_ms = CASE WHEN end_ms IS NULL OR (running = 0 AND end_ms = last_beat_ms)
                          THEN ?2 ELSE end_ms END
                 WHERE experiment_key = ?1",
                params![key, now],
            )?;
        }
        Ok(())
    }

    /// End the runs still marked running whose last heartbeat is older than
    /// `silent_since` (ms): their process is gone (or, like cometr 0.4.0's, never says
    /// it stopped). Their end is their last heartbeat. Returns how many were ended.
    pub fn end_silent_runs(&self, silent_since: i64) -> rusqlite::Result<usize> {
        self.conn.execute(
            "UPDATE experiments SET running = 0, end_ms = COALESCE(end_ms, last_beat_ms)
             WHERE running = 1 AND last_beat_ms < ?1",
            params![silent_since],
        )
    }

    /// Remove a parameter, all its logged values.
    pub fn delete_parameter(&self, key: &str, name: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "DELETE FROM parameters WHERE experiment_key = ?1 AND name = ?2",
            params![key, name],
        )?;
        Ok(())
    }

    /// Set when a run was last heard from (tests age runs with it).
    #[cfg(test)]
    pub fn set_last_beat(&self, key: &str, ms: i64) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE experiments SET last_beat_ms = ?2 WHERE experiment_key = ?1",
            params![key, ms],
        )?;
        Ok(())
    }

    /// A resumed run is live again until it says otherwise.
    pub fn resume(&self, key: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE experiments SET running = 1, end_ms = NULL, last_beat_ms = ?2
             WHERE experiment_key = ?1",
            params![key, now_ms()],
        )?;
        Ok(())
    }
}
