test_that("an Artifact keeps what it was given", {
  a <- Artifact$new("ds", "dataset", artifact_version = "1.2.0-beta",
                    aliases = c("train", "train", "best"), metadata = list(rows = 3),
                    version_tags = list("t1", "t2", "t1"))
  expect_identical(a$get_artifact_name(), "ds")
  expect_identical(a$get_artifact_type(), "dataset")
  expect_identical(a$get_artifact_version(), "1.2.0-beta")
  expect_identical(a$get_aliases(), list("train", "best"))
  expect_identical(a$get_version_tags(), list("t1", "t2"))
  expect_identical(a$get_metadata(), list(rows = 3))
  expect_identical(a$get_assets(), list())

  b <- create_artifact("m", "model")
  expect_s3_class(b, "Artifact")
  expect_null(b$get_artifact_version())
  expect_null(b$get_aliases())
  expect_identical(create_artifact("m", "model", artifact_version = "2.1")$get_artifact_version(),
                   "2.1")
  expect_identical(create_artifact("m", "model",
                                   artifact_version = numeric_version("3.0.1"))$get_artifact_version(),
                   "3.0.1")
})

test_that("bad arguments are classed input errors", {
  expect_error(Artifact$new(NULL, "t"), "Artifact name is mandatory", class = "cometr_input_error")
  expect_error(Artifact$new("n", 3), "Artifact type is mandatory", class = "cometr_input_error")
  expect_error(Artifact$new("n", "t", artifact_version = "1.0.0.0.1"), class = "cometr_input_error")
  expect_error(Artifact$new("n", "t", artifact_version = "latest"), class = "cometr_input_error")
  expect_error(Artifact$new("n", "t", aliases = list(1, "a")), class = "cometr_input_error")
  expect_error(Artifact$new("n", "t", version_tags = NA_character_), class = "cometr_input_error")
  expect_error(Artifact$new("n", "t", metadata = 34), "expecting list", class = "cometr_input_error")
  a <- Artifact$new("n", "t")
  expect_error(a$add(NULL), "local_path can not be NULL", class = "cometr_input_error")
  expect_error(a$add(file.path(tempdir(), "no-such-file")), "doesn't exists",
               class = "cometr_input_error")
  expect_error(a$add_remote(NA), "uri can not be NULL", class = "cometr_input_error")
  expect_error(a$add_asset(list()), class = "cometr_input_error")
  f <- withr::local_tempfile(lines = "x")
  for (bad in c("../up.txt", "/abs.txt", "C:/x.txt", "a\\b.txt", "a//b.txt", "a/./b")) {
    expect_error(a$add(f, logical_path = bad), "Unsafe logical path", class = "cometr_input_error")
  }
  expect_identical(a$get_assets(), list())
})

test_that("files, folders and remote links become assets", {
  dir <- withr::local_tempdir()
  dir.create(file.path(dir, "data", "nested", "deeper"), recursive = TRUE)
  writeLines("top", file.path(dir, "data", "top.txt"))
  writeBin(as.raw(1:100), file.path(dir, "data", "nested", "n.bin"))
  writeLines("deep", file.path(dir, "data", "nested", "deeper", "d.txt"))
  single <- file.path(dir, "single.csv")
  writeLines("a,b", single)

  a <- Artifact$new("n", "t")
  expect_identical(a$add(single, metadata = list(k = "v")), a)
  a$add(file.path(dir, "data"))
  a$add(file.path(dir, "data"), logical_path = "copy")
  a$add_remote("s3://bucket/path/dataset.dat/")
  a$add_remote("https://example.com/x", logical_path = "named", overwrite = TRUE)
  paths <- vapply(a$get_assets(), function(x) x$get_logical_path(), character(1))
  expect_identical(paths, c("single.csv", "data/nested/deeper/d.txt", "data/nested/n.bin",
                            "data/top.txt", "copy/nested/deeper/d.txt", "copy/nested/n.bin",
                            "copy/top.txt", "dataset.dat", "named"))
  s <- a$get_assets()[[1]]
  expect_s3_class(s, "ArtifactAsset")
  expect_false(s$is_remote())
  expect_false(s$has_overwrite())
  expect_identical(s$get_size(), as.numeric(file.size(single)))
  expect_type(s$get_size(), "double")
  expect_identical(s$get_local_path(), single)
  expect_identical(s$get_metadata(), list(k = "v"))
  expect_identical(s$get_asset_type(), "asset")
  expect_null(s$get_link())
  expect_identical(a$get_assets()[[3]]$get_size(), 100)
  r <- a$get_assets()[[9]]
  expect_true(r$is_remote())
  expect_true(r$has_overwrite())
  expect_identical(r$get_link(), "https://example.com/x")
  expect_null(r$get_local_path())
  expect_identical(r$get_size(), 0)
})

test_that("a folder with a clashing logical path adds nothing", {
  dir <- withr::local_tempdir()
  dir.create(file.path(dir, "data"))
  writeLines("1", file.path(dir, "data", "a.txt"))
  writeLines("2", file.path(dir, "data", "b.txt"))
  a <- Artifact$new("n", "t")
  a$add(file.path(dir, "data", "b.txt"), logical_path = "data/b.txt")
  expect_error(a$add(file.path(dir, "data")), "data/b.txt", class = "cometr_input_error")
  # data/a.txt sorts before the clash, and was not added either.
  expect_identical(vapply(a$get_assets(), function(x) x$get_logical_path(), ""), "data/b.txt")
  expect_error(a$add_remote("s3://b/data/b.txt", logical_path = "data/b.txt"),
               "an existing asset already exists", class = "cometr_input_error")
  expect_error(a$add_asset(ArtifactAsset$new("data/b.txt")), class = "cometr_input_error")
  expect_length(a$get_assets(), 1)
})

test_that("ArtifactAsset stores its fields and defaults the type", {
  x <- ArtifactAsset$new("big.bin", size = 3 * 2^31, local_path = "big.bin")
  expect_identical(x$get_size(), 3 * 2^31)
  expect_identical(x$get_asset_type(), "asset")
  expect_false(x$is_remote())
  y <- ArtifactAsset$new("l", remote = TRUE, link = "s3://b/l", asset_type = "model-element")
  expect_identical(y$get_asset_type(), "model-element")
  expect_identical(y$get_link(), "s3://b/l")
})

test_that("helpers: remote names, full names, sizes, strategies, hashes", {
  expect_identical(cometr:::remote_name("s3://bucket/dataset.dat"), "dataset.dat")
  expect_identical(cometr:::remote_name("https://comet.com/dataset"), "dataset")
  expect_identical(cometr:::remote_name("file.dat"), "file.dat")
  expect_identical(cometr:::remote_name("s3://"), "remote")
  expect_identical(cometr:::remote_name(NULL), "remote")
  expect_identical(cometr:::artifact_full_name("ws", "n", "1.0.0"), "ws/n:1.0.0")
  expect_identical(cometr:::artifact_full_name(NULL, "n"), "n")
  expect_identical(cometr:::human_size(255), "255B")
  expect_identical(cometr:::human_size(1024), "1024B")
  expect_identical(cometr:::human_size(19.24 * 1024), "19.24KB")
  expect_identical(cometr:::overwrite_strategy_value(TRUE), "OVERWRITE")
  expect_identical(cometr:::overwrite_strategy_value(FALSE), "FAIL")
  expect_identical(cometr:::overwrite_strategy_value("preserve"), "PRESERVE")
  expect_error(cometr:::overwrite_strategy_value("maybe"), "Unsupported overwrite_strategy",
               class = "cometr_input_error")
  expect_error(cometr:::overwrite_strategy_value(NULL), class = "cometr_input_error")
  expect_identical(cometr:::parse_artifact_name("ws/name:alias"),
                   list(workspace = "ws", name = "name", version_or_alias = "alias"))
  expect_identical(cometr:::parse_artifact_name("name"),
                   list(workspace = NULL, name = "name", version_or_alias = NULL))
  f <- withr::local_tempfile()
  writeBin(charToRaw("abc"), f)
  expect_identical(cometr:::sha1_file(f), "a9993e364706816aba3e25717850c26c9cd0d89d")
  expect_identical(cometr:::sha256_file(f),
                   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  expect_error(cometr:::sha1_file(file.path(tempdir(), "none")), class = "cometr_input_error")
})

test_that("an artifact prints its name, type, version, labels and assets", {
  f <- withr::local_tempfile()
  writeBin(as.raw(1:200), f)
  a <- create_artifact("images", "dataset", artifact_version = "1.2.0",
                       aliases = c("best", "train"), version_tags = "reviewed")
  expect_snapshot(print(a))
  a$add(f, logical_path = "raw/bytes.bin")
  a$add_remote("s3://bucket/images/all.tar", logical_path = "all.tar")
  expect_snapshot(print(a))
  expect_snapshot(print(create_artifact("model", "model")))
})
