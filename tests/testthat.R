library(testthat)
library(cometr)

test_check("cometr")
