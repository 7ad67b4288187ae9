# The argument checks: what passes, what each refusal says, and that it names the
# argument.

refusal <- function(expr) {
  tryCatch({
    expr
    "passes"
  }, cometr_input_error = function(e) {
    stopifnot(!is.null(e$argument) || grepl("`", conditionMessage(e)))
    conditionMessage(e)
  })
}

test_that("scalar checks word their refusals as before", {
  latin1 <- rawToChar(as.raw(c(0x63, 0x61, 0x66, 0xe9, 0xff)))
  expect_snapshot({
    refusal(cometr:::check_flag(NA, "keep_active"))
    refusal(cometr:::check_flag(TRUE, "keep_active"))
    refusal(cometr:::check_string(1, "name"))
    refusal(cometr:::check_string(NULL, "name", null_ok = FALSE))
    refusal(cometr:::check_string(latin1, "name"))
    refusal(cometr:::check_string(strrep("x", 10001), "name"))
    refusal(cometr:::check_string(strrep("x", 10001), "html", max_chars = Inf))
    refusal(cometr:::check_strings(list("a", 1), "tags"))
    refusal(cometr:::check_count(1.5e300, "step"))
    refusal(cometr:::check_count(3, "step"))
    refusal(cometr:::check_value(list(1), "value"))
    refusal(cometr:::check_scalar(c(1, 2), "value"))
    refusal(cometr:::check_records(list(1), "gpu_static_info"))
    refusal(cometr:::check_number(8080.5, "port", "must be a whole number", 0, 65535, whole = TRUE))
    refusal(cometr:::check_number(Inf, "timeout", "must be a non-negative number", min = 0))
    refusal(cometr:::check_size(-1))
    refusal(cometr:::check_size(NULL))
  })
})

test_that("one metadata check serves assets, artifacts and versions", {
  expect_null(cometr:::check_metadata(NULL))
  expect_identical(cometr:::check_metadata(list(a = 1)), list(a = 1))
  expect_identical(cometr:::check_metadata(list()), list())
  expect_identical(cometr:::check_metadata('{"a": 1}', json_ok = TRUE), '{"a": 1}')
  expect_snapshot({
    refusal(cometr:::check_metadata(34))
    refusal(cometr:::check_metadata(list(1, 2)))
    refusal(cometr:::check_metadata('{"a": 1}'))
    refusal(cometr:::check_metadata("not json", json_ok = TRUE))
  })
})

test_that("artifact checks: versions, labels, logical paths", {
  expect_identical(cometr:::check_version(1.5), "1.5")
  expect_identical(cometr:::check_version(numeric_version("2.0.1")), "2.0.1")
  expect_identical(cometr:::check_labels(c("a", "a", "b"), "aliases"), list("a", "b"))
  expect_identical(cometr:::check_logical_path("a/b.txt"), "a/b.txt")
  expect_snapshot({
    refusal(cometr:::check_version("latest"))
    refusal(cometr:::check_labels(list(1, "a"), "aliases"))
    refusal(cometr:::check_logical_path("../up.txt"))
    refusal(cometr:::check_logical_path("/abs.txt"))
    refusal(cometr:::check_logical_path(NA))
  })
})
