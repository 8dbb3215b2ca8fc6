#include "c_test_checks.h"

#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t tally = PTHREAD_MUTEX_INITIALIZER;
static int checks;
static int failures;

void check_condition(int passed, const char *file, int line, const char *condition) {
    pthread_mutex_lock(&tally);
    checks++;
    if (!passed) {
        failures++;
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, condition);
    }
    pthread_mutex_unlock(&tally);
}

void check_status(int32_t status, int32_t expected, const char *file, int line, const char *expression, const char *expected_name) {
    pthread_mutex_lock(&tally);
    checks++;
    if (status != expected) {
        failures++;
        fprintf(stderr, "%s:%d: %s returned %d, expected %s (%d)\n", file, line, expression, status, expected_name, expected);
    }
    pthread_mutex_unlock(&tally);
}

int check_count(void) {
    pthread_mutex_lock(&tally);
    int count = checks;
    pthread_mutex_unlock(&tally);
    return count;
}

int check_failures(void) {
    pthread_mutex_lock(&tally);
    int count = failures;
    pthread_mutex_unlock(&tally);
    return count;
}
