# Contract tests: each general function against the local server returns the shape
# recorded from Comet's service for the same request.

make_experiment <- function(name = "exp1") {
  call_api("/write/experiment/create", "POST",
           list(projectName = "proj", workspaceName = "local", experimentName = name))
}

test_that("get_api_version() is v2", {
  expect_identical(get_api_version(), "v2")
})

test_that("get_workspaces() has Comet's shape", {
  local_test_server()
  res <- get_workspaces()
  expect_same_shape(res, read_recorded("workspaces.json"))
  expect_true("local" %in% unlist(res$workspaceNames))
})

test_that("get_projects() has Comet's shape and lists created projects", {
  local_test_server()
  create_project("proj", "a description", public = TRUE)
  res <- get_projects()
  expect_same_shape(res, read_recorded("projects-dafb61.json"))
  p <- res$projects[[1]]
  expect_identical(p$projectName, "proj")
  expect_identical(p$projectDescription, "a description")
  expect_true(p$public)
  expect_identical(p$numberOfExperiments, 0L)
})

test_that("get_experiments() has Comet's shape, by name and by id", {
  local_test_server()
  created <- make_experiment("exp1")
  res <- get_experiments(project_name = "proj")
  expect_same_shape(res, read_recorded("experiments-1280bb.json"))
  e <- res$experiments[[1]]
  expect_identical(e$experimentKey, created$experimentKey)
  expect_identical(e$experimentName, "exp1")
  expect_false(e$archived)
  by_id <- get_experiments(project_id = e$projectId, project_name = "ignored")
  expect_identical(by_id, res)
  expect_length(get_experiments(project_name = "proj", archived = TRUE)$experiments, 0)
})

test_that("get_columns() has Comet's shape, by name and by id", {
  local_test_server()
  make_experiment()
  res <- get_columns(project_name = "proj")
  recorded <- read_recorded("project/column-names-1280bb.json")
  expect_same_shape(res, recorded)
  names_got <- vapply(res$columns, function(c) c$name, "")
  names_rec <- vapply(recorded$columns, function(c) c$name, "")
  expect_true(all(names_rec %in% names_got))
  pid <- get_experiments(project_name = "proj")$experiments[[1]]$projectId
  expect_identical(get_columns(project_id = pid), res)
  expect_same_shape(get_columns(project_id = pid),
                    read_recorded("project/column-names-4ec64e.json"))
})

test_that("get_multi_metric_chart() has Comet's shape", {
  local_test_server()
  created <- make_experiment()
  res <- get_multi_metric_chart(created$experimentKey)
  expect_same_shape(res, read_recorded("experiments/multi-metric-chart-df83ef-POST.json"))
  expect_true(res$empty)
  expect_length(res$experiments, 0)
})

test_that("create_project() and delete_project() round-trip", {
  local_test_server()
  create_project("p2", "desc")
  expect_true("p2" %in% vapply(get_projects()$projects, function(p) p$projectName, ""))
  expect_error(create_project("p2", "again"), class = "cometr_http_error")
  delete_project("p2")
  expect_false("p2" %in% vapply(get_projects()$projects, function(p) p$projectName, ""))
})

test_that("workspace, project and key come from the configuration when not given", {
  local_test_server()
  Sys.setenv(COMET_WORKSPACE = "ws2")
  create_project("pp", "d")
  expect_true("ws2" %in% unlist(get_workspaces()$workspaceNames))
  expect_identical(get_projects()$projects[[1]]$workspaceName, "ws2")
  expect_identical(get_projects(workspace_name = "local")$projects, list())
})

test_that("call_api() reaches any endpoint and parses by request", {
  srv <- local_test_server()
  expect_identical(call_api("/workspaces"), get_workspaces())
  raw <- call_api("/workspaces", parse_response = FALSE)
  expect_s3_class(raw, "cometr_response")
  expect_identical(raw$status_code, 200L)
  expect_type(raw$content, "raw")
  expect_false(any(grepl("local-api-key", capture.output(print(raw)))))
  expect_identical(call_api("/workspaces", response_json = FALSE), get_workspaces())
  expect_error(call_api("/workspaces", method = "PUT"), "should be one of")
  expect_error(call_api("workspaces"), class = "cometr_input_error")
})

test_that("call_api(local_file_path = ) streams the answer to disk, never into memory", {
  srv <- local_test_server()
  exp <- new_test_experiment()
  dir <- withr::local_tempdir()
  # 120 MiB of varied bytes, written a MiB at a time so this process holds little of it.
  big <- file.path(dir, "big.bin")
  con <- file(big, "wb")
  set.seed(11)
  chunk <- as.raw(sample(0:255, 2^20, replace = TRUE))
  for (i in seq_len(120)) writeBin(xor(chunk, as.raw(i)), con)
  close(con)
  exp$upload_asset(big)
  id <- exp$get_asset_list()$assets[[1]]$assetId
  out <- file.path(dir, "out", "copy.bin")
  dir.create(dirname(out))

  # In a fresh process, so its peak resident memory measures the download alone.
  res <- run_rscript(c(
    "library(cometr)",
    "hwm <- function() as.numeric(sub('[^0-9]*([0-9]+).*', '\\\\1', grep('^VmHWM', readLines('/proc/self/status'), value = TRUE))) / 1024",
    "invisible(call_api('/workspaces'))",
    "before <- hwm(); invisible(gc(reset = TRUE))",
    sprintf("r <- withVisible(call_api('/experiment/asset/get-asset', params = list(experimentKey = '%s', assetId = '%s'), local_file_path = '%s'))",
            exp$get_key(), id, out),
    "g <- gc()",
    "cat('visible', r$visible, '\\n')",
    "cat('content', r$value$content, '\\n')",
    "cat('grown_mb', hwm() - before, '\\n')",
    "cat('r_max_mb', sum(g[, ncol(g)]), '\\n')"
  ))
  expect_identical(res$status, 0L, info = paste(res$stderr, collapse = "\n"))
  field <- function(name) sub(paste0("^", name, " +"), "", grep(paste0("^", name, " "), res$stdout, value = TRUE))
  # Returned visibly, as 0.4.0 returned its response; the content names the file.
  expect_identical(trimws(field("visible")), "TRUE")
  expect_identical(normalizePath(trimws(field("content"))), normalizePath(out))
  # Neither the process nor R's heap held the 120 MiB body.
  expect_lt(as.numeric(field("grown_mb")), 40)
  expect_lt(as.numeric(field("r_max_mb")), 60)
  expect_identical(unname(tools::md5sum(out)), unname(tools::md5sum(big)))
  # Only the file: the temporary part it was written to is gone.
  expect_identical(list.files(dirname(out), all.files = TRUE, no.. = TRUE), "copy.bin")

  # An error answer writes nothing; an existing file or a missing folder is refused.
  bad <- file.path(dir, "bad.bin")
  expect_error(call_api("/experiment/asset/get-asset",
                        params = list(experimentKey = exp$get_key(), assetId = "nope"),
                        local_file_path = bad), class = "cometr_http_error")
  expect_false(file.exists(bad))
  expect_error(call_api("/experiment/asset/get-asset",
                        params = list(experimentKey = exp$get_key(), assetId = id),
                        local_file_path = out), "Path exists", class = "cometr_input_error")
  expect_error(call_api("/experiment/asset/get-asset",
                        params = list(experimentKey = exp$get_key(), assetId = id),
                        local_file_path = file.path(dir, "no", "such", "f")),
               "Cannot write to", class = "cometr_input_error")
  expect_identical(list.files(dir, all.files = TRUE, no.. = TRUE), c("big.bin", "out"))
  # Transient failures are retried, as for every other call.
  srv$inject_fault("experiment/asset/get-asset", 503L, times = 1L)
  again <- file.path(dir, "again.bin")
  r <- call_api("/experiment/asset/get-asset",
                params = list(experimentKey = exp$get_key(), assetId = id), local_file_path = again)
  expect_identical(unname(tools::md5sum(again)), unname(tools::md5sum(big)))
  expect_output(print(r), "Saved to: .*again.bin")
})
