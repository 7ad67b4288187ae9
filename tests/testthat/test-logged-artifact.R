# Artifacts logged to and read back from the embedded server, over real HTTP.

new_experiment <- function(project = "proj") {
  call_api("/write/experiment/create", "POST",
           list(projectName = project, workspaceName = "local"))$experimentKey
}

# A folder with nested files, a 5 MB binary, a file with metadata and a remote link.
make_payload <- function(dir) {
  dir.create(file.path(dir, "images", "train", "cats"), recursive = TRUE)
  writeLines("cat 1", file.path(dir, "images", "train", "cats", "c1.txt"))
  writeLines("cat 2", file.path(dir, "images", "train", "cats", "c2.txt"))
  writeLines("readme", file.path(dir, "images", "README"))
  set.seed(42)
  writeBin(as.raw(sample.int(256, 5e6, replace = TRUE) - 1L), file.path(dir, "weights.bin"))
  writeLines(c("a,b", "1,2"), file.path(dir, "table.csv"))
  a <- create_artifact("dataset-a", "dataset", aliases = c("best", "train"),
                       metadata = list(source = "test", n = 3), version_tags = c("v-tag"))
  a$add(file.path(dir, "images"))
  a$add(file.path(dir, "weights.bin"), logical_path = "model/weights.bin")
  a$add(file.path(dir, "table.csv"), metadata = list(kind = "table", rows = 1))
  a$add_remote("s3://bucket/remote/huge.parquet", metadata = list(where = "s3"))
  a
}

log_quietly <- function(key, artifact, api_key = NULL) {
  suppressMessages(cometr:::artifact_log(key, artifact, api_key))
}

same_bytes <- function(a, b) identical(unname(tools::md5sum(a)), unname(tools::md5sum(b)))

leftovers <- function(dir) {
  grep("\\.cometr-", list.files(dir, recursive = TRUE, all.files = TRUE), value = TRUE)
}

test_that("an artifact round-trips: log, fetch by name and alias, download byte-identical", {
  srv <- local_test_server()
  key <- new_experiment()
  src <- withr::local_tempdir()
  artifact <- make_payload(src)

  msgs <- capture_messages(logged <- cometr:::artifact_log(key, artifact, NULL))
  expect_match(msgs, "Scheduling the upload of 6 assets for a size of 4.77MB", all = FALSE)
  expect_match(msgs, "Still uploading 1 artifact asset,", all = FALSE)
  expect_match(msgs, "'local/dataset-a:1.0.0' has been successfully uploaded", all = FALSE)
  expect_s3_class(logged, "LoggedArtifact")
  expect_identical(logged$get_artifact_version(), "1.0.0")
  expect_identical(logged$get_artifact_name(), "dataset-a")
  expect_identical(logged$get_artifact_type(), "dataset")
  expect_identical(logged$get_workspace(), "local")
  expect_identical(logged$get_experiment_key(), key)
  expect_identical(logged$get_source_experiment_key(), key)
  expect_identical(logged$get_aliases(), list("best", "train"))
  expect_identical(logged$get_version_tags(), list("v-tag"))
  expect_identical(logged$get_metadata(), list(source = "test", n = 3L))
  local_bytes <- sum(file.size(list.files(src, recursive = TRUE, full.names = TRUE)))
  expect_identical(logged$size(), as.numeric(local_bytes))

  consumer <- new_experiment("other")
  by_name <- cometr:::artifact_get(consumer, NULL, "dataset-a")
  by_alias <- cometr:::artifact_get(consumer, NULL, "dataset-a", version_or_alias = "best")
  by_full <- cometr:::artifact_get(consumer, NULL, "local/dataset-a:train")
  by_args <- cometr:::artifact_get(consumer, NULL, "dataset-a", workspace = "local",
                                   version_or_alias = "1.0.0")
  for (x in list(by_name, by_alias, by_full, by_args)) {
    expect_identical(x$get_artifact_version_id(), logged$get_artifact_version_id())
    expect_identical(x$get_experiment_key(), consumer)
    expect_identical(x$get_source_experiment_key(), key)
  }

  assets <- by_name$get_assets()
  expect_length(assets, 6)
  expect_true(all(vapply(assets, inherits, logical(1), "LoggedArtifactAsset")))
  names(assets) <- vapply(assets, function(a) a$get_logical_path(), character(1))
  expect_setequal(names(assets), c("images/README", "images/train/cats/c1.txt",
                                   "images/train/cats/c2.txt", "model/weights.bin",
                                   "table.csv", "huge.parquet"))
  w <- assets[["model/weights.bin"]]
  expect_identical(w$get_size(), 5e6)
  expect_identical(w$get_artifact_version_id(), logged$get_artifact_version_id())
  expect_identical(w$get_artifact_id(), logged$get_artifact_id())
  expect_type(w$get_id(), "character")
  expect_identical(assets[["table.csv"]]$get_metadata(), list(kind = "table", rows = 1L))
  remote <- by_name$get_remote_assets()
  expect_length(remote, 1)
  expect_true(remote[[1]]$is_remote())
  expect_identical(remote[[1]]$get_link(), "s3://bucket/remote/huge.parquet")
  expect_identical(remote[[1]]$get_metadata(), list(where = "s3"))

  out <- withr::local_tempdir()
  msgs <- capture_messages(copy <- by_full$download(out))
  expect_match(msgs, "Downloading 5 assets of the Artifact 'local/dataset-a:1.0.0'", all = FALSE)
  expect_s3_class(copy, "Artifact")
  expect_length(copy$get_assets(), 6)
  expect_true(same_bytes(file.path(out, "model", "weights.bin"), file.path(src, "weights.bin")))
  expect_true(same_bytes(file.path(out, "images", "train", "cats", "c2.txt"),
                         file.path(src, "images", "train", "cats", "c2.txt")))
  expect_true(same_bytes(file.path(out, "table.csv"), file.path(src, "table.csv")))
  expect_false(file.exists(file.path(out, "huge.parquet")))
  r <- Filter(function(a) a$is_remote(), copy$get_assets())
  expect_identical(r[[1]]$get_link(), "s3://bucket/remote/huge.parquet")
  expect_identical(leftovers(out), character())

  # No path: everything in one temporary folder.
  tmp <- suppressMessages(by_name$download())
  roots <- vapply(Filter(function(a) !a$is_remote(), tmp$get_assets()), function(a) {
    p <- a$get_local_path()
    substr(p, 1, nchar(p) - nchar(a$get_logical_path()) - 1)
  }, character(1))
  expect_length(unique(roots), 1)

  # One asset, to a root folder or under another name.
  one <- suppressMessages(w$download(out, logical_path = "renamed/w.bin"))
  expect_identical(one$get_local_path(), file.path(out, "renamed/w.bin"))
  expect_identical(one$get_size(), 5e6)
  expect_true(same_bytes(one$get_local_path(), file.path(src, "weights.bin")))
  expect_error(remote[[1]]$download(out), "s3://bucket/remote/huge.parquet",
               class = "cometr_remote_asset_error")
})

test_that("the three overwrite strategies", {
  srv <- local_test_server()
  key <- new_experiment()
  f <- withr::local_tempfile(lines = c("original", "content"))
  a <- create_artifact("strategies", "dataset")
  a$add(f, logical_path = "data/file.txt")
  logged <- log_quietly(key, a)
  out <- withr::local_tempdir()
  target <- file.path(out, "data", "file.txt")
  suppressMessages(logged$download(out))
  expect_true(same_bytes(target, f))

  # FAIL with identical content: kept, silently.
  expect_silent(suppressMessages(logged$download(out, overwrite_strategy = FALSE)))
  writeLines("changed locally", target)
  before <- readLines(target)
  expect_error(suppressMessages(logged$download(out)), "a file already exists",
               class = "cometr_transfer_error")
  expect_error(suppressMessages(logged$download(out, "FAIL")), class = "cometr_transfer_error")
  expect_identical(readLines(target), before)

  # FAIL without a server checksum compares the downloaded bytes, then removes them.
  listing <- call_api("/artifacts/version/files", "GET",
                      list(workspace = "local", artifactName = "strategies", version = "1.0.0"))
  listing$files[[1]]$checksum <- NULL
  srv$inject_fault("artifacts/version/files", 200L, cometr:::to_json(listing))
  expect_error(suppressMessages(logged$download(out)), class = "cometr_transfer_error")
  expect_identical(readLines(target), before)
  expect_identical(leftovers(out), character())
  writeLines(c("original", "content"), target)
  srv$inject_fault("artifacts/version/files", 200L, cometr:::to_json(listing))
  expect_no_error(suppressMessages(logged$download(out)))
  expect_identical(leftovers(out), character())
  writeLines("changed locally", target)

  # PRESERVE: kept, with a classed warning.
  expect_warning(res <- suppressMessages(logged$download(out, "PRESERVE")),
                 class = "cometr_preserve_warning")
  expect_identical(readLines(target), before)
  expect_identical(res$get_assets()[[1]]$get_local_path(), target)

  # OVERWRITE: replaced by the logged bytes.
  expect_match(capture_messages(logged$download(out, TRUE)), "has been overwritten", all = FALSE)
  expect_true(same_bytes(target, f))
  writeLines("changed again", target)
  suppressMessages(logged$download(out, "overwrite"))
  expect_true(same_bytes(target, f))

  # The same strategies for one asset.
  asset <- logged$get_assets()[[1]]
  writeLines("changed locally", target)
  expect_error(asset$download(out), class = "cometr_transfer_error")
  expect_warning(asset$download(out, overwrite_strategy = "PRESERVE"),
                 class = "cometr_preserve_warning")
  expect_identical(readLines(target), before)
  suppressMessages(asset$download(out, overwrite_strategy = "OVERWRITE"))
  expect_true(same_bytes(target, f))
  expect_error(asset$download(out, overwrite_strategy = "sometimes"), class = "cometr_input_error")
  expect_identical(leftovers(out), character())
})

test_that("versions: next major, explicit semver, fetch an old one, labels", {
  srv <- local_test_server()
  key <- new_experiment()
  f <- withr::local_tempfile(lines = "v1")
  a1 <- create_artifact("versioned", "model", aliases = "prod")
  a1$add(f, logical_path = "m.txt")
  v1 <- log_quietly(key, a1)
  writeLines("v2", f)
  a2 <- create_artifact("versioned", "model", aliases = "prod")
  a2$add(f, logical_path = "m.txt")
  v2 <- log_quietly(key, a2)
  expect_identical(v1$get_artifact_version(), "1.0.0")
  expect_identical(v2$get_artifact_version(), "2.0.0")
  a3 <- create_artifact("versioned", "model", artifact_version = "2.1.0-beta")
  a3$add(f, logical_path = "m.txt")
  v3 <- log_quietly(key, a3)
  expect_identical(v3$get_artifact_version(), "2.1.0-beta")

  first <- cometr:::artifact_get(key, NULL, "versioned:1.0.0")
  expect_identical(first$get_artifact_version_id(), v1$get_artifact_version_id())
  out <- withr::local_tempdir()
  suppressMessages(first$download(out))
  expect_identical(readLines(file.path(out, "m.txt")), "v1")
  # The alias moved to the newest version that claimed it.
  expect_identical(cometr:::artifact_get(key, NULL, "versioned:prod")$get_artifact_version(),
                   "2.0.0")
  expect_identical(cometr:::artifact_get(key, NULL, "versioned")$get_artifact_version(),
                   "2.1.0-beta")

  # A version that exists already.
  dup <- create_artifact("versioned", "model", artifact_version = "1.0.0")
  err <- expect_error(suppressMessages(cometr:::artifact_log(key, dup, NULL)),
                      class = "cometr_http_error")
  expect_identical(as.numeric(err$sdk_error_code), 90399)

  first$update_aliases(c("old", "old", "stable"))
  first$update_version_tags(list("t1"))
  first$update_artifact_tags(c("shared"))
  expect_identical(first$get_aliases(), list("old", "stable"))
  again <- cometr:::artifact_get(key, NULL, "local/versioned:stable")
  expect_identical(again$get_artifact_version(), "1.0.0")
  expect_identical(again$get_version_tags(), list("t1"))
  expect_identical(again$get_artifact_tags(), list("shared"))
  first$update_version_tags(character())
  expect_identical(cometr:::artifact_get(key, NULL, "versioned:1.0.0")$get_version_tags(), list())

  expect_identical(first$size(), 3)
  expect_identical(first$size(10), 10)

  all <- call_api("/artifacts/get-all", "GET", list(workspace = "local"))
  expect_identical(all$artifacts[[1]]$artifactName, "versioned")
  one <- call_api("/artifacts/get", "GET", list(workspace = "local", artifactName = "versioned"))
  expect_length(one$versions, 3)
})

test_that("an empty artifact is logged and closed", {
  srv <- local_test_server()
  key <- new_experiment()
  expect_message(empty <- cometr:::artifact_log(key, create_artifact("empty", "t"), NULL),
                 "without adding any assets")
  expect_length(empty$get_assets(), 0)
  expect_identical(cometr:::artifact_get(key, NULL, "empty")$get_artifact_version(), "1.0.0")
})

test_that("a failed upload marks the version ERROR and raises a transfer error", {
  srv <- local_test_server()
  key <- new_experiment()
  f <- withr::local_tempfile(lines = "x")
  a <- create_artifact("broken", "dataset")
  a$add(f, logical_path = "a.txt")
  a$add(f, logical_path = "b.txt")
  # A failure that persists beyond the retries.
  srv$inject_fault("write/experiment/upload-asset", 500L, times = 1000L)
  withr::local_options(cometr.retry_timeout = 0.5)
  err <- expect_error(suppressMessages(cometr:::artifact_log(key, a, NULL)),
                      "Failed to log Artifact", class = "cometr_transfer_error")
  expect_type(err$artifact_version_id, "character")
  err <- expect_error(cometr:::artifact_get(key, NULL, "broken"), class = "cometr_http_error")
  expect_identical(as.numeric(err$sdk_error_code), 90403)
  err <- expect_error(cometr:::artifact_get(key, NULL, "no-such-artifact"),
                      class = "cometr_http_error")
  expect_identical(as.numeric(err$sdk_error_code), 624523)
})

test_that("the API key is forwarded by every artifact call", {
  srv <- local_test_server(api_key = "only-key")
  key <- new_experiment()
  f <- withr::local_tempfile(lines = "secret data")
  a <- create_artifact("keyed", "dataset")
  a$add(f, logical_path = "s.txt")
  withr::local_envvar(COMET_API_KEY = "wrong-key")
  expect_error(suppressMessages(cometr:::artifact_log(key, a, NULL)), class = "cometr_http_401")
  logged <- log_quietly(key, a, "only-key")
  got <- cometr:::artifact_get(key, "only-key", "keyed")
  out <- withr::local_tempdir()
  suppressMessages(got$download(out))
  expect_identical(readLines(file.path(out, "s.txt")), "secret data")
  asset <- got$get_assets()[[1]]
  suppressMessages(asset$download(out, overwrite_strategy = "OVERWRITE"))
  got$update_aliases("keyed-alias")
  expect_output(print(got), "LoggedArtifact")
  expect_false(any(grepl("only-key", capture.output(print(got)))))
})

test_that("hostile answers: unsafe names, truncated bodies, wrong checksums", {
  srv <- local_test_server()
  key <- new_experiment()
  f <- withr::local_tempfile()
  writeBin(as.raw(rep(7L, 1000)), f)
  a <- create_artifact("hostile", "dataset")
  a$add(f, logical_path = "data.bin")
  logged <- log_quietly(key, a)
  listing <- call_api("/artifacts/version/files", "GET",
                      list(workspace = "local", artifactName = "hostile", version = "1.0.0"))
  hostile <- function(file_name = NULL, checksum = NULL) {
    l <- listing
    if (!is.null(file_name)) l$files[[1]]$fileName <- file_name
    if (!is.null(checksum)) l$files[[1]]$checksum <- checksum
    srv$inject_fault("artifacts/version/files", 200L, cometr:::to_json(l))
  }
  parent <- withr::local_tempdir()
  out <- file.path(parent, "out")

  hostile("../evil.bin")
  expect_error(suppressMessages(logged$download(out)), "Unsafe logical path",
               class = "cometr_input_error")
  expect_false(file.exists(file.path(parent, "evil.bin")))
  expect_false(dir.exists(out))

  abs <- file.path(parent, "abs.bin")
  hostile(abs)
  expect_error(suppressMessages(logged$download(out)), class = "cometr_input_error")
  expect_false(file.exists(abs))
  hostile("C:/windows.bin")
  expect_error(suppressMessages(logged$download(out)), class = "cometr_input_error")
  hostile("a\\..\\..\\b.bin")
  expect_error(suppressMessages(logged$download(out)), class = "cometr_input_error")
  expect_false(dir.exists(out))
  asset <- logged$get_assets()[[1]]
  expect_error(asset$download(out, logical_path = "../x.bin"), class = "cometr_input_error")
  expect_false(dir.exists(out))

  # A body shorter than the listed size.
  srv$inject_fault("experiment/asset/get-asset", 200L, "only a few bytes",
                   content_type = "application/octet-stream")
  expect_error(suppressMessages(logged$download(out)), "data.bin",
               class = "cometr_transfer_error")
  expect_false(file.exists(file.path(out, "data.bin")))
  expect_identical(leftovers(parent), character())

  # The same through the single-asset download, into an existing file: untouched.
  dir.create(out)
  writeLines("mine", file.path(out, "data.bin"))
  srv$inject_fault("experiment/asset/get-asset", 200L, "short",
                   content_type = "application/octet-stream")
  expect_error(suppressMessages(asset$download(out, overwrite_strategy = "OVERWRITE")),
               class = "cometr_transfer_error")
  expect_identical(readLines(file.path(out, "data.bin")), "mine")
  expect_identical(leftovers(parent), character())
  unlink(file.path(out, "data.bin"))

  # Bytes that do not match the listed checksum.
  hostile(checksum = strrep("0", 40))
  expect_error(suppressMessages(logged$download(out)), "checksum mismatch",
               class = "cometr_transfer_error")
  expect_false(file.exists(file.path(out, "data.bin")))
  expect_identical(leftovers(parent), character())

  # An error answer instead of the bytes: a classed HTTP error, no file.
  srv$inject_fault("experiment/asset/get-asset", 500L)
  expect_error(suppressMessages(logged$download(out)), class = "cometr_http_error")
  expect_false(file.exists(file.path(out, "data.bin")))

  # And the real thing still works.
  suppressMessages(logged$download(out))
  expect_true(same_bytes(file.path(out, "data.bin"), f))
})

test_that("Experiment$log_artifact and $get_artifact go through the same flow", {
  srv <- local_test_server()
  exp <- create_experiment(project_name = "proj", keep_active = FALSE, log_output = FALSE,
                           log_code = FALSE, log_system_details = FALSE)
  on.exit(exp$stop(), add = TRUE)
  f <- withr::local_tempfile(lines = "through the experiment")
  a <- create_artifact("via-exp", "dataset", aliases = "latest-good")
  a$add(f, logical_path = "x.txt")
  logged <- suppressMessages(exp$log_artifact(a))
  expect_s3_class(logged, "LoggedArtifact")
  got <- exp$get_artifact("local/via-exp:latest-good")
  expect_identical(got$get_artifact_version_id(), logged$get_artifact_version_id())
  out <- withr::local_tempdir()
  suppressMessages(got$download(out))
  expect_identical(readLines(file.path(out, "x.txt")), "through the experiment")
})

test_that("artifact progress lines are messages: standard output stays the script's", {
  srv <- local_test_server()
  key <- new_experiment()
  f <- withr::local_tempfile(lines = "x")
  a <- create_artifact("progress", "dataset")
  a$add(f, logical_path = "f.txt")
  msgs <- character()
  out <- capture.output(msgs <- capture_messages(
    logged <- cometr:::artifact_log(key, a, NULL)
  ))
  expect_identical(out, character())
  expect_match(msgs, "Artifact 'local/progress:1.0.0' uploading started", all = FALSE)
  expect_match(msgs, "has been successfully uploaded", all = FALSE)
  dest <- withr::local_tempdir()
  out <- capture.output(msgs <- capture_messages(logged$download(dest)))
  expect_identical(out, character())
  expect_match(msgs, "Downloading 1 asset of the Artifact 'local/progress:1.0.0'", all = FALSE)
  out <- capture.output(msgs <- capture_messages(
    cometr:::artifact_log(key, create_artifact("none", "t"), NULL)
  ))
  expect_identical(out, character())
  expect_match(msgs, "Artifact created without adding any assets, was this the intent?", all = FALSE)
  # 0.4.0's words for a wrong type, which scripts may match.
  expect_error(create_artifact("n", "t", aliases = 34), "aliases is not a list: 34", fixed = TRUE,
               class = "cometr_input_error")
  expect_error(create_artifact("n", "t", metadata = 34), "Invalid metadata, expecting list: 34",
               fixed = TRUE, class = "cometr_input_error")
})
