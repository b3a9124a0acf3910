# Run in place of a test whose tool was not found at configure time: fail with the reason.
message(FATAL_ERROR "${WHAT} is not installed (Debian package ${PACKAGE}); scripts/test.sh installs it - this test does not skip")
