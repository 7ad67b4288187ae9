# Interoperability, broadly: Comet's official Python SDK (comet_ml, pinned in
# fixtures/python/requirements.txt) logs every kind of data it can to the local server
# and reads it back through its own read API; cometr reads the same run; artifacts go
# from comet_ml to cometr and from cometr to comet_ml. No SDK warning or error, and
# every request answered 2xx. One Python process logs, one reads.

# Run fixtures/python/<script> with the SDK against `url`; fails (printing what the
# script said) unless it exits 0.
run_python_sdk <- function(script, args, url, cache) {
  run <- python_sdk(script, args, cache,
                    c(COMET_URL_OVERRIDE = url, COMET_API_KEY = "python-key"))
  out <- run$out
  expect_identical(run$status, 0L, label = paste(c(script, out), collapse = "\n"))
  expect_false(any(startsWith(out, "PROBLEM:")), label = paste(out, collapse = "\n"))
  out
}

# An answer that is not 2xx, among the server's answers.
failed_answers <- function(srv) grep("^[^2]", srv$answers(), value = TRUE)

test_that("the Python SDK logs every kind of data, reads it back, and so does cometr", {
  cache <- Sys.getenv("XDG_CACHE_HOME", file.path(Sys.getenv("HOME"), ".cache"))
  srv <- local_test_server()
  work <- withr::local_tempdir()
  withr::local_envvar(COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "r-key")

  # An artifact logged by cometr (a local file and a remote link), for comet_ml to
  # download.
  r_file <- file.path(work, "r-file.txt")
  writeLines("from R", r_file)
  exp_r <- suppressMessages(create_experiment(project_name = "rside", log_output = FALSE,
                                              log_code = FALSE, log_system_details = FALSE))
  a <- create_artifact("r-art", "dataset", metadata = list(origin = "R"))
  a$add(r_file)
  a$add_remote("https://example.com/r-remote.bin")
  suppressMessages(exp_r$log_artifact(a))
  suppressMessages(exp_r$stop())

  out <- run_python_sdk("log-broad.py", work, srv$url, cache)
  key <- sub("^KEY=", "", grep("^KEY=", out, value = TRUE))
  expect_length(key, 1)
  out <- run_python_sdk("read-broad.py", c(work, "r-art"), srv$url, cache)
  expect_match(grep("^CHECKED", out, value = TRUE), "^CHECKED [0-9]{2,}$")
  # What comet_ml downloaded from cometr's artifact.
  expect_identical(readLines(file.path(work, "from-r", "r-file.txt")), "from R")

  # cometr reads the same run through its own API.
  exp <- suppressMessages(get_experiment(key))
  withr::defer(suppressMessages(exp$stop()))
  loss <- exp$get_metric("loss")$metrics
  expect_equal(as.numeric(vapply(loss, `[[`, "", "metricValue")), 1 / (1:3))
  summary <- exp$get_metrics_summary()$values
  current <- setNames(vapply(summary, function(x) as.character(x$valueCurrent), ""),
                      vapply(summary, `[[`, "", "name"))
  expect_equal(as.numeric(current[c("acc", "f1", "val/loss", "train_recall")]),
               c(0.5, 0.25, 0.75, 0.125))
  values <- function(x) {
    setNames(vapply(x$values, function(v) as.character(v$valueCurrent), ""),
             vapply(x$values, `[[`, "", "name"))
  }
  p <- values(exp$get_parameters())
  expect_equal(as.numeric(p[["lr"]]), 0.01)
  expect_identical(p[["optimizer|name"]], "adam")
  expect_identical(nchar(p[["dataset_hash"]]), 12L)
  o <- values(exp$get_other())
  expect_identical(o[c("note", "owner", "Name")], c(note = "hello", owner = "python",
                                                     Name = "broad-run"))
  expect_setequal(unlist(exp$get_tags()$tags), c("py", "sdk", "broad"))
  expect_match(exp$get_html()$html, "^<p>first</p><p>second</p><div>")
  expect_match(exp$get_output()$output, "hello from python\nsecond line\n", fixed = TRUE)
  expect_identical(exp$get_graph()$graph, "Sequential(Linear(4, 2))")
  sys <- exp$get_system_details()
  expect_true("numpy==2.0" %in% unlist(sys$installedPackages))
  expect_identical(sys$cloudDetails$provider, "AWS")
  meta <- exp$get_metadata()
  expect_identical(meta$projectName, "pybroad")

  assets <- exp$get_asset_list()$assets
  names <- vapply(assets, `[[`, "", "fileName")
  types <- vapply(assets, `[[`, "", "type")
  expect_true(all(c("data.txt", "data.csv", "data.json", "notes.txt", "remote.csv",
                    "folder/sub/deep.txt", "table.csv", "grey.png", "roc",
                    "confusion-matrix.json", "weights", "snippet.py", "weights.bin", "model.pt",
                    "tone.wav", "clip.gif", "nb.ipynb") %in% names))
  expect_true(all(c("image", "curve", "confusion-matrix", "histogram3d", "source_code",
                    "model-element", "text-sample", "audio", "video", "notebook") %in% types))
  # get_asset() answers text, parsed JSON or bytes by the content type served.
  asset <- function(n) exp$get_asset(assets[[match(n, names)]]$assetId)
  text <- function(x) if (is.raw(x)) rawToChar(x) else x
  expect_identical(text(asset("data.txt")), "asset from python\n")
  expect_identical(text(asset("data.csv")), "a,b\n1,2\n")
  js <- asset("data.json")
  if (!is.list(js)) js <- jsonlite::parse_json(text(js))
  expect_identical(js, list(x = list(1L, 2L, 3L)))
  expect_identical(asset("grey.png")[1:4], as.raw(c(0x89, 0x50, 0x4e, 0x47)))
  remote <- assets[[match("remote.csv", names)]]
  expect_true(remote$remote)
  expect_identical(remote$link, "s3://bucket/folder/remote.csv")
  expect_length(exp$get_asset_list(type = "model-element")$assets, 2)
  expect_identical(asset("tone.wav")[1:4], charToRaw("RIFF"))

  # The artifact comet_ml logged, downloaded by cometr (its local file; the remote one
  # is a link).
  logged <- suppressMessages(exp$get_artifact("pyart"))
  expect_identical(logged$get_artifact_type(), "dataset")
  expect_identical(unlist(logged$get_aliases()), "first")
  expect_identical(logged$get_metadata(), list(origin = "python"))
  expect_identical(vapply(logged$get_remote_assets(), function(x) x$get_link(), ""),
                   "https://example.com/remote.bin")
  into <- file.path(work, "from-python")
  suppressMessages(logged$download(into))
  expect_identical(readLines(file.path(into, "art.txt")), "artifact file")
  # Reading it through this run made the run a consumer too: its lineage (the endpoint
  # comet_ml's get_artifact_lineage() reads) now shows the version it made and read.
  lineage <- function(filter) {
    got <- call_api("/get/artifacts", params = list(experimentKey = key, filter = filter))
    vapply(got$artifacts, function(x) paste(x$artifactName, x$direction), "")
  }
  expect_identical(lineage("all"), c("pyart output", "pyart input"))
  expect_identical(lineage("input"), "pyart input")

  # comet_ml sent the artifact's remote file in a batch (the server's version opens it).
  expect_true(any(grepl("^200 POST /clientlib/rest/v2/write/artifact/assets/remote/batch",
                        srv$answers())))
  expect_identical(failed_answers(srv), character(), label = "answers other than 2xx")
})

test_that("a CLOSED artifact version takes no more files, as Comet refuses them", {
  srv <- local_test_server()
  withr::local_envvar(COMET_URL_OVERRIDE = srv$url, COMET_API_KEY = "r-key")
  exp <- suppressMessages(create_experiment(project_name = "closing", log_output = FALSE,
                                            log_code = FALSE, log_system_details = FALSE))
  withr::defer(suppressMessages(exp$stop()))
  a <- create_artifact("closed-art", "dataset")
  a$add_remote("s3://bucket/first.csv")
  logged <- suppressMessages(exp$log_artifact(a))
  late <- create_artifact("closed-art", "dataset")
  late$add_remote("s3://bucket/late.csv")
  err <- expect_error(
    cometr:::upload_artifact_asset(late$get_assets()[[1]], exp$get_key(),
                                   logged$get_artifact_version_id(), "r-key"),
    class = "cometr_http_400"
  )
  expect_match(conditionMessage(err), "local/closed-art:1.0.0 is CLOSED", fixed = TRUE)
  # The version keeps the files it was closed with.
  expect_identical(vapply(logged$get_remote_assets(), function(x) x$get_link(), ""),
                   "s3://bucket/first.csv")
  expect_true(any(grepl("^400 POST /api/rest/v2/write/experiment/upload-asset", srv$answers())))
})
