# The artifact version flow (Experiment$log_artifact and Experiment$get_artifact call
# these): create the version, upload its files, close it; or find a version by name.

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
    message("Artifact created without adding any assets, was this the intent?")
    set_state("CLOSED")
    return(logged)
  }

  full <- artifact_full_name(logged$get_workspace(), logged$get_artifact_name(),
                             logged$get_artifact_version())
  sizes <- vapply(assets, function(a) if (a$is_remote()) 0 else as.numeric(a$get_size()), numeric(1))
  total <- sum(sizes)
  message(sprintf("Artifact '%s' uploading started", full))
  message(sprintf("Scheduling the upload of %d assets for a size of %s, this can take some time.",
                  length(assets), human_size(total)))
  tryCatch({
    for (i in seq_along(assets)) {
      upload_artifact_asset(assets[[i]], experiment_key, version_id, api_key)
      remaining <- length(assets) - i
      if (remaining > 0L) {
        message(sprintf("Still uploading %d artifact assets, remaining size %s",
                        remaining, human_size(sum(sizes[-seq_len(i)]))))
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
  message(sprintf("Artifact '%s' has been successfully uploaded", full))
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
