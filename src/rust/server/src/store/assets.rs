//! Asset records, and their files in the assets folder (named by asset id).

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};

use super::Store;

/// An experiment's asset as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetRow {
    pub id: String,
    pub file_name: String,
    pub size: i64,
    pub kind: String,
    pub metadata: Option<String>,
    pub remote: bool,
    pub link: Option<String>,
    pub step: Option<i64>,
    pub context: Option<String>,
    pub created_ms: i64,
}

/// An asset to record.
#[derive(Debug, Clone)]
pub struct NewAsset<'a> {
    pub id: &'a str,
    pub experiment_key: &'a str,
    pub file_name: &'a str,
    pub size: i64,
    pub kind: &'a str,
    pub metadata: Option<&'a str>,
    pub link: Option<&'a str>,
    pub step: Option<i64>,
    pub context: Option<&'a str>,
    pub artifact_version_id: Option<&'a str>,
    pub sha1: Option<&'a str>,
    pub created_ms: i64,
}

/// A file of an artifact version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionFile {
    pub asset_id: String,
    pub file_name: String,
    pub size: i64,
    pub link: Option<String>,
    pub metadata: Option<String>,
    pub kind: String,
    pub remote: bool,
    pub sha1: Option<String>,
    pub experiment_key: String,
}

const ASSET_SELECT: &str =
    "SELECT asset_id, file_name, file_size, type, metadata, remote, link, step, context,
            created_ms FROM assets";

fn asset_row(r: &rusqlite::Row) -> rusqlite::Result<AssetRow> {
    Ok(AssetRow {
        id: r.get(0)?,
        file_name: r.get(1)?,
        size: r.get(2)?,
        kind: r.get(3)?,
        metadata: r.get(4)?,
        remote: r.get::<_, i64>(5)? != 0,
        link: r.get(6)?,
        step: r.get(7)?,
        context: r.get(8)?,
        created_ms: r.get(9)?,
    })
}

impl Store {
    /// Where the bytes of asset `id` are kept.
    pub fn asset_file(&self, id: &str) -> PathBuf {
        self.assets_dir().join(id)
    }

    /// Keep an uploaded file (in the assets folder) as the bytes of asset `id`.
    pub fn keep_upload(&self, upload: &Path, id: &str) -> std::io::Result<()> {
        std::fs::rename(upload, self.asset_file(id))
    }

    /// The experiment's assets that are not artifact files, of one type or all.
    pub fn assets(&self, key: &str, kind: Option<&str>) -> rusqlite::Result<Vec<AssetRow>> {
        let mut st = self.conn.prepare(&format!(
            "{ASSET_SELECT} WHERE experiment_key = ?1 AND artifact_version_id IS NULL
               AND (?2 IS NULL OR type = ?2)
             ORDER BY created_ms, rowid"
        ))?;
        let rows = st.query_map(params![key, kind], asset_row)?;
        rows.collect()
    }

    /// Record the model an asset belongs to.
    pub fn set_asset_model(&self, id: &str, model: &str) -> rusqlite::Result<()> {
        self.conn.execute(
            "UPDATE assets SET grouping_name = ?2 WHERE asset_id = ?1",
            params![id, model],
        )?;
        Ok(())
    }

    /// The experiment's models: each name with the id of its first asset.
    pub fn models(&self, key: &str) -> rusqlite::Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare(
            "SELECT grouping_name, MIN(asset_id) FROM assets
             WHERE experiment_key = ?1 AND grouping_name IS NOT NULL
               AND artifact_version_id IS NULL
             GROUP BY grouping_name ORDER BY MIN(created_ms), grouping_name",
        )?;
        let rows = st.query_map(params![key], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    /// One of the experiment's models as a zip of its stored files (each under its
    /// asset file name; remote files are links, not bytes, and are left out), written to
    /// a new file in the downloads folder; `None` when the model has no files. Zips
    /// older than an hour are removed first, so the folder holds only recent downloads.
    pub fn model_zip(&self, key: &str, model: &str) -> Result<Option<PathBuf>, String> {
        let files: Vec<AssetRow> = self
            .model_assets(key, model)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|a| !a.remote)
            .collect();
        if files.is_empty() {
            return Ok(None);
        }
        let dir = self.dir.join("downloads");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        forget_old_files(&dir, std::time::Duration::from_secs(3600));
        let path = dir.join(format!("{}.zip", crate::util::new_id()));
        let out = std::fs::File::create(&path).map_err(|e| e.to_string())?;
        let mut zip = zip::ZipWriter::new(out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        for a in &files {
            zip.start_file(a.file_name.as_str(), options)
                .map_err(|e| e.to_string())?;
            let mut src = std::fs::File::open(self.asset_file(&a.id))
                .map_err(|e| format!("asset {} is missing: {e}", a.id))?;
            std::io::copy(&mut src, &mut zip).map_err(|e| e.to_string())?;
        }
        zip.finish().map_err(|e| e.to_string())?;
        Ok(Some(path))
    }

    /// The assets of one of the experiment's models.
    pub fn model_assets(&self, key: &str, model: &str) -> rusqlite::Result<Vec<AssetRow>> {
        let mut st = self.conn.prepare(&format!(
            "{ASSET_SELECT} WHERE experiment_key = ?1 AND grouping_name = ?2
               AND artifact_version_id IS NULL
             ORDER BY created_ms, rowid"
        ))?;
        let rows = st.query_map(params![key, model], asset_row)?;
        rows.collect()
    }

    /// The id of the experiment's latest git patch.
    pub fn latest_git_patch(&self, key: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT asset_id FROM assets WHERE experiment_key = ?1 AND type = 'git-patch'
                 ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                params![key],
                |r| r.get(0),
            )
            .optional()
    }

    /// The id of the experiment's latest asset of this name, and whether it is remote.
    pub fn asset_by_name(&self, key: &str, name: &str) -> rusqlite::Result<Option<(String, bool)>> {
        self.conn
            .query_row(
                "SELECT asset_id, remote FROM assets WHERE experiment_key = ?1 AND file_name = ?2
                 ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                params![key, name],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
            )
            .optional()
    }

    /// An asset's file name, and whether it is remote.
    pub fn asset_by_id(&self, id: &str) -> rusqlite::Result<Option<(String, bool)>> {
        self.conn
            .query_row(
                "SELECT file_name, remote FROM assets WHERE asset_id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
            )
            .optional()
    }

    /// Assets an upload of `file_name` replaces: those of the same name in the same
    /// artifact version (or none), all of them when `overwrite`, else only git patches.
    pub fn replaced_assets(
        &self,
        key: &str,
        file_name: &str,
        version: Option<&str>,
        overwrite: bool,
    ) -> rusqlite::Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT asset_id FROM assets WHERE experiment_key = ?1 AND file_name = ?2
             AND artifact_version_id IS ?3 AND (?4 = 1 OR type = 'git-patch')",
        )?;
        let rows = st.query_map(params![key, file_name, version, overwrite as i64], |r| {
            r.get(0)
        })?;
        rows.collect()
    }

    /// The experiment that owns asset `id`, if any.
    pub fn asset_owner(&self, id: &str) -> rusqlite::Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT experiment_key FROM assets WHERE asset_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
    }

    /// Remove one of the experiment's assets; false when it has none with this id.
    pub fn delete_asset(&self, key: &str, id: &str) -> rusqlite::Result<bool> {
        let n = self.conn.execute(
            "DELETE FROM assets WHERE experiment_key = ?1 AND asset_id = ?2",
            params![key, id],
        )?;
        if n > 0 {
            let _ = std::fs::remove_file(self.asset_file(id));
        }
        Ok(n > 0)
    }

    pub fn insert_asset(&self, a: &NewAsset) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT INTO assets(asset_id, experiment_key, file_name, file_size, type, metadata,
               remote, link, step, context, artifact_version_id, created_ms, sha1)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                a.id,
                a.experiment_key,
                a.file_name,
                a.size,
                a.kind,
                a.metadata,
                a.link.is_some() as i64,
                a.link,
                a.step,
                a.context,
                a.artifact_version_id,
                a.created_ms,
                a.sha1
            ],
        )?;
        Ok(())
    }

    /// The files uploaded into an artifact version, in upload order.
    pub fn version_files(&self, version_id: &str) -> rusqlite::Result<Vec<VersionFile>> {
        let mut st = self.conn.prepare(
            "SELECT asset_id, file_name, file_size, link, metadata, type, remote, sha1,
                    experiment_key
             FROM assets WHERE artifact_version_id = ?1 ORDER BY created_ms, rowid",
        )?;
        let rows = st.query_map(params![version_id], |r| {
            Ok(VersionFile {
                asset_id: r.get(0)?,
                file_name: r.get(1)?,
                size: r.get(2)?,
                link: r.get(3)?,
                metadata: r.get(4)?,
                kind: r.get(5)?,
                remote: r.get::<_, i64>(6)? != 0,
                sha1: r.get(7)?,
                experiment_key: r.get(8)?,
            })
        })?;
        rows.collect()
    }

    /// The bytes stored for an artifact version (remote files count nothing).
    pub fn version_size(&self, version_id: &str) -> rusqlite::Result<i64> {
        self.conn.query_row(
            "SELECT COALESCE(SUM(file_size), 0) FROM assets
             WHERE artifact_version_id = ?1 AND remote = 0",
            params![version_id],
            |r| r.get(0),
        )
    }
}

/// Remove the files of `dir` last changed longer than `age` ago.
fn forget_old_files(dir: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|d| d > age);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
