# The vignettes are shipped built (inst/doc, made by tools/build-vignette.R), so a
# package installed from the sources as the README says has vignette("cometr").

test_that("the installed package has its vignettes, built from their current source", {
  listed <- vignette(package = "cometr")$results
  expect_true("cometr" %in% listed[, "Item"])
  v <- vignette("cometr", package = "cometr")
  expect_true(file.exists(file.path(v$Dir, "doc", v$PDF)))
  expect_match(v$PDF, "[.]html$")
  # Every vignette of the sources, built from its current text: after an edit in
  # vignettes/, tools/build-vignette.R makes inst/doc again.
  sources <- file.path(fixture_dir, "..", "..", "..", "vignettes")
  for (rmd in list.files(sources, pattern = "[.]Rmd$")) {
    item <- sub("[.]Rmd$", "", rmd)
    expect_true(item %in% listed[, "Item"], label = paste(item, "is listed"))
    shipped <- file.path(v$Dir, "doc", rmd)
    expect_true(file.exists(shipped), label = paste(rmd, "is shipped"))
    if (file.exists(shipped)) {
      expect_identical(readLines(shipped, warn = FALSE),
                       readLines(file.path(sources, rmd), warn = FALSE), label = rmd)
    }
  }
})
