//! Artifacts (named per workspace), their versions (aliases, tags, metadata, state) and
//! the experiments that consumed a version. Lists of aliases and tags are stored as
//! JSON arrays of strings.

use rusqlite::{params, OptionalExtension};
use serde_json::json;

use super::Store;

#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactRow {
    pub id: String,
    pub workspace: String,
    pub name: String,
    pub kind: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRow {
    pub id: String,
    pub artifact_id: String,
    pub version: String,
    pub aliases: Vec<String>,
    pub tags: Vec<String>,
    pub metadata: Option<String>,
    pub experiment_key: String,
    pub state: String,
    pub created_ms: i64,
}

/// A version to record (in state OPEN).
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub id: &'a str,
    pub artifact_id: &'a str,
    pub version: &'a str,
    pub tags: &'a [String],
    pub metadata: Option<&'a str>,
    pub experiment_key: &'a str,
    pub created_ms: i64,
}

fn str_list(s: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(s).unwrap_or_default()
}

fn list_text(items: &[impl AsRef<str>]) -> String {
    json!(items.iter().map(|s| s.as_ref()).collect::<Vec<_>>()).to_string()
}

const ARTIFACT_COLS: &str = "artifact_id, workspace, name, type, tags";
const VERSION_COLS: &str =
    "version_id, artifact_id, version, aliases, tags, metadata, experiment_key, state, created_ms";

fn artifact_from_row(r: &rusqlite::Row) -> rusqlite::Result<ArtifactRow> {
    Ok(ArtifactRow {
        id: r.get(0)?,
        workspace: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        tags: str_list(&r.get::<_, String>(4)?),
    })
}

fn version_from_row(r: &rusqlite::Row) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        id: r.get(0)?,
        artifact_id: r.get(1)?,
        version: r.get(2)?,
        aliases: str_list(&r.get::<_, String>(3)?),
        tags: str_list(&r.get::<_, String>(4)?),
        metadata: r.get(5)?,
        experiment_key: r.get(6)?,
        state: r.get(7)?,
        created_ms: r.get(8)?,
    })
}

impl Store {
    pub fn artifact_by_id(&self, id: &str) -> rusqlite::Result<Option<ArtifactRow>> {
        self.conn
            .query_row(
                &format!("SELECT {ARTIFACT_COLS} FROM artifacts WHERE artifact_id = ?1"),
                params![id],
                artifact_from_row,
            )
            .optional()
    }

    /// The artifact of this name in `workspace` (in any workspace when `None`: the
    /// oldest).
    pub fn artifact_by_name(
        &self,
        workspace: Option<&str>,
        name: &str,
    ) -> rusqlite::Result<Option<ArtifactRow>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {ARTIFACT_COLS} FROM artifacts
                     WHERE name = ?1 AND (?2 IS NULL OR workspace = ?2)
                     ORDER BY created_ms LIMIT 1"
                ),
                params![name, workspace],
                artifact_from_row,
            )
            .optional()
    }

    /// Artifacts, optionally of one workspace and one type, by workspace and name.
    pub fn artifacts(
        &self,
        workspace: Option<&str>,
        kind: Option<&str>,
    ) -> rusqlite::Result<Vec<ArtifactRow>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {ARTIFACT_COLS} FROM artifacts
             WHERE (?1 IS NULL OR workspace = ?1) AND (?2 IS NULL OR type = ?2)
             ORDER BY workspace, name"
        ))?;
        let rows = st.query_map(params![workspace, kind], artifact_from_row)?;
        rows.collect()
    }

    pub fn insert_artifact(
        &self,
        id: &str,
        workspace: &str,
        name: &str,
        kind: &str,
        project_id: &str,
        created_ms: i64,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO artifacts(artifact_id, workspace, name, type, project_id, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, workspace, name, kind, project_id, created_ms],
        )?;
        Ok(())
    }

    pub fn set_artifact_tags(&self, id: &str, tags: &[String]) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE artifacts SET tags = ?1 WHERE artifact_id = ?2",
            params![list_text(tags), id],
        )?;
        Ok(())
    }

    pub fn set_artifact_type(&self, id: &str, kind: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE artifacts SET type = ?1 WHERE artifact_id = ?2",
            params![kind, id],
        )?;
        Ok(())
    }

    /// An artifact's versions in the order they were created.
    pub fn versions(&self, artifact_id: &str) -> rusqlite::Result<Vec<VersionRow>> {
        self.versions_where("artifact_id", artifact_id)
    }

    /// The versions whose column `col` (a constant) holds `value`, oldest first.
    fn versions_where(&self, col: &str, value: &str) -> rusqlite::Result<Vec<VersionRow>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {VERSION_COLS} FROM artifact_versions WHERE {col} = ?1
             ORDER BY created_ms, rowid"
        ))?;
        let rows = st.query_map(params![value], version_from_row)?;
        rows.collect()
    }

    pub fn version_by_id(&self, id: &str) -> rusqlite::Result<Option<VersionRow>> {
        self.conn
            .query_row(
                &format!("SELECT {VERSION_COLS} FROM artifact_versions WHERE version_id = ?1"),
                params![id],
                version_from_row,
            )
            .optional()
    }

    pub fn insert_version(&self, v: &NewVersion) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO artifact_versions(version_id, artifact_id, version, tags, metadata,
               experiment_key, state, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'OPEN', ?7)",
            params![
                v.id,
                v.artifact_id,
                v.version,
                list_text(v.tags),
                v.metadata,
                v.experiment_key,
                v.created_ms
            ],
        )?;
        Ok(())
    }

    pub fn set_version_aliases(
        &self,
        id: &str,
        aliases: &[impl AsRef<str>],
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE artifact_versions SET aliases = ?1 WHERE version_id = ?2",
            params![list_text(aliases), id],
        )?;
        Ok(())
    }

    pub fn set_version_tags(&self, id: &str, tags: &[String]) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE artifact_versions SET tags = ?1 WHERE version_id = ?2",
            params![list_text(tags), id],
        )?;
        Ok(())
    }

    pub fn set_version_metadata(&self, id: &str, metadata: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE artifact_versions SET metadata = ?1 WHERE version_id = ?2",
            params![metadata, id],
        )?;
        Ok(())
    }

    /// Set the metadata of the artifact's version with this version string.
    pub fn set_named_version_metadata(
        &self,
        artifact_id: &str,
        version: &str,
        metadata: &str,
    ) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE artifact_versions SET metadata = ?1 WHERE artifact_id = ?2 AND version = ?3",
            params![metadata, artifact_id, version],
        )?;
        Ok(())
    }

    pub fn set_version_state(&self, id: &str, state: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE artifact_versions SET state = ?1 WHERE version_id = ?2",
            params![state, id],
        )?;
        Ok(())
    }

    /// The versions an experiment created, oldest first.
    pub fn versions_made_by(&self, key: &str) -> rusqlite::Result<Vec<VersionRow>> {
        self.versions_where("experiment_key", key)
    }

    /// The versions an experiment read, in the order it first read them.
    pub fn versions_read_by(&self, key: &str) -> rusqlite::Result<Vec<VersionRow>> {
        let cols = VERSION_COLS
            .split(", ")
            .map(|c| format!("v.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut st = self.conn.prepare(&format!(
            "SELECT {cols} FROM artifact_consumers c
             JOIN artifact_versions v ON v.version_id = c.version_id
             WHERE c.experiment_key = ?1 ORDER BY c.created_ms, c.rowid"
        ))?;
        let rows = st.query_map(params![key], version_from_row)?;
        rows.collect()
    }

    /// Note that an experiment read this version (once per experiment).
    pub fn add_consumer(&self, version_id: &str, key: &str, at_ms: i64) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO artifact_consumers(version_id, experiment_key, created_ms)
             VALUES (?1, ?2, ?3)",
            params![version_id, key, at_ms],
        )?;
        Ok(())
    }
}
