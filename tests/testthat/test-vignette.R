# The vignette is shipped built (inst/doc, made by tools/build-vignette.R), so a
# package installed from the sources as the README says has vignette("cometr").

test_that("the installed package has its vignette, built from the current source", {
  listed <- vignette(package = "cometr")$results
  expect_true("cometr" %in% listed[, "Item"])
  v <- vignette("cometr", package = "cometr")
  expect_true(file.exists(file.path(v$Dir, "doc", v$PDF)))
  expect_match(v$PDF, "[.]html$")
  # Built from the vignette's current text: after an edit of vignettes/cometr.Rmd,
  # tools/build-vignette.R makes inst/doc again.
  shipped <- readLines(file.path(v$Dir, "doc", "cometr.Rmd"), warn = FALSE)
  source <- file.path(fixture_dir, "..", "..", "..", "vignettes", "cometr.Rmd")
  if (file.exists(source)) expect_identical(shipped, readLines(source, warn = FALSE))
})
