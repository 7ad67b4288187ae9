//! The local server's records: one SQLite database per data directory, with asset bytes
//! beside it as plain files (see `assets_dir`). The store owns the whole schema and
//! every query; handlers call its methods and never see SQL or the connection.
//!
//! - `mod.rs`: opening, the schema, workspaces, projects and experiments;
//! - `records.rs`: what an experiment logs (metrics, parameters, others, tags,
//!   documents, output) and its run state;
//! - `assets.rs`: asset records and files;
//! - `artifacts.rs`: artifacts, their versions and consumers.

pub mod artifacts;
pub mod assets;
pub mod records;

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

use crate::util::{new_id, now_ms};

pub struct Store {
    conn: Connection,
    dir: PathBuf,
}

/// A project as listed, with its experiment count and last activity.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub description: String,
    pub workspace: String,
    pub public: bool,
    pub experiments: i64,
    pub last_updated_ms: i64,
}

/// An experiment with its project's names and its times.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRow {
    pub key: String,
    pub name: Option<String>,
    pub project_id: String,
    pub project_name: String,
    pub workspace: String,
    pub file_path: Option<String>,
    pub file_name: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub archived: bool,
    pub running: bool,
    pub last_beat_ms: Option<i64>,
}

const SCHEMA: &str = "
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS workspaces(
  name TEXT PRIMARY KEY, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS projects(
  project_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', public INTEGER NOT NULL DEFAULT 0,
  owner TEXT NOT NULL DEFAULT '', updated_ms INTEGER NOT NULL,
  UNIQUE(workspace, name));
CREATE TABLE IF NOT EXISTS experiments(
  experiment_key TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT,
  start_ms INTEGER, end_ms INTEGER, archived INTEGER NOT NULL DEFAULT 0,
  running INTEGER NOT NULL DEFAULT 1, file_name TEXT, file_path TEXT,
  last_beat_ms INTEGER, created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS experiments_by_project ON experiments(project_id);
CREATE TABLE IF NOT EXISTS metrics(
  id INTEGER PRIMARY KEY, experiment_key TEXT NOT NULL, name TEXT NOT NULL,
  value TEXT, step INTEGER, epoch INTEGER, context TEXT, ts INTEGER);
CREATE INDEX IF NOT EXISTS metrics_by_experiment ON metrics(experiment_key, name);
DROP INDEX IF EXISTS metrics_once;
CREATE TABLE IF NOT EXISTS applied_batches(
  batch_id TEXT PRIMARY KEY, reply TEXT NOT NULL, applied_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS parameters(
  id INTEGER PRIMARY KEY, experiment_key TEXT NOT NULL, name TEXT NOT NULL,
  value TEXT, step INTEGER, ts INTEGER);
CREATE INDEX IF NOT EXISTS parameters_by_experiment ON parameters(experiment_key, name);
CREATE TABLE IF NOT EXISTS others(
  id INTEGER PRIMARY KEY, experiment_key TEXT NOT NULL, name TEXT NOT NULL,
  value TEXT, ts INTEGER);
CREATE INDEX IF NOT EXISTS others_by_experiment ON others(experiment_key, name);
CREATE TABLE IF NOT EXISTS tags(
  experiment_key TEXT NOT NULL, tag TEXT NOT NULL, UNIQUE(experiment_key, tag));
CREATE TABLE IF NOT EXISTS documents(
  experiment_key TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY(experiment_key, kind));
CREATE TABLE IF NOT EXISTS output(
  id INTEGER PRIMARY KEY, experiment_key TEXT NOT NULL, line_offset INTEGER,
  output TEXT NOT NULL, stderr INTEGER NOT NULL DEFAULT 0, ts INTEGER, context TEXT);
CREATE INDEX IF NOT EXISTS output_by_experiment ON output(experiment_key, id);
CREATE TABLE IF NOT EXISTS assets(
  asset_id TEXT PRIMARY KEY, experiment_key TEXT NOT NULL, file_name TEXT NOT NULL,
  file_size INTEGER NOT NULL DEFAULT 0, type TEXT NOT NULL DEFAULT 'asset',
  metadata TEXT, remote INTEGER NOT NULL DEFAULT 0, link TEXT, step INTEGER,
  context TEXT, artifact_version_id TEXT, created_ms INTEGER NOT NULL, sha1 TEXT);
CREATE INDEX IF NOT EXISTS assets_by_experiment ON assets(experiment_key);
CREATE TABLE IF NOT EXISTS symlinks(
  experiment_key TEXT NOT NULL, project_id TEXT NOT NULL, UNIQUE(experiment_key, project_id));
CREATE TABLE IF NOT EXISTS artifacts(
  artifact_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, name TEXT NOT NULL,
  type TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]', project_id TEXT,
  created_ms INTEGER NOT NULL, UNIQUE(workspace, name));
CREATE TABLE IF NOT EXISTS artifact_versions(
  version_id TEXT PRIMARY KEY, artifact_id TEXT NOT NULL, version TEXT NOT NULL,
  aliases TEXT NOT NULL DEFAULT '[]', tags TEXT NOT NULL DEFAULT '[]', metadata TEXT,
  experiment_key TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'OPEN',
  created_ms INTEGER NOT NULL, UNIQUE(artifact_id, version));
CREATE INDEX IF NOT EXISTS artifact_versions_by_artifact ON artifact_versions(artifact_id);
CREATE TABLE IF NOT EXISTS artifact_consumers(
  version_id TEXT NOT NULL, experiment_key TEXT NOT NULL, created_ms INTEGER NOT NULL,
  UNIQUE(version_id, experiment_key));
CREATE INDEX IF NOT EXISTS assets_by_artifact_version ON assets(artifact_version_id);
";

/// Columns added since the first schema: a database made before them gains them.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // The model an asset belongs to (comet_ml's `groupingName`, sent by `log_model`).
    ("assets", "grouping_name", "TEXT"),
    // A project's notes (comet_ml's `API.get_project_notes`).
    ("projects", "notes", "TEXT"),
];

fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, decl) in ADDED_COLUMNS {
        let has = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
            ))?
            .exists(params![column])?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

/// How many batch identities the store remembers: a batch resent after this many
/// newer ones is applied again.
pub const REMEMBERED_BATCHES: i64 = 100_000;

/// A unit of work that commits as a whole or not at all: a savepoint, so that units
/// nest (a store method's inside a batch's). Rolled back when dropped uncommitted.
pub struct Unit<'a> {
    conn: &'a Connection,
    done: bool,
}

impl<'a> Unit<'a> {
    pub fn commit(mut self) -> rusqlite::Result<()> {
        self.done = true;
        self.conn.execute_batch("RELEASE unit")
    }

    fn prepare_cached(&self, sql: &str) -> rusqlite::Result<rusqlite::CachedStatement<'a>> {
        self.conn.prepare_cached(sql)
    }
}

impl Drop for Unit<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK TO unit; RELEASE unit");
        }
    }
}

impl Store {
    /// Begin a unit of work (see `Unit`).
    pub fn unit(&self) -> rusqlite::Result<Unit<'_>> {
        self.conn.execute_batch("SAVEPOINT unit")?;
        Ok(Unit {
            conn: &self.conn,
            done: false,
        })
    }

    /// The answer given when the batch `id` was applied, if it was.
    pub fn applied_batch(&self, id: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT reply FROM applied_batches WHERE batch_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
    }

    /// Remember that the batch `id` was applied, with its answer (inside the unit that
    /// applied it, so both or neither are kept); forget the oldest beyond
    /// `REMEMBERED_BATCHES`.
    pub fn remember_batch(&self, id: &str, reply: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO applied_batches(batch_id, reply, applied_ms)
             VALUES (?1, ?2, ?3)",
            params![id, reply, now_ms()],
        )?;
        let newest = self.conn.last_insert_rowid();
        if newest % 1000 == 0 {
            self.conn.execute(
                "DELETE FROM applied_batches WHERE rowid <= ?1",
                params![newest - REMEMBERED_BATCHES],
            )?;
        }
        Ok(())
    }

    pub fn open(dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(dir.join("assets"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let conn = Connection::open(dir.join("cometr.sqlite"))
            .map_err(|e| format!("cannot open the server database: {e}"))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| format!("cannot initialise the server database: {e}"))?;
        add_missing_columns(&conn)
            .map_err(|e| format!("cannot initialise the server database: {e}"))?;
        let store = Store {
            conn,
            dir: dir.to_path_buf(),
        };
        // Every account has a default workspace; `local_server(activate = TRUE)` uses it.
        store
            .ensure_workspace("local")
            .map_err(|e| format!("cannot initialise the server database: {e}"))?;
        Ok(store)
    }

    /// The folder of asset files; uploads are streamed there before they are kept.
    pub fn assets_dir(&self) -> PathBuf {
        self.dir.join("assets")
    }

    pub fn ensure_workspace(&self, ws: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO workspaces(name, created_ms) VALUES (?1, ?2)",
            params![ws, now_ms()],
        )?;
        Ok(())
    }

    /// Find a project by workspace and name, creating both on first use as Comet does for
    /// experiment creation.
    pub fn ensure_project(&self, ws: &str, name: &str) -> rusqlite::Result<String> {
        self.ensure_workspace(ws)?;
        if let Some(id) = self.project_id(ws, name)? {
            return Ok(id);
        }
        let id = new_id();
        self.conn.execute(
            "INSERT INTO projects(project_id, workspace, name, owner, updated_ms) VALUES (?1, ?2, ?3, ?2, ?4)",
            params![id, ws, name, now_ms()],
        )?;
        Ok(id)
    }

    pub fn project_id(&self, ws: &str, name: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT project_id FROM projects WHERE workspace = ?1 AND name = ?2",
                params![ws, name],
                |r| r.get(0),
            )
            .optional()
    }

    pub fn project_exists(&self, id: &str) -> rusqlite::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM projects WHERE project_id = ?1",
                params![id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    pub fn workspaces(&self) -> rusqlite::Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare("SELECT name FROM workspaces ORDER BY name")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect()
    }

    pub fn projects(&self, ws: &str) -> rusqlite::Result<Vec<ProjectRow>> {
        let mut st = self.conn.prepare(&format!(
            "{PROJECT_SELECT} WHERE p.workspace = ?1 ORDER BY p.name"
        ))?;
        let rows = st.query_map(params![ws], project_row)?;
        rows.collect()
    }

    /// One project, by id.
    pub fn project(&self, id: &str) -> rusqlite::Result<Option<ProjectRow>> {
        self.conn
            .query_row(
                &format!("{PROJECT_SELECT} WHERE p.project_id = ?1"),
                params![id],
                project_row,
            )
            .optional()
    }

    pub fn create_project(
        &self,
        ws: &str,
        name: &str,
        description: &str,
        public: bool,
    ) -> rusqlite::Result<Option<String>> {
        self.ensure_workspace(ws)?;
        if self.project_id(ws, name)?.is_some() {
            return Ok(None);
        }
        let id = new_id();
        self.conn.execute(
            "INSERT INTO projects(project_id, workspace, name, description, public, owner, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?2, ?6)",
            params![id, ws, name, description, public as i64, now_ms()],
        )?;
        Ok(Some(id))
    }

    /// Remove a project, and its experiments' records when asked to.
    pub fn delete_project(&self, id: &str, with_experiments: bool) -> rusqlite::Result<()> {
        if with_experiments {
            let keys: Vec<String> = {
                let mut st = self
                    .conn
                    .prepare("SELECT experiment_key FROM experiments WHERE project_id = ?1")?;
                let rows = st.query_map(params![id], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for k in keys {
                self.delete_experiment(&k)?;
            }
        }
        self.conn
            .execute("DELETE FROM projects WHERE project_id = ?1", params![id])?;
        Ok(())
    }

    pub fn delete_experiment(&self, key: &str) -> rusqlite::Result<()> {
        // The asset files go with their records.
        let ids: Vec<String> = {
            let mut st = self
                .conn
                .prepare("SELECT asset_id FROM assets WHERE experiment_key = ?1")?;
            let rows = st.query_map(params![key], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for id in ids {
            let _ = std::fs::remove_file(self.assets_dir().join(&id));
        }
        for table in [
            "symlinks",
            "metrics",
            "parameters",
            "others",
            "tags",
            "documents",
            "output",
            "assets",
            "experiments",
        ] {
            self.conn.execute(
                &format!("DELETE FROM {table} WHERE experiment_key = ?1"),
                params![key],
            )?;
        }
        Ok(())
    }

    pub fn create_experiment(
        &self,
        key: &str,
        project_id: &str,
        name: Option<&str>,
    ) -> rusqlite::Result<()> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO experiments(experiment_key, project_id, name, start_ms, created_ms, last_beat_ms)
             VALUES (?1, ?2, ?3, ?4, ?4, ?4)",
            params![key, project_id, name, now],
        )?;
        Ok(())
    }

    pub fn experiment_exists(&self, key: &str) -> rusqlite::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM experiments WHERE experiment_key = ?1",
                params![key],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The id of the project an experiment belongs to.
    pub fn experiment_project(&self, key: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT project_id FROM experiments WHERE experiment_key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
    }

    /// The workspace and project id of an experiment.
    pub fn experiment_home(&self, key: &str) -> rusqlite::Result<Option<(String, String)>> {
        self.conn
            .query_row(
                "SELECT p.workspace, p.project_id FROM experiments e
                 JOIN projects p ON p.project_id = e.project_id WHERE e.experiment_key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
    }

    /// An experiment's project id, workspace, project name and experiment name.
    pub fn experiment_names(
        &self,
        key: &str,
    ) -> rusqlite::Result<(String, String, String, Option<String>)> {
        self.conn.query_row(
            "SELECT e.project_id, p.workspace, p.name, e.name FROM experiments e
             JOIN projects p ON p.project_id = e.project_id WHERE e.experiment_key = ?1",
            params![key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    }

    pub fn rename_experiment(&self, key: &str, name: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE experiments SET name = ?2 WHERE experiment_key = ?1",
            params![key, name],
        )?;
        Ok(())
    }

    /// Put an experiment in another project.
    pub fn move_experiment(&self, key: &str, project_id: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE experiments SET project_id = ?2 WHERE experiment_key = ?1",
            params![key, project_id],
        )?;
        Ok(())
    }

    /// Rename a project or change its description or visibility (what is `None` stays).
    pub fn update_project(
        &self,
        id: &str,
        name: Option<&str>,
        description: Option<&str>,
        public: Option<bool>,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE projects SET name = COALESCE(?2, name),
               description = COALESCE(?3, description), public = COALESCE(?4, public),
               updated_ms = ?5
             WHERE project_id = ?1",
            params![id, name, description, public.map(|p| p as i64), now_ms()],
        )?;
        Ok(())
    }

    pub fn project_notes(&self, id: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT notes FROM projects WHERE project_id = ?1",
                params![id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
    }

    pub fn set_project_notes(&self, id: &str, notes: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE projects SET notes = ?2 WHERE project_id = ?1",
            params![id, notes],
        )?;
        Ok(())
    }

    /// Show an experiment in another project too.
    pub fn add_symlink(&self, key: &str, project_id: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO symlinks(experiment_key, project_id) VALUES (?1, ?2)",
            params![key, project_id],
        )?;
        Ok(())
    }

    pub fn experiment(&self, key: &str) -> rusqlite::Result<Option<ExperimentRow>> {
        self.conn
            .query_row(
                &format!("{EXPERIMENT_SELECT} WHERE e.experiment_key = ?1"),
                params![key],
                experiment_row,
            )
            .optional()
    }

    /// A project's experiments (archived or not), oldest first.
    pub fn experiments(
        &self,
        project_id: &str,
        archived: bool,
    ) -> rusqlite::Result<Vec<ExperimentRow>> {
        let mut st = self.conn.prepare(&format!(
            "{EXPERIMENT_SELECT} WHERE e.project_id = ?1 AND e.archived = ?2 ORDER BY e.created_ms"
        ))?;
        let rows = st.query_map(params![project_id, archived as i64], experiment_row)?;
        rows.collect()
    }
}

const PROJECT_SELECT: &str =
    "SELECT p.project_id, p.name, p.owner, p.description, p.workspace, p.public,
  (SELECT COUNT(*) FROM experiments e WHERE e.project_id = p.project_id),
  COALESCE((SELECT MAX(COALESCE(e.end_ms, e.start_ms)) FROM experiments e
            WHERE e.project_id = p.project_id), p.updated_ms)
  FROM projects p";

fn project_row(r: &rusqlite::Row) -> rusqlite::Result<ProjectRow> {
    Ok(ProjectRow {
        id: r.get(0)?,
        name: r.get(1)?,
        owner: r.get(2)?,
        description: r.get(3)?,
        workspace: r.get(4)?,
        public: r.get::<_, i64>(5)? != 0,
        experiments: r.get(6)?,
        last_updated_ms: r.get(7)?,
    })
}

const EXPERIMENT_SELECT: &str =
    "SELECT e.experiment_key, e.name, e.project_id, p.name, p.workspace,
  e.file_path, e.file_name, e.start_ms, e.end_ms, e.archived, e.running, e.last_beat_ms
  FROM experiments e JOIN projects p ON p.project_id = e.project_id";

fn experiment_row(r: &rusqlite::Row) -> rusqlite::Result<ExperimentRow> {
    Ok(ExperimentRow {
        key: r.get(0)?,
        name: r.get(1)?,
        project_id: r.get(2)?,
        project_name: r.get(3)?,
        workspace: r.get(4)?,
        file_path: r.get(5)?,
        file_name: r.get(6)?,
        start_ms: r.get(7)?,
        end_ms: r.get(8)?,
        archived: r.get::<_, i64>(9)? != 0,
        running: r.get::<_, i64>(10)? != 0,
        last_beat_ms: r.get(11)?,
    })
}
