// Checks for the C test programs: a failed check prints where it is and what failed, and the
// tally (safe to use from several threads) gives the summary and the exit status.
#ifndef C_TEST_CHECKS_H_
#define C_TEST_CHECKS_H_

#include <stdint.h>

// Counts a check of `condition` (its text at file:line); prints it if it failed.
void check_condition(int passed, const char *file, int line, const char *condition);

// Counts a check that `expression` returned `expected` (a status of either C API: both are
// int32_t); prints what it returned if not.
void check_status(int32_t status, int32_t expected, const char *file, int line, const char *expression, const char *expected_name);

// Checks made so far.
int check_count(void);

// Checks failed so far.
int check_failures(void);

#define CHECK(condition) check_condition((condition) ? 1 : 0, __FILE__, __LINE__, #condition)
#define CHECK_STATUS(expression, expected) check_status((expression), (expected), __FILE__, __LINE__, #expression, #expected)

#endif  // C_TEST_CHECKS_H_
