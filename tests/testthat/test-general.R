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
