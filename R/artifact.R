# Artifacts being built locally: an Artifact collects ArtifactAssets (local files and
# remote links) under logical paths, to be logged with an experiment.

#' A Comet Artifact object
#'
#' @description
#' Comet Artifacts allow keeping track of assets beyond any particular experiment.
#' You can keep track of Artifact versions, create many types of assets, manage
#' them, and use them in any step in your ML pipelines - from training to
#' production deployment.
#'
#' Artifacts live in a Comet Project, are identified by their name and version
#' string number.
#'
#' @examples
#' dir <- tempfile()
#' dir.create(dir)
#' writeLines("a,b\n1,2", file.path(dir, "data.csv"))
#' artifact <- Artifact$new(artifact_name = "my-data", artifact_type = "dataset",
#'                          aliases = c("train"), metadata = list(rows = 1))
#' artifact$add(file.path(dir, "data.csv"))
#' artifact$add_remote("s3://bucket/big.parquet")
#' length(artifact$get_assets())
#' @export
Artifact <- R6::R6Class(
  classname = "Artifact",
  cloneable = FALSE,
  public = list(
    #' @description
    #' Creates new `Artifact` object with provided parameters. After that, the
    #' `Artifact` object can be used to save assets and can be logged with an
    #' [`Experiment`].
    #' @param artifact_name (Required) Artifact name.
    #' @param artifact_type (Required) The artifact type, for example 'dataset'.
    #' @param artifact_version The version number to create, a semantic version
    #'   string such as `"1.2.0"` or `"1.2.0-beta"`. If not provided, a new version
    #'   number will be created automatically.
    #' @param aliases Aliases to attach to the future Artifact Version: a
    #'   character vector or a list of strings. Duplicates are removed.
    #' @param metadata Some additional meta-data to attach to the future Artifact
    #'   Version: a named list.
    #' @param version_tags Tags to be attached to the future Artifact Version: a
    #'   character vector or a list of strings. Duplicates are removed.
    initialize = function(artifact_name,
                          artifact_type,
                          artifact_version = NULL,
                          aliases = NULL,
                          metadata = NULL,
                          version_tags = NULL) {
      if (!is_single_string(artifact_name) || !nzchar(artifact_name)) {
        cometr_abort("Artifact name is mandatory", "cometr_input_error", argument = "artifact_name")
      }
      if (!is_single_string(artifact_type) || !nzchar(artifact_type)) {
        cometr_abort("Artifact type is mandatory", "cometr_input_error", argument = "artifact_type")
      }
      private$artifact_name <- artifact_name
      private$artifact_type <- artifact_type
      private$artifact_version <- check_version(artifact_version)
      private$aliases <- check_labels(aliases, "aliases")
      private$metadata <- check_metadata(metadata)
      private$version_tags <- check_labels(version_tags, "version_tags")
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
    #' Get the version of the artifact: a string, or `NULL` when the server is to
    #' choose it.
    get_artifact_version = function() {
      private$artifact_version
    },

    #' @description
    #' Get the aliases of the artifact version (a list of strings).
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
    #' Get the list of assets of the artifact version.
    get_assets = function() {
      private$assets
    },

    #' @description
    #' Add a local asset to the current pending artifact object.
    #' @param local_path (Required) Either a file/directory path of the files you
    #'   want to log. A directory is added with all its files (hidden files
    #'   excluded), each under `<logical_path or folder name>/<relative path>`.
    #'   If any of them would clash with a logical path already in the artifact,
    #'   nothing is added.
    #' @param overwrite If `TRUE` will overwrite all existing assets with the same name.
    #' @param logical_path A custom file name to be displayed. If not provided the
    #'   file name from the `local_path` argument will be used.
    #' @param metadata Some additional data to attach to the asset.
    add = function(local_path,
                   overwrite = FALSE,
                   logical_path = NULL,
                   metadata = NULL) {
      if (is.null(local_path) || length(local_path) != 1L || is.na(local_path)) {
        cometr_abort("local_path can not be NULL", "cometr_input_error", argument = "local_path")
      }
      check_string(local_path, "local_path", null_ok = FALSE)
      if (!file.exists(local_path)) {
        cometr_abort(sprintf("local_path doesn't exists: %s", show_value(local_path, 200)),
                     "cometr_input_error", argument = "local_path")
      }
      check_flag(overwrite, "overwrite")
      check_string(logical_path, "logical_path")
      metadata <- check_metadata(metadata)
      if (dir.exists(local_path)) {
        root <- logical_path %||% basename(normalizePath(local_path, mustWork = TRUE))
        rel <- sort(list.files(local_path, recursive = TRUE))
        new <- lapply(rel, function(r) {
          path <- file.path(local_path, r)
          ArtifactAsset$new(
            logical_path = check_logical_path(paste(root, r, sep = "/"), "logical_path"),
            overwrite = overwrite, remote = FALSE, size = file_size(path),
            local_path = path, metadata = metadata, asset_type = "asset"
          )
        })
      } else {
        new <- list(ArtifactAsset$new(
          logical_path = check_logical_path(logical_path %||% basename(local_path), "logical_path"),
          overwrite = overwrite, remote = FALSE, size = file_size(local_path),
          local_path = local_path, metadata = metadata, asset_type = "asset"
        ))
      }
      private$add_all(new)
      invisible(self)
    },

    #' @description
    #' Add a remote asset to the current pending artifact object. A Remote Asset
    #' is an asset but its content is not uploaded and stored on Comet. Rather a
    #' link for its location is stored so you can identify and distinguish
    #' between two experiment using different version of a dataset stored
    #' somewhere else.
    #' @param uri (Required) The remote asset location, there is no imposed format
    #'   and it could be a private link.
    #' @param logical_path The "name" of the remote asset, could be a dataset
    #'   name, a model file name. By default, the last part of the URI.
    #' @param overwrite If `TRUE` will overwrite all existing assets with the same name.
    #' @param metadata Some additional data to attach to the asset.
    add_remote = function(uri,
                          logical_path = NULL,
                          overwrite = FALSE,
                          metadata = NULL) {
      if (is.null(uri) || length(uri) != 1L || is.na(uri)) {
        cometr_abort("uri can not be NULL", "cometr_input_error", argument = "uri")
      }
      check_name(uri, "uri")
      check_string(logical_path, "logical_path")
      check_flag(overwrite, "overwrite")
      metadata <- check_metadata(metadata)
      lp <- check_logical_path(logical_path %||% remote_name(uri), "logical_path")
      private$add_all(list(ArtifactAsset$new(
        logical_path = lp, overwrite = overwrite, remote = TRUE, size = 0,
        link = uri, local_path = NULL, metadata = metadata, asset_type = "asset"
      )))
      invisible(self)
    },

    #' @description
    #' Adds an initialized `ArtifactAsset` object to this Artifact.
    #' @param asset The initialized `ArtifactAsset` object
    add_asset = function(asset) {
      if (!inherits(asset, "ArtifactAsset")) {
        abort_input("asset", "must be an ArtifactAsset object")
      }
      # ArtifactAsset$new() keeps what it is given, as in 0.4.0: its logical path is
      # checked here, where it is used.
      check_logical_path(asset$get_logical_path(), "asset")
      private$add_all(list(asset))
      invisible(self)
    },

    #' @description
    #' Print the artifact: its name, type, version, labels, assets and their size.
    #' @param ... Ignored.
    print = function(...) {
      version <- private$artifact_version
      cat(sprintf("<Artifact> %s (%s)%s\n", private$artifact_name, private$artifact_type,
                  if (is.null(version)) "" else paste0(", version ", version)))
      labels <- list(aliases = private$aliases, `version tags` = private$version_tags)
      for (n in names(labels)) {
        if (length(labels[[n]]) > 0L) cat(sprintf("  %s: %s\n", n, paste(unlist(labels[[n]]), collapse = ", ")))
      }
      cat(sprintf("  %d asset(s)\n", length(private$assets)))
      local <- Filter(function(a) !isTRUE(a$is_remote()), private$assets)
      if (length(local) > 0L) {
        cat(sprintf("  size: %s\n", human_size(sum(vapply(local, function(a) as.numeric(a$get_size()), 0)))))
      }
      for (a in private$assets) {
        cat(sprintf("  - %s (%s)\n", a$get_logical_path(),
                    if (isTRUE(a$is_remote())) a$get_link() else human_size(a$get_size())))
      }
      invisible(self)
    }
  ),
  private = list(
    artifact_name = NULL,
    artifact_type = NULL,
    artifact_version = NULL,
    aliases = NULL,
    metadata = NULL,
    version_tags = NULL,
    assets = list(),

    # All or nothing: a clash anywhere leaves the artifact as it was.
    add_all = function(new) {
      paths <- vapply(new, function(a) a$get_logical_path(), character(1))
      taken <- vapply(private$assets, function(a) a$get_logical_path(), character(1))
      clash <- c(paths[paths %in% taken], paths[duplicated(paths)])
      if (length(clash) > 0L) {
        cometr_abort(
          sprintf(paste0("Cannot add new asset with logical_path '%s', an existing asset already ",
                         "exists with this logical_path. To add this asset to this artifact you ",
                         "should use a new unique logical_path."), clash[[1]]),
          "cometr_input_error", argument = "logical_path", logical_path = clash[[1]]
        )
      }
      private$assets <- c(private$assets, new)
      invisible(NULL)
    }
  )
)

#' Create Comet Artifact object
#'
#' Creates new Artifact object with provided parameters. After that, the
#' Artifact object can be used to save assets and can be logged with an
#' [`Experiment`].
#'
#' @param artifact_name (Required) Artifact name.
#' @param artifact_type (Required) The artifact type, for example 'dataset'.
#' @param artifact_version The version number to create, a semantic version
#'   string such as `"1.2.0"` or `"1.2.0-beta"`. If not provided, a new version
#'   number will be created automatically.
#' @param aliases Aliases to attach to the future Artifact Version: a character
#'   vector or a list of strings. Duplicates are removed.
#' @param metadata Some additional meta-data to attach to the future Artifact
#'   Version: a named list.
#' @param version_tags Tags to be attached to the future Artifact Version: a
#'   character vector or a list of strings. Duplicates are removed.
#' @return An [`Artifact`] object.
#' @examples
#' artifact <- create_artifact(artifact_name = "my-model", artifact_type = "model",
#'                             artifact_version = "1.0.0-rc1")
#' artifact$get_artifact_version()
#' @export
create_artifact <- function(artifact_name,
                            artifact_type,
                            artifact_version = NULL,
                            aliases = NULL,
                            metadata = NULL,
                            version_tags = NULL) {
  Artifact$new(
    artifact_name = artifact_name,
    artifact_type = artifact_type,
    artifact_version = artifact_version,
    aliases = aliases,
    metadata = metadata,
    version_tags = version_tags
  )
}

#' An Artifact Asset object
#'
#' @description
#' The `ArtifactAsset` represent local or remote asset added to an [`Artifact`]
#' object but not yet uploaded.
#'
#' @examples
#' asset <- ArtifactAsset$new("models/model.rds", local_path = "model.rds", size = 1024)
#' asset$get_logical_path()
#' asset$get_asset_type()
#' @export
ArtifactAsset <- R6::R6Class(
  classname = "ArtifactAsset",
  cloneable = FALSE,
  public = list(
    #' @description
    #' Creates a new `ArtifactAsset` object with provided parameters.
    #' @param logical_path the logical file name.
    #' @param overwrite If `TRUE` will overwrite all existing assets with the same name.
    #' @param remote Is the asset a remote asset or not.
    #' @param size The size if the asset of a non-remote asset (bytes, a double
    #'   so sizes above 2 GiB are exact).
    #' @param link The remote link if the asset is remote.
    #' @param local_path The local file path if the asset is non-remote.
    #' @param metadata The metadata to be associated with the asset.
    #' @param asset_type The type of asset (`"asset"` when `NULL`).
    initialize = function(logical_path,
                          overwrite = FALSE,
                          remote = FALSE,
                          size = 0,
                          link = NULL,
                          local_path = NULL,
                          metadata = NULL,
                          asset_type = NULL) {
      private$logical_path <- logical_path
      private$overwrite <- overwrite
      private$remote <- remote
      check_size(size)
      private$size <- if (is.null(size)) 0 else as.numeric(size)
      private$link <- link
      private$local_path <- local_path
      private$metadata <- metadata
      private$asset_type <- asset_type %||% "asset"
    },

    #' @description
    #' Asset local path if the asset is non-remote
    get_local_path = function() {
      private$local_path
    },

    #' @description
    #' Asset logical file name
    get_logical_path = function() {
      private$logical_path
    },

    #' @description
    #' Is the asset a remote asset or not
    is_remote = function() {
      private$remote
    },

    #' @description
    #' Is the asset will overwrite existing asset with the same name.
    has_overwrite = function() {
      private$overwrite
    },

    #' @description
    #' Asset size if the asset is a non-remote asset
    get_size = function() {
      private$size
    },

    #' @description
    #' Asset remote link if the asset is remote or NULL
    get_link = function() {
      private$link
    },

    #' @description
    #' Asset metadata
    get_metadata = function() {
      private$metadata
    },

    #' @description
    #' Asset type
    get_asset_type = function() {
      private$asset_type
    }
  ),
  private = list(
    logical_path = NULL,
    overwrite = FALSE,
    remote = FALSE,
    size = 0,
    link = NULL,
    local_path = NULL,
    metadata = NULL,
    asset_type = NULL
  )
)

file_size <- function(path) as.numeric(file.info(path, extra_cols = FALSE)$size)

# Sizes as cometr 0.4.0 prints them: 255B, 19.24KB, 12.62MB.
human_size <- function(bytes) {
  units <- c("B", "KB", "MB", "GB", "TB", "PB")
  k <- 0L
  while (k < length(units) - 1L && bytes / 1024^(k + 1L) > 1) k <- k + 1L
  if (k == 0L) return(paste0(format(bytes, scientific = FALSE), "B"))
  paste0(round(bytes / 1024^k, 2), units[[k + 1L]])
}
