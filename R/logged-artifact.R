# Artifacts as the server has them: a LoggedArtifact is one version of an artifact,
# its LoggedArtifactAssets are the files and links stored in that version. Every call
# they make uses the API key they were obtained with. Below the classes: the flow that
# logs and fetches versions, and the streamed download of their files.

#' A Logged Comet Artifact object
#'
#' @description
#' Comet Artifacts allow keeping track of assets beyond any particular experiment.
#' The `LoggedArtifact` is a Comet [`Artifact`] that already logged to the Comet
#' servers and can be used to access the artifact version assets and download
#' them locally.
#'
#' @examples
#' srv <- local_server()
#' key <- call_api("/write/experiment/create", "POST",
#'                 list(projectName = "demo", workspaceName = "local"))$experimentKey
#' f <- tempfile(fileext = ".txt")
#' writeLines("hello", f)
#' artifact <- create_artifact("greetings", "dataset", aliases = "best")
#' artifact$add(f, logical_path = "hello.txt")
#' logged <- cometr:::artifact_log(key, artifact, NULL)
#' logged$get_artifact_version()
#' copy <- logged$download(tempfile())
#' readLines(copy$get_assets()[[1]]$get_local_path())
#' srv$stop()
#' @export
LoggedArtifact <- R6::R6Class(
  classname = "LoggedArtifact",
  cloneable = FALSE,
  public = list(
    #' @description
    #' Creates new `LoggedArtifact` object with provided parameters. Do not use
    #' this method directly. Use `Experiment$get_artifact()` to retrieve
    #' `LoggedArtifact`.
    #' @param artifact_name (Required) Artifact name.
    #' @param artifact_type (Required) The artifact type.
    #' @param artifact_id (Required) The ID of artifact.
    #' @param artifact_version_id (Required) The ID of Artifact Version.
    #' @param workspace (Required) The workspace where artifact saved.
    #' @param experiment_key (Required) The ID of the associated experiment.
    #' @param artifact_version (Required) The latest artifact version (a string).
    #' @param aliases (Required) List of Artifact Version aliases.
    #' @param artifact_tags (Required) The list of artifact tags.
    #' @param version_tags (Required) List of Artifact Version tags.
    #' @param size (Required) The total size of logged artifact version. It is
    #'   the sum of all the artifact version assets.
    #' @param metadata The meta-data of Artifact Version.
    #' @param source_experiment_key The ID of the experiment that created this
    #'   artifact version.
    initialize = function(artifact_name,
                          artifact_type,
                          artifact_id,
                          artifact_version_id,
                          workspace,
                          experiment_key,
                          artifact_version,
                          aliases,
                          artifact_tags,
                          version_tags,
                          size,
                          metadata = NULL,
                          source_experiment_key = NULL) {
      private$artifact_name <- artifact_name
      private$artifact_type <- artifact_type
      private$artifact_id <- artifact_id
      private$artifact_version_id <- artifact_version_id
      private$workspace <- workspace
      private$experiment_key <- experiment_key
      if (!is.null(artifact_version) && (!is.atomic(artifact_version) || length(artifact_version) != 1L)) {
        abort_input("artifact_version", "must be a single version string")
      }
      private$artifact_version <- if (is.null(artifact_version)) NULL else as.character(artifact_version)
      private$aliases <- aliases
      private$artifact_tags <- artifact_tags
      private$version_tags <- version_tags
      if (!is.null(size) && (!is.numeric(size) || length(size) > 1L)) {
        abort_input("size", "must be a single number")
      }
      private$size_bytes <- as.numeric(size %||% 0)
      private$metadata <- metadata
      private$source_experiment_key <- source_experiment_key
      private$api_key <- take_construction()$api_key
    },

    #' @description
    #' Get the name of the artifact.
    get_artifact_name = function() {
      private$artifact_name
    },

    #' @description
    #' Get the type of the artifact.
    get_artifact_type = function() {
      private$artifact_type
    },

    #' @description
    #' Get the version of the artifact (a string such as `"1.2.0"`).
    get_artifact_version = function() {
      private$artifact_version
    },

    #' @description
    #' Get the ID of the artifact.
    get_artifact_id = function() {
      private$artifact_id
    },

    #' @description
    #' Get the tags of the artifact.
    get_artifact_tags = function() {
      private$artifact_tags
    },

    #' @description
    #' Get the aliases of the artifact version.
    get_aliases = function() {
      private$aliases
    },

    #' @description
    #' Get the metadata of the artifact.
    get_metadata = function() {
      private$metadata
    },

    #' @description
    #' Get the list of tags of the artifact version.
    get_version_tags = function() {
      private$version_tags
    },

    #' @description
    #' Get the workspace of the Artifact.
    get_workspace = function() {
      private$workspace
    },

    #' @description
    #' The ID of current Artifact Version
    get_artifact_version_id = function() {
      private$artifact_version_id
    },

    #' @description
    #' The ID of the experiment that created this artifact version.
    get_source_experiment_key = function() {
      private$source_experiment_key
    },

    #' @description
    #' The ID of the associated experiment.
    get_experiment_key = function() {
      private$experiment_key
    },

    #' @description
    #' Get/set artifact size.
    #' @param size The new size for the Artifact or NULL if retrieving existing
    #'   size of the Artifact.
    size = function(size = NULL) {
      if (!is.null(size)) {
        check_size(size)
        private$size_bytes <- as.numeric(size)
      }
      private$size_bytes
    },

    #' @description
    #' Print the artifact version: its full name, type, version, size, labels and
    #' assets. The assets are listed from the server once (without retrying) and
    #' remembered.
    #' @param ... Ignored.
    print = function(...) {
      if (is.null(private$printed_files)) {
        private$printed_files <- tryCatch(
          parse_json_body(comet_http("/artifacts/version/files", "GET",
                                     list(workspace = private$workspace,
                                          artifactName = private$artifact_name,
                                          version = private$artifact_version),
                                     api_key = private$key(), read = FALSE, retry = 0,
                                     limit = 5),
                          "/artifacts/version/files")$files %||% list(),
          error = function(e) structure(list(), reason = conditionMessage(e))
        )
      }
      logged_artifact_print(private, private$printed_files)
      invisible(self)
    },

    #' @description
    #' Get the list of all [`LoggedArtifactAsset`] that have been logged with
    #' this `LoggedArtifact` from Comet server.
    get_assets = function() {
      lapply(private$list_files(), private$as_logged_asset)
    },

    #' @description
    #' Get the list of remote [`LoggedArtifactAsset`] that have been logged with
    #' this `LoggedArtifact` from Comet server.
    get_remote_assets = function() {
      files <- Filter(function(f) isTRUE(f$remote), private$list_files())
      lapply(files, private$as_logged_asset)
    },

    #' @description
    #' Update the logged artifact tags
    #' @param artifact_tags The new tags for the artifact
    update_artifact_tags = function(artifact_tags) {
      tags <- check_labels(artifact_tags, "artifact_tags") %||% list()
      comet_http("/write/artifacts/details", "POST", api_key = private$key(),
                 body = to_json(list(artifactId = private$artifact_id, tags = tags)))
      private$artifact_tags <- tags
      invisible(self)
    },

    #' @description
    #' Update the logged artifact version tags
    #' @param version_tags The new tags for the artifact version
    update_version_tags = function(version_tags) {
      tags <- check_labels(version_tags, "version_tags") %||% list()
      comet_http("/write/artifacts/version/labels", "POST", api_key = private$key(),
                 body = to_json(list(artifactVersionId = private$artifact_version_id,
                                     versionTags = tags)))
      private$version_tags <- tags
      invisible(self)
    },

    #' @description
    #' Update the logged artifact version aliases
    #' @param aliases The new aliases for the artifact version
    update_aliases = function(aliases) {
      aliases <- check_labels(aliases, "aliases") %||% list()
      comet_http("/write/artifacts/version/labels", "POST", api_key = private$key(),
                 body = to_json(list(artifactVersionId = private$artifact_version_id,
                                     alias = aliases)))
      private$aliases <- aliases
      invisible(self)
    },

    #' @description
    #' Download the current Artifact Version assets to a given directory (or a
    #' temporary directory by default). This downloads only non-remote assets;
    #' remote ones are listed in the result with their links. Every file is
    #' written to a temporary file beside its target first and moved into place
    #' only once complete, so a failed download leaves no partial file.
    #' @param path Where to download artifact version assets. If not provided,
    #'   one new temporary folder is used for all of them.
    #' @param overwrite_strategy One of the three possible strategies to handle
    #'   conflict when trying to download an artifact version asset to a path
    #'   with an existing file:
    #'   * `FALSE` or `"FAIL"` (the default): if the existing file's content is
    #'     different, raise an error of class `cometr_transfer_error` and leave
    #'     the file as it was; if it is identical, keep it.
    #'   * `"PRESERVE"`: keep the existing file, with a warning of class
    #'     `cometr_preserve_warning` if its content may differ.
    #'   * `TRUE` or `"OVERWRITE"`: replace the existing file, once the new
    #'     content has been completely downloaded.
    #' @return An [`Artifact`] object holding one [`ArtifactAsset`] per file,
    #'   pointing at the downloaded files (and at the links of remote assets).
    download = function(path = NULL, overwrite_strategy = FALSE) {
      strategy <- overwrite_strategy_value(overwrite_strategy)
      if (!is.null(path)) {
        check_string(path, "path")
        if (!nzchar(path)) abort_input("path", "must name a folder")
      }
      files <- private$list_files()
      # Every name is checked before anything is written.
      for (f in files) check_logical_path(f$fileName, "fileName")
      root <- path %||% tempfile("cometr-artifact-")
      result <- Artifact$new(private$artifact_name, private$artifact_type)
      local <- Filter(function(f) !isTRUE(f$remote), files)
      count <- n_of(length(local), "asset")
      full <- private$full_name()
      cometr_inform(c(i = "Downloading {count} of the Artifact '{full}'"))
      sizes <- vapply(local, function(f) max(0, as.numeric(f$fileSize %||% 0)), numeric(1))
      bar <- progress_start(sprintf("Downloading '%s'", full), sum(sizes))
      on.exit(progress_end(bar), add = TRUE)
      done <- 0
      for (f in files) {
        if (isTRUE(f$remote)) {
          result$add_asset(ArtifactAsset$new(
            logical_path = f$fileName, overwrite = FALSE, remote = TRUE, size = 0,
            link = f$link, local_path = NULL, metadata = decode_metadata(f$metadata),
            asset_type = f$type %||% "asset"
          ))
        } else {
          result$add_asset(download_asset_file(
            asset_id = f$assetId, experiment_key = private$experiment_key,
            artifact_version_id = private$artifact_version_id,
            size = as.numeric(f$fileSize %||% -1), checksum = file_checksum(f),
            root = root, file_name = f$fileName, strategy = strategy,
            metadata = decode_metadata(f$metadata), asset_type = f$type %||% "asset",
            api_key = private$key(), quiet = !is.null(bar)
          ))
          done <- done + max(0, as.numeric(f$fileSize %||% 0))
          progress_set(bar, done)
        }
      }
      result
    }
  ),
  private = list(
    artifact_name = NULL,
    artifact_type = NULL,
    artifact_id = NULL,
    artifact_version_id = NULL,
    workspace = NULL,
    experiment_key = NULL,
    artifact_version = NULL,
    aliases = NULL,
    artifact_tags = NULL,
    version_tags = NULL,
    size_bytes = 0,
    metadata = NULL,
    source_experiment_key = NULL,
    # The files print() listed (it asks the server once).
    printed_files = NULL,
    # The API key it was obtained with (a secret), used by every call it makes.
    api_key = NULL,
    key = function() reveal(private$api_key),

    full_name = function() {
      artifact_full_name(private$workspace, private$artifact_name, private$artifact_version)
    },

    list_files = function() {
      res <- comet_get("/artifacts/version/files",
                       list(workspace = private$workspace,
                            artifactName = private$artifact_name,
                            version = private$artifact_version),
                       api_key = private$key())
      res$files %||% list()
    },

    as_logged_asset = function(f) {
      new_with(LoggedArtifactAsset,
        list(api_key = private$api_key, checksum = file_checksum(f)),
        logical_path = f$fileName,
        remote = isTRUE(f$remote),
        size = as.numeric(f$fileSize %||% 0),
        metadata = decode_metadata(f$metadata),
        asset_type = f$type %||% "asset",
        id = f$assetId,
        artifact_version_id = private$artifact_version_id,
        artifact_id = private$artifact_id,
        experiment_key = private$experiment_key,
        link = f$link
      )
    }
  )
)

#' An Artifact Asset object that was already logged.
#'
#' @description
#' The `LoggedArtifactAsset` represent local or remote asset already logged with
#' particular `Artifact` to the Comet. Get them with `LoggedArtifact$get_assets()`.
#'
#' @examples
#' srv <- local_server()
#' key <- call_api("/write/experiment/create", "POST",
#'                 list(projectName = "demo", workspaceName = "local"))$experimentKey
#' f <- tempfile()
#' writeBin(as.raw(1:10), f)
#' artifact <- create_artifact("bytes", "dataset")
#' artifact$add(f, logical_path = "data/bytes.bin")
#' logged <- cometr:::artifact_log(key, artifact, NULL)
#' asset <- logged$get_assets()[[1]]
#' asset$get_size()
#' copy <- asset$download(tempfile())
#' copy$get_local_path()
#' srv$stop()
#' @export
LoggedArtifactAsset <- R6::R6Class(
  classname = "LoggedArtifactAsset",
  inherit = ArtifactAsset,
  cloneable = FALSE,
  public = list(
    #' @description
    #' Creates a new `LoggedArtifactAsset` object with provided parameters.
    #' @param logical_path the logical file name.
    #' @param remote Is the asset a remote asset or not.
    #' @param size The size if the asset of a non-remote asset.
    #' @param metadata The metadata to be associated with the asset.
    #' @param asset_type The type of asset.
    #' @param id The ID of the asset
    #' @param artifact_version_id The ID of Artifact Version associated with this asset.
    #' @param artifact_id The ID of Artifact associated with this asset.
    #' @param experiment_key The experiment key of the experiment that logged this asset.
    #' @param link The remote link if the asset is remote.
    initialize = function(logical_path,
                          remote,
                          size,
                          metadata,
                          asset_type,
                          id,
                          artifact_version_id,
                          artifact_id,
                          experiment_key,
                          link = NULL) {
      super$initialize(
        logical_path = logical_path,
        overwrite = FALSE,
        remote = remote,
        size = size,
        link = link,
        local_path = NULL,
        metadata = metadata,
        asset_type = asset_type
      )
      private$id <- id
      private$artifact_version_id <- artifact_version_id
      private$artifact_id <- artifact_id
      private$experiment_key <- experiment_key
      extra <- take_construction()
      private$api_key <- extra$api_key
      private$checksum <- extra$checksum
    },

    #' @description
    #' Asset unique ID
    get_id = function() {
      private$id
    },

    #' @description
    #' The ID of Artifact Version associated with this asset
    get_artifact_version_id = function() {
      private$artifact_version_id
    },

    #' @description
    #' The ID of Artifact associated with this asset
    get_artifact_id = function() {
      private$artifact_id
    },

    #' @description
    #' Download the asset to a given full path or directory.
    #' @param local_path The root folder to which to download. If `NULL`, a new
    #'   temporary folder.
    #' @param logical_path The path relative to the root `local_path` to use. If
    #'   `NULL`, the asset's own logical path. It must stay inside the root: a
    #'   path with `..`, an absolute path or a drive letter is an error of class
    #'   `cometr_input_error`.
    #' @param overwrite_strategy can be `FALSE`, `"FAIL"`, `"PRESERVE"` or
    #'   `"OVERWRITE"` and follows the same semantics for overwrite strategy as
    #'   `LoggedArtifact$download()`.
    #' @return [`ArtifactAsset`] holding information about downloaded asset data file.
    download = function(local_path = NULL,
                        logical_path = NULL,
                        overwrite_strategy = FALSE) {
      strategy <- overwrite_strategy_value(overwrite_strategy)
      name <- logical_path %||% private$logical_path
      if (isTRUE(private$remote)) {
        cometr_abort(
          sprintf(paste0("Failed to download remote asset '%s'. Please use asset's URI to ",
                         "download it directly from: '%s'"), name, private$link %||% ""),
          c("cometr_remote_asset_error", "cometr_input_error"), link = private$link
        )
      }
      check_string(local_path, "local_path")
      if (identical(local_path, "")) abort_input("local_path", "must name a folder")
      check_logical_path(name, "logical_path")
      download_asset_file(
        asset_id = private$id, experiment_key = private$experiment_key,
        artifact_version_id = private$artifact_version_id, size = private$size,
        checksum = private$checksum, root = local_path %||% tempfile("cometr-asset-"),
        file_name = name, strategy = strategy, metadata = private$metadata,
        asset_type = private$asset_type, api_key = private$key()
      )
    }
  ),
  private = list(
    id = NULL,
    artifact_version_id = NULL,
    artifact_id = NULL,
    experiment_key = NULL,
    checksum = NULL,
    api_key = NULL,
    key = function() reveal(private$api_key)
  )
)

# ---- the version flow -------------------------------------------------------------
# Experiment$log_artifact() and Experiment$get_artifact() call these: create a version,
# upload its files, close it; or find a version by name.

# Log `artifact` as a new version, from experiment `experiment_key`. Returns the
# LoggedArtifact. If any upload fails, the version is marked ERROR on the server and
# a `cometr_transfer_error` is raised.
artifact_log <- function(experiment_key, artifact, api_key) {
  if (!inherits(artifact, "Artifact")) abort_input("artifact", "must be an Artifact object")
  check_string(experiment_key, "experiment_key", null_ok = FALSE)
  metadata <- artifact$get_metadata()
  body <- drop_nulls(list(
    artifactName = artifact$get_artifact_name(),
    artifactType = artifact$get_artifact_type(),
    experimentKey = experiment_key,
    alias = artifact$get_aliases(),
    versionTags = artifact$get_version_tags(),
    version = artifact$get_artifact_version(),
    versionMetadata = if (!is.null(metadata)) to_json(metadata)
  ))
  up <- comet_post("/write/artifacts/upsert", body, api_key = api_key)
  log_message("INFO", sprintf("Artifact '%s' version %s created%s", artifact$get_artifact_name(),
                              up$currentVersion %||% "?",
                              if (!is.null(up$previousVersion))
                                sprintf(" (previous was: %s)", up$previousVersion) else ""))
  version <- comet_get("/artifacts/version",
                       list(artifactId = up$artifactId, experimentKey = experiment_key,
                            versionId = up$artifactVersionId),
                       api_key = api_key)
  logged <- logged_artifact_from(version, experiment_key, api_key)
  version_id <- logged$get_artifact_version_id()
  set_state <- function(state) {
    comet_http("/write/artifacts/state", "POST",
               list(artifactVersionId = version_id, experimentKey = experiment_key,
                    state = state),
               api_key = api_key)
  }

  assets <- artifact$get_assets()
  if (length(assets) == 0L) {
    cometr_inform(c("!" = "Artifact created without adding any assets, was this the intent?"))
    set_state("CLOSED")
    return(logged)
  }

  full <- artifact_full_name(logged$get_workspace(), logged$get_artifact_name(),
                             logged$get_artifact_version())
  sizes <- vapply(assets, function(a) if (a$is_remote()) 0 else as.numeric(a$get_size()), numeric(1))
  total <- sum(sizes)
  cometr_inform(c(i = "Artifact '{full}' uploading started"))
  count <- n_of(length(assets), "asset")
  size <- human_size(total)
  cometr_inform(c(i = "Scheduling the upload of {count} for a size of {size}, this can take some time."))
  bar <- progress_start(sprintf("Uploading '%s'", full), total)
  on.exit(progress_end(bar), add = TRUE)
  tryCatch({
    for (i in seq_along(assets)) {
      upload_artifact_asset(assets[[i]], experiment_key, version_id, api_key)
      progress_set(bar, sum(sizes[seq_len(i)]))
      remaining <- length(assets) - i
      # With a progress bar shown, the bar tells this.
      if (remaining > 0L && is.null(bar)) {
        left <- n_of(remaining, "artifact asset")
        size <- human_size(sum(sizes[-seq_len(i)]))
        cometr_inform(c(i = "Still uploading {left}, remaining size {size}"))
      }
    }
    set_state("CLOSED")
  }, error = function(e) {
    reason <- conditionMessage(e)
    # Mark the version failed; if even that fails, the upload error is still the news.
    tryCatch(set_state("ERROR"), error = function(e2) {
      log_message("ERROR", "Cannot mark artifact version as ERROR: ", conditionMessage(e2))
    })
    cometr_abort(sprintf("Failed to log Artifact '%s' assets, reason: %s", full, reason),
                 "cometr_transfer_error", cause = e,
                 artifact_version_id = version_id)
  })
  # The closed version's own record, so the size is the server's.
  closed <- tryCatch(
    comet_get("/artifacts/version",
              list(artifactId = up$artifactId, experimentKey = experiment_key,
                   versionId = version_id),
              api_key = api_key),
    error = function(e) NULL
  )
  if (!is.null(closed)) logged <- logged_artifact_from(closed, experiment_key, api_key)
  else logged$size(total)
  cometr_inform(c(v = "Artifact '{full}' has been successfully uploaded"))
  logged
}

upload_artifact_asset <- function(asset, experiment_key, version_id, api_key) {
  metadata <- asset$get_metadata()
  params <- list(
    experimentKey = experiment_key,
    artifactVersionId = version_id,
    fileName = asset$get_logical_path(),
    overwrite = isTRUE(asset$has_overwrite()),
    type = asset$get_asset_type() %||% "asset"
  )
  meta <- if (!is.null(metadata)) encode_metadata(metadata)
  if (isTRUE(asset$is_remote())) {
    params$isRemote <- TRUE
    comet_http("/write/experiment/upload-asset", "POST", params, api_key,
               form = list(link = asset$get_link(), metadata = meta))
  } else {
    path <- asset$get_local_path()
    if (!is_single_string(path) || !file.exists(path)) {
      cometr_abort(sprintf("Artifact asset file is missing: %s", show_value(path, 200)),
                   "cometr_input_error", path = path)
    }
    comet_http("/write/experiment/upload-asset", "POST", params, api_key,
               file = path, form = list(metadata = meta))
  }
  invisible(NULL)
}

# Find a version by `[workspace/]name[:version_or_alias]`; explicit arguments win over
# the parts of the name.
artifact_get <- function(experiment_key, api_key, artifact_name, workspace = NULL,
                         version_or_alias = NULL) {
  check_string(artifact_name, "artifact_name", null_ok = FALSE)
  check_string(workspace, "workspace")
  check_string(version_or_alias, "version_or_alias")
  parsed <- parse_artifact_name(artifact_name)
  if (!is.null(workspace) && !is.null(parsed$workspace) && workspace != parsed$workspace) {
    log_message("WARNING", sprintf(paste0(
      "Workspace was given both explicitly '%s' and as part of the fully-qualified artifact ",
      "name '%s', using the explicit value."), workspace, artifact_name))
  }
  if (!is.null(version_or_alias) && !is.null(parsed$version_or_alias) &&
      version_or_alias != parsed$version_or_alias) {
    log_message("WARNING", sprintf(paste0(
      "Version_or_alias was given both explicitly '%s' and as part of the fully-qualified ",
      "artifact name '%s', using the explicit value."), version_or_alias, artifact_name))
  }
  params <- list(
    artifactName = parsed$name,
    experimentKey = experiment_key,
    consumerExperimentKey = experiment_key,
    versionOrAlias = version_or_alias %||% parsed$version_or_alias,
    workspace = workspace %||% parsed$workspace
  )
  version <- comet_get("/artifacts/version", params, api_key = api_key)
  logged_artifact_from(version, experiment_key, api_key)
}

parse_artifact_name <- function(x) {
  workspace <- NULL
  rest <- x
  slash <- regexpr("/", rest, fixed = TRUE)
  if (slash > 0L) {
    workspace <- substr(rest, 1L, slash - 1L)
    rest <- substr(rest, slash + 1L, nchar(rest))
  }
  voa <- NULL
  colon <- regexpr(":", rest, fixed = TRUE)
  if (colon > 0L) {
    voa <- substr(rest, colon + 1L, nchar(rest))
    rest <- substr(rest, 1L, colon - 1L)
  }
  blank_null <- function(s) if (is.null(s) || !nzchar(s)) NULL else s
  if (!nzchar(rest)) abort_input("artifact_name", "has no name part")
  list(workspace = blank_null(workspace), name = rest, version_or_alias = blank_null(voa))
}

# A LoggedArtifact from a GET /artifacts/version answer.
logged_artifact_from <- function(v, experiment_key, api_key) {
  art <- v$artifact %||% list()
  check_answered_key(v$experimentKey, "/artifacts/version", null_ok = TRUE)
  new_with(LoggedArtifact, list(api_key = secret(api_key)),
    artifact_name = art$artifactName,
    artifact_type = art$artifactType,
    artifact_id = art$artifactId,
    artifact_version_id = v$artifactVersionId,
    workspace = art$workspaceName,
    experiment_key = experiment_key,
    artifact_version = v$artifactVersion,
    aliases = v$alias %||% list(),
    artifact_tags = art$tags %||% list(),
    version_tags = v$tags %||% list(),
    size = as.numeric(v$sizeInBytes %||% 0),
    metadata = decode_metadata(v$metadata),
    source_experiment_key = v$experimentKey
  )
}

# ---- helpers -------------------------------------------------------------------------

# The public constructors' formals are those of cometr 0.4.0, so what they cannot take
# as arguments (the API key a logged artifact was obtained with, a checksum) is handed
# over here: set just before `$new()`, taken by `initialize()`. Nothing reaches into an
# object's private fields from outside.
construction <- new.env(parent = emptyenv())

new_with <- function(generator, extra, ...) {
  construction$extra <- extra
  on.exit(construction$extra <- NULL)
  generator$new(...)
}

take_construction <- function() {
  extra <- construction$extra
  construction$extra <- NULL
  extra %||% list()
}

artifact_full_name <- function(workspace, name, version = NULL) {
  paste0(if (!is.null(workspace)) paste0(workspace, "/"), name,
         if (!is.null(version)) paste0(":", version))
}

decode_metadata <- function(x) {
  if (is.null(x) || is.list(x)) return(x)
  if (!is.character(x) || length(x) != 1L || is.na(x) || !nzchar(x)) return(NULL)
  tryCatch(jsonlite::parse_json(x, simplifyVector = FALSE), error = function(e) x)
}

# A SHA-1 the server gave for a file, if any (the local server lists one as `checksum`).
file_checksum <- function(f) {
  ck <- f$checksum
  if (is.character(ck) && length(ck) == 1L && grepl("^[0-9a-fA-F]{40}$", ck)) tolower(ck) else NULL
}

sha1_file <- function(path) rust_result(rust_sha1_file(path))

sha256_file <- function(path) rust_result(rust_sha256_file(path))

# Stream a GET answer to `root/file_name` (through a temporary file beside it).
# `retry`: seconds to try again while the server is unreachable or answers a transient
# status (0: once).
transfer_download <- function(endpoint, params, root, file_name, expected_size = NULL,
                              expected_sha1 = NULL, api_key = NULL, retry = 0) {
  key <- api_key_value(api_key)
  q <- encode_query(params)
  size <- if (length(expected_size) == 1L && !is.na(expected_size) && expected_size >= 0) {
    as.numeric(expected_size)
  } else {
    -1
  }
  log_message("DEBUG", "Download from API endpoint ", endpoint)
  rust_result(rust_download(rest_url(endpoint), endpoint, key, q$names, q$values, root,
                            file_name, size, expected_sha1, retry))
}

# One file of an artifact version to `root/file_name`, following the overwrite strategy.
download_asset_file <- function(asset_id, experiment_key, artifact_version_id, size, checksum,
                                root, file_name, strategy, metadata, asset_type, api_key,
                                quiet = FALSE) {
  check_logical_path(file_name, "logical_path")
  target <- file.path(root, file_name)
  if (dir.exists(target)) {
    cometr_abort(sprintf("Cannot write Asset '%s' on path '%s': it is a folder.", file_name, target),
                 "cometr_input_error", path = target)
  }
  existed <- file.exists(target)
  params <- list(experimentKey = experiment_key, assetId = asset_id,
                 artifactVersionId = artifact_version_id)
  fetch <- function(name, expect_sha1 = checksum) {
    transfer_download("/experiment/asset/get-asset", params, root, name,
                      expected_size = size, expected_sha1 = expect_sha1, api_key = api_key)
  }
  downloaded <- function() {
    ArtifactAsset$new(logical_path = file_name, overwrite = FALSE, remote = FALSE,
                      size = file_size(target), local_path = target, metadata = metadata,
                      asset_type = asset_type)
  }
  if (existed && strategy == "PRESERVE") {
    if (is.null(checksum) || !identical(sha1_file(target), checksum)) {
      cometr_warn(sprintf(paste0("Preserving original Artifact asset '%s' at file '%s' due to ",
                                 "selected overwrite strategy."), file_name, target),
                  "cometr_preserve_warning", path = target)
    }
    return(downloaded())
  }
  if (existed && strategy == "FAIL") {
    local <- sha1_file(target)
    if (!is.null(checksum)) {
      same <- identical(local, checksum)
    } else {
      # Compare with the server's bytes, fetched beside the target and then removed.
      folder <- dirname(file_name)
      probe <- sprintf(".cometr-compare-%s", basename(tempfile("")))
      if (folder != ".") probe <- paste(folder, probe, sep = "/")
      res <- fetch(probe)
      on.exit(unlink(res$path), add = TRUE)
      same <- identical(res$sha1, local)
    }
    if (!same) {
      cometr_abort(sprintf("Cannot write Asset '%s' on path '%s', a file already exists.",
                           file_name, target),
                   "cometr_transfer_error", path = target)
    }
    return(downloaded())
  }
  # Within a whole-artifact download with a progress bar, the bar says this.
  if (!quiet) cometr_inform(c(i = "Downloading Artifact asset '{file_name}' to file {.path {target}}"))
  fetch(file_name)
  if (existed) cometr_inform(c("!" = "File {.path {target}} has been overwritten by asset '{file_name}'."))
  downloaded()
}

# print() of a LoggedArtifact: `files` as the server lists them, or an empty list with
# the reason they could not be listed.
logged_artifact_print <- function(private, files) {
  cat(sprintf("<LoggedArtifact> %s (%s)\n", private$full_name(), private$artifact_type))
  cat(sprintf("  version: %s\n", private$artifact_version %||% "(none)"))
  cat(sprintf("  size: %s\n", human_size(private$size_bytes %||% 0)))
  labels <- list(aliases = private$aliases, `version tags` = private$version_tags,
                 `artifact tags` = private$artifact_tags)
  for (n in names(labels)) {
    if (length(labels[[n]]) > 0L) {
      cat(sprintf("  %s: %s\n", n, paste(unlist(labels[[n]]), collapse = ", ")))
    }
  }
  reason <- attr(files, "reason")
  if (!is.null(reason)) {
    cat(sprintf("  assets: not listed (%s)\n", reason))
    return(invisible())
  }
  cat(sprintf("  %s\n", n_of(length(files), "asset")))
  for (f in files) {
    cat(sprintf("  - %s (%s)\n", f$fileName %||% "?",
                if (isTRUE(f$remote)) f$link %||% "remote" else human_size(as.numeric(f$fileSize %||% 0))))
  }
  invisible()
}
