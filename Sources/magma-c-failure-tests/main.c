// magma_poll when work fails: every wait on a failed connection's objects returns the
// connection's error at once, the same way every time (docs/c-api.md, "Failures reach whoever
// waits").
//
//   magma-c-failure-tests DEVICE
//
// DEVICE is MAGMA_DEVICE_PATH_EMBEDDED or a magmad device endpoint. Prints every failed check
// and a summary; exits 0 only if every check passed. An alarm ends a run that hangs. Run by
// Tests/MagmaTests/CFailureTests.swift.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "c_test_checks.h"
#include "magma.h"

enum { PAGE = 4096, REPETITIONS = 5 };
// Far longer than any failure takes to arrive: reaching it is the bug these tests catch.
static const uint64_t long_timeout_ns = 20000000000ull;
static const char *device_path;

// What makes the submission fail.
typedef enum { UNMAPPED_READ, ILLEGAL_COMMAND, DESTROYED_CONTEXT, API_MISUSE } failure_t;

// A connection with one context, a semaphore the failing work would signal, and the failing
// work submitted.
typedef struct {
    magma_device_t device;
    magma_connection_t connection;
    uint32_t context;
    magma_semaphore_t done;
} failed_t;

static void put32(uint8_t *bytes, size_t *size, uint32_t value) {
    memcpy(bytes + *size, &value, 4);
    *size += 4;
}

static void put64(uint8_t *bytes, size_t *size, uint64_t value) {
    memcpy(bytes + *size, &value, 8);
    *size += 8;
}

// Submits |commands| (SoftGPU command bytes) on |context|, waiting on |wait| if non-zero and
// signaling |signal|.
static void submit(magma_connection_t connection, uint32_t context, const uint8_t *commands, size_t size,
                   magma_semaphore_id_t wait, magma_semaphore_id_t signal) {
    magma_buffer_t buffer;
    magma_buffer_id_t buffer_id;
    uint64_t actual;
    CHECK_STATUS(magma_connection_create_buffer(connection, PAGE, &actual, &buffer, &buffer_id), MAGMA_STATUS_OK);
    magma_handle_t handle;
    CHECK_STATUS(magma_buffer_get_handle(buffer, &handle), MAGMA_STATUS_OK);
    void *cpu = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, (int)handle, 0);
    close((int)handle);
    if (cpu != MAP_FAILED) {
        memcpy(cpu, commands, size);
        munmap(cpu, PAGE);
    }
    magma_exec_resource_t resource = {.buffer_id = buffer_id, .offset = 0, .length = size};
    magma_exec_command_buffer_t command_buffer = {.resource_index = 0, .start_offset = 0};
    uint64_t semaphores[] = {wait, signal};
    magma_command_descriptor_t descriptor = {
        .resource_count = 1, .command_buffer_count = 1, .wait_semaphore_count = wait ? 1 : 0, .signal_semaphore_count = 1,
        .resources = &resource, .command_buffers = &command_buffer, .semaphore_ids = wait ? semaphores : semaphores + 1};
    CHECK_STATUS(magma_connection_execute_command(connection, context, &descriptor), MAGMA_STATUS_OK);
}

static failed_t submit_failing(failure_t failure) {
    failed_t f = {0};
    CHECK_STATUS(magma_device_open(device_path, &f.device), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_device_create_connection(f.device, &f.connection), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_create_context2(f.connection, MAGMA_PRIORITY_MEDIUM, &f.context), MAGMA_STATUS_OK);
    magma_semaphore_id_t done_id;
    CHECK_STATUS(magma_connection_create_semaphore(f.connection, &f.done, &done_id), MAGMA_STATUS_OK);
    uint8_t commands[64];
    size_t size = 0;
    switch (failure) {
    case UNMAPPED_READ:  // copy 4 bytes from an address nothing is mapped at
        put32(commands, &size, 2), put32(commands, &size, 32);
        put64(commands, &size, 0x70000000), put64(commands, &size, 0x71000000), put64(commands, &size, 4);
        break;
    case ILLEGAL_COMMAND:
        put32(commands, &size, 0xFF), put32(commands, &size, 8);
        break;
    case DESTROYED_CONTEXT:
    case API_MISUSE:
        break;
    }
    put32(commands, &size, 0), put32(commands, &size, 8);  // end
    if (failure == DESTROYED_CONTEXT) {
        magma_semaphore_t gate;
        magma_semaphore_id_t gate_id;
        uint32_t doomed;
        CHECK_STATUS(magma_connection_create_semaphore(f.connection, &gate, &gate_id), MAGMA_STATUS_OK);
        CHECK_STATUS(magma_connection_create_context2(f.connection, MAGMA_PRIORITY_MEDIUM, &doomed), MAGMA_STATUS_OK);
        submit(f.connection, doomed, commands, size, gate_id, done_id);
        magma_connection_release_context(f.connection, doomed);
    } else if (failure == API_MISUSE) {
        magma_connection_release_buffer(f.connection, 0xBAD);  // closes the connection with INVALID_ARGS
    } else {
        submit(f.connection, f.context, commands, size, 0, done_id);
    }
    return f;
}

static void release(failed_t f) {
    magma_connection_release(f.connection);
    magma_device_release(f.device);
}

// A wait on the semaphore of failed work returns the connection's status, every time.
static void test_semaphore_wait(failure_t failure, magma_status_t expected) {
    for (int run = 0; run < REPETITIONS; run++) {
        failed_t f = submit_failing(failure);
        magma_poll_item_t item = {.semaphore = f.done, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_SIGNALED};
        CHECK_STATUS(magma_poll(&item, 1, long_timeout_ns), expected);
        CHECK_STATUS(item.result, 0);  // failed work never signals
        release(f);
    }
}

// With the notification channel among the items, it is CONNECTION_LOST, every time.
static void test_with_notification_channel(failure_t failure) {
    for (int run = 0; run < REPETITIONS; run++) {
        failed_t f = submit_failing(failure);
        magma_poll_item_t items[] = {
            {.semaphore = f.done, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_SIGNALED},
            {.handle = magma_connection_get_notification_channel_handle(f.connection), .type = MAGMA_POLL_TYPE_HANDLE,
             .condition = MAGMA_POLL_CONDITION_READABLE},
        };
        CHECK_STATUS(magma_poll(items, 2, long_timeout_ns), MAGMA_STATUS_CONNECTION_LOST);
        release(f);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
        return 2;
    }
    device_path = argv[1];
    alarm(120);
    test_semaphore_wait(UNMAPPED_READ, MAGMA_STATUS_CONTEXT_KILLED);
    test_semaphore_wait(ILLEGAL_COMMAND, MAGMA_STATUS_CONTEXT_KILLED);
    test_semaphore_wait(DESTROYED_CONTEXT, MAGMA_STATUS_CONTEXT_KILLED);
    test_semaphore_wait(API_MISUSE, MAGMA_STATUS_INVALID_ARGS);
    test_with_notification_channel(UNMAPPED_READ);
    test_with_notification_channel(ILLEGAL_COMMAND);
    printf("magma-c-failure-tests on %s: %d checks, %d failures\n", device_path, check_count(), check_failures());
    return check_failures() == 0 ? 0 : 1;
}
