// The C API tested from C, as a client driver uses it: the intent of Fuchsia's test_magma.cc,
// plus every status path for bad handles, NULL pointers and bad sizes.
//
//   magma-c-tests DEVICE [PERFORMANCE_COUNTER_ENDPOINT]
//
// DEVICE is MAGMA_DEVICE_PATH_EMBEDDED or a magmad device endpoint. Prints every failed check
// and a summary; exits 0 only if every check passed. Run by Tests/MagmaTests/CABITests.swift.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "c_test_checks.h"
#include "magma.h"

static const char *device_path;
static const char *counter_path;

enum { PAGE = 4096, NOTIFICATION_SIZE = 32 };

// ---- SoftGPU commands (docs/softgpu.md): {u32 opcode, u32 size} then the fields ----

typedef struct {
    uint8_t bytes[512];
    size_t size;
} commands_t;

static void put32(commands_t *c, uint32_t value) {
    memcpy(c->bytes + c->size, &value, 4);
    c->size += 4;
}

static void put64(commands_t *c, uint64_t value) {
    memcpy(c->bytes + c->size, &value, 8);
    c->size += 8;
}

static void fill(commands_t *c, uint64_t address, uint64_t size, uint32_t pattern) {
    put32(c, 1), put32(c, 32), put64(c, address), put64(c, size), put32(c, pattern), put32(c, 0);
}

static void copy(commands_t *c, uint64_t source, uint64_t destination, uint64_t size) {
    put32(c, 2), put32(c, 32), put64(c, source), put64(c, destination), put64(c, size);
}

static void end(commands_t *c) { put32(c, 0), put32(c, 8); }

// ---- helpers ----

static magma_device_t open_device(void) {
    magma_device_t device = 0;
    CHECK_STATUS(magma_device_open(device_path, &device), MAGMA_STATUS_OK);
    return device;
}

static magma_connection_t open_connection(magma_device_t device) {
    magma_connection_t connection = 0;
    CHECK_STATUS(magma_device_create_connection(device, &connection), MAGMA_STATUS_OK);
    return connection;
}

static void *map_cpu(magma_buffer_t buffer, uint64_t size) {
    magma_handle_t handle;
    if (magma_buffer_get_handle(buffer, &handle) != MAGMA_STATUS_OK) return NULL;
    void *address = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)handle, 0);
    close((int)handle);  // the mapping stays valid
    return address == MAP_FAILED ? NULL : address;
}

static magma_buffer_t new_buffer(magma_connection_t connection, uint64_t size, magma_buffer_id_t *id, void **cpu) {
    magma_buffer_t buffer = 0;
    uint64_t actual = 0;
    CHECK_STATUS(magma_connection_create_buffer(connection, size, &actual, &buffer, id), MAGMA_STATUS_OK);
    if (cpu) *cpu = map_cpu(buffer, actual);
    return buffer;
}

static int descriptor_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

static int connect_socket(const char *path) {
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, path, sizeof(address.sun_path) - 1);
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// Waits on one semaphore.
static magma_status_t wait_semaphore(magma_semaphore_t semaphore, uint64_t timeout_ns) {
    magma_poll_item_t item = {.semaphore = semaphore, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_SIGNALED};
    return magma_poll(&item, 1, timeout_ns);
}

// ---- tests ----

static void test_device_queries(void) {
    magma_device_t device = open_device();
    uint64_t value = 0;
    magma_handle_t buffer = 0;
    CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_VENDOR_ID, &buffer, &value), MAGMA_STATUS_OK);
    CHECK(value == 0x10F00);
    CHECK(buffer == (magma_handle_t)-1);
    CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_IS_TOTAL_TIME_SUPPORTED, NULL, &value), MAGMA_STATUS_OK);
    CHECK(value == 1);
    CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_MAXIMUM_INFLIGHT_PARAMS, NULL, &value), MAGMA_STATUS_OK);
    CHECK((value >> 32) > 0 && (value & 0xFFFFFFFF) > 0);

    CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_TOTAL_TIME, &buffer, NULL), MAGMA_STATUS_OK);
    magma_total_time_query_result_t *time = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, (int)buffer, 0);
    CHECK(time != MAP_FAILED);
    if (time != MAP_FAILED) {
        CHECK(time->monotonic_time_ns > 0);
        munmap(time, PAGE);
    }
    close((int)buffer);

    CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_VENDOR_ID, NULL, NULL), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_TOTAL_TIME, NULL, &value), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_VENDOR_ID, &buffer, NULL), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_query(device, 777, NULL, &value), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_query(0, MAGMA_QUERY_VENDOR_ID, NULL, &value), MAGMA_STATUS_INVALID_ARGS);
    magma_device_release(device);
    CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_VENDOR_ID, NULL, &value), MAGMA_STATUS_INVALID_ARGS);
    magma_device_release(device);  // twice: ignored
}

static void test_device_import_and_enumerate(void) {
    magma_device_t device = 0;
    CHECK_STATUS(magma_device_import((magma_handle_t)-1, &device), MAGMA_STATUS_INVALID_ARGS);
    int ends[2];
    CHECK(pipe(ends) == 0);
    CHECK_STATUS(magma_device_import((magma_handle_t)ends[0], &device), MAGMA_STATUS_INVALID_ARGS);
    CHECK(!descriptor_is_open(ends[0]));  // ownership taken on failure too
    close(ends[1]);
    CHECK_STATUS(magma_device_open(NULL, &device), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_open(device_path, NULL), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_open("/nonexistent/gpu/000", &device), MAGMA_STATUS_CONNECTION_LOST);

    if (strcmp(device_path, MAGMA_DEVICE_PATH_EMBEDDED) != 0) {
        int fd = connect_socket(device_path);
        CHECK(fd >= 0);
        CHECK_STATUS(magma_device_import((magma_handle_t)fd, &device), MAGMA_STATUS_OK);
        uint64_t value = 0;
        CHECK_STATUS(magma_device_query(device, MAGMA_QUERY_DEVICE_ID, NULL, &value), MAGMA_STATUS_OK);
        magma_device_release(device);
    }

    enum { SLOTS = 8, SLOT_SIZE = 256 };
    char paths[SLOTS * SLOT_SIZE];
    uint32_t count = SLOTS;
    CHECK_STATUS(magma_enumerate_devices(MAGMA_DEVICE_NAMESPACE, 0, &count, SLOT_SIZE, paths), MAGMA_STATUS_OK);
    CHECK(count >= 1 && strcmp(paths + (count - 1) * SLOT_SIZE, MAGMA_DEVICE_PATH_EMBEDDED) == 0);
    uint32_t none = 0;
    CHECK_STATUS(magma_enumerate_devices("", 0, &none, SLOT_SIZE, paths), MAGMA_STATUS_MEMORY_ERROR);
    count = SLOTS;
    CHECK_STATUS(magma_enumerate_devices("", 0, &count, 4, paths), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_enumerate_devices("", 0, NULL, SLOT_SIZE, paths), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_enumerate_devices("", 0, &count, SLOT_SIZE, NULL), MAGMA_STATUS_INVALID_ARGS);
}

static void test_connection(void) {
    magma_device_t device = open_device();
    magma_connection_t connection = open_connection(device);
    CHECK_STATUS(magma_connection_get_error(connection), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    magma_handle_t channel = magma_connection_get_notification_channel_handle(connection);
    CHECK(channel != 0);
    CHECK(magma_connection_get_notification_channel_handle(connection) == channel);

    uint8_t notification[64];
    uint64_t size = 99;
    magma_bool_t more = 1;
    CHECK_STATUS(magma_connection_read_notification_channel(connection, notification, sizeof(notification), &size, &more), MAGMA_STATUS_OK);
    CHECK(size == 0 && more == 0);
    CHECK_STATUS(magma_connection_read_notification_channel(connection, notification, sizeof(notification), NULL, &more), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_read_notification_channel(connection, notification, sizeof(notification), &size, NULL), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_create_connection(device, NULL), MAGMA_STATUS_INVALID_ARGS);

    // Releasing the device leaves its connections open.
    magma_device_release(device);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    magma_connection_release(connection);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_INVALID_ARGS);
    CHECK(magma_connection_get_notification_channel_handle(connection) == 0);
    magma_connection_release(connection);  // twice: ignored
}

static void test_contexts(void) {
    magma_device_t device = open_device();
    magma_connection_t connection = open_connection(device);
    uint32_t first = 0, second = 0;
    CHECK_STATUS(magma_connection_create_context2(connection, MAGMA_PRIORITY_MEDIUM, &first), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_create_context2(connection, MAGMA_PRIORITY_LOW, &second), MAGMA_STATUS_OK);
    CHECK(first != second);
    CHECK_STATUS(magma_connection_create_context2(connection, MAGMA_PRIORITY_MEDIUM, NULL), MAGMA_STATUS_INVALID_ARGS);
    magma_connection_release_context(connection, first);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    // As on Fuchsia: releasing a context twice closes the connection with INVALID_ARGS.
    magma_connection_release_context(connection, first);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_get_error(connection), MAGMA_STATUS_INVALID_ARGS);
    magma_connection_release(connection);

    connection = open_connection(device);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    magma_connection_release(connection);
    magma_device_release(device);
}

static void test_buffers(void) {
    magma_device_t device = open_device();
    magma_connection_t connection = open_connection(device);
    uint64_t size = 0;
    magma_buffer_t buffer = 0, other = 0;
    magma_buffer_id_t id = 0, other_id = 0;
    CHECK_STATUS(magma_connection_create_buffer(connection, 5000, &size, &buffer, &id), MAGMA_STATUS_OK);
    CHECK(size >= 5000 && size % PAGE == 0);
    CHECK_STATUS(magma_connection_create_buffer(connection, PAGE, &size, &other, &other_id), MAGMA_STATUS_OK);
    CHECK(id != other_id && id != 0 && other_id != 0);
    CHECK_STATUS(magma_connection_create_buffer(connection, 0, &size, &buffer, &id), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_create_buffer(connection, UINT64_MAX, &size, &other, &other_id), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_create_buffer(connection, PAGE, NULL, &other, &other_id), MAGMA_STATUS_INVALID_ARGS);

    magma_buffer_info_t info;
    CHECK_STATUS(magma_buffer_get_info(buffer, &info), MAGMA_STATUS_OK);
    CHECK(info.size == 2 * PAGE);
    CHECK_STATUS(magma_buffer_get_info(buffer, NULL), MAGMA_STATUS_INVALID_ARGS);

    magma_cache_policy_t policy = 99;
    CHECK_STATUS(magma_buffer_get_cache_policy(buffer, &policy), MAGMA_STATUS_OK);
    CHECK(policy == MAGMA_CACHE_POLICY_CACHED);
    CHECK_STATUS(magma_buffer_set_cache_policy(buffer, MAGMA_CACHE_POLICY_WRITE_COMBINING), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_buffer_get_cache_policy(buffer, &policy), MAGMA_STATUS_OK);
    CHECK(policy == MAGMA_CACHE_POLICY_WRITE_COMBINING);
    CHECK_STATUS(magma_buffer_set_cache_policy(buffer, 7), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_buffer_clean_cache(buffer, 0, 2 * PAGE, MAGMA_CACHE_OPERATION_CLEAN), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_buffer_clean_cache(buffer, PAGE, 2 * PAGE, MAGMA_CACHE_OPERATION_CLEAN_INVALIDATE), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_buffer_clean_cache(buffer, UINT64_MAX, 2, MAGMA_CACHE_OPERATION_CLEAN), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_buffer_clean_cache(buffer, 0, PAGE, 5), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_buffer_set_name(buffer, "c-test-buffer"), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_buffer_set_name(buffer, NULL), MAGMA_STATUS_INVALID_ARGS);

    // CPU access through the handle; sharing through export and import.
    uint32_t *words = map_cpu(buffer, 2 * PAGE);
    CHECK(words != NULL);
    if (words) words[100] = 0xFEEDF00D;
    magma_handle_t exported;
    CHECK_STATUS(magma_buffer_export(buffer, &exported), MAGMA_STATUS_OK);
    magma_connection_t second = open_connection(device);
    magma_buffer_t imported = 0;
    magma_buffer_id_t imported_id = 0;
    CHECK_STATUS(magma_connection_import_buffer(second, exported, &size, &imported, &imported_id), MAGMA_STATUS_OK);
    CHECK(size == 2 * PAGE && imported_id != 0); /* an id of the importing connection's own */
    uint32_t *shared = map_cpu(imported, size);
    CHECK(shared != NULL && shared[100] == 0xFEEDF00D);

    int ends[2];
    CHECK(pipe(ends) == 0);
    CHECK_STATUS(magma_connection_import_buffer(second, (magma_handle_t)ends[0], &size, &imported, &imported_id), MAGMA_STATUS_INVALID_ARGS);
    CHECK(!descriptor_is_open(ends[0]));
    close(ends[1]);
    CHECK_STATUS(magma_connection_import_buffer(second, (magma_handle_t)-1, &size, &imported, &imported_id), MAGMA_STATUS_INVALID_ARGS);

    // Range operations, as Fuchsia's CommitBuffer test: whole pages only; a commit past the end
    // is MEMORY_ERROR, a decommit past it INVALID_ARGS; a decommit releases exactly its pages.
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_COMMIT, 0, 2 * PAGE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_buffer_get_info(buffer, &info), MAGMA_STATUS_OK);
    CHECK(info.committed_byte_count == 2 * PAGE);
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_COMMIT, 0, PAGE + 1), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_COMMIT, PAGE / 2, PAGE), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_COMMIT, PAGE, 2 * PAGE), MAGMA_STATUS_MEMORY_ERROR);
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_DECOMMIT, PAGE / 2, PAGE), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_DECOMMIT, 0, PAGE + 1), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_DECOMMIT, PAGE, 2 * PAGE), MAGMA_STATUS_INVALID_ARGS);
    CHECK(words == NULL || words[100] == 0xFEEDF00D);  // the rejected decommits changed nothing
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_DECOMMIT, PAGE, PAGE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_buffer_get_info(buffer, &info), MAGMA_STATUS_OK);
    CHECK(info.committed_byte_count == PAGE);
    CHECK(words == NULL || words[100] == 0xFEEDF00D);  // page 0 keeps its data
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, buffer, 99, 0, PAGE), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_perform_buffer_op(connection, imported, MAGMA_BUFFER_RANGE_OP_COMMIT, 0, PAGE), MAGMA_STATUS_INVALID_ARGS);

    // A connection's release invalidates its buffers.
    magma_connection_release(second);
    CHECK_STATUS(magma_buffer_get_info(imported, &info), MAGMA_STATUS_INVALID_ARGS);
    if (shared) munmap(shared, 2 * PAGE);
    if (words) munmap(words, 2 * PAGE);
    magma_connection_release_buffer(connection, buffer);
    CHECK_STATUS(magma_buffer_get_info(buffer, &info), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    magma_connection_release_buffer(connection, buffer);  // a released buffer: closes the connection
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_INVALID_ARGS);
    magma_connection_release(connection);
    magma_device_release(device);
}

// Fills a buffer, copies it to another, and checks the copy from the CPU; then reads the
// completion notification.
static void test_execute_command(void) {
    magma_device_t device = open_device();
    magma_connection_t connection = open_connection(device);
    uint32_t context;
    CHECK_STATUS(magma_connection_create_context2(connection, MAGMA_PRIORITY_MEDIUM, &context), MAGMA_STATUS_OK);
    magma_buffer_id_t source_id, target_id, commands_id;
    void *source_cpu, *target_cpu, *commands_cpu;
    magma_buffer_t source = new_buffer(connection, 4 * PAGE, &source_id, NULL);
    magma_buffer_t target = new_buffer(connection, 4 * PAGE, &target_id, NULL);
    const uint64_t source_va = 0x1000000, target_va = 0x2000000;
    CHECK_STATUS(magma_connection_map_buffer(connection, source_va, source, 0, 4 * PAGE, MAGMA_MAP_FLAG_READ | MAGMA_MAP_FLAG_WRITE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_map_buffer(connection, target_va, target, 0, 4 * PAGE, MAGMA_MAP_FLAG_READ | MAGMA_MAP_FLAG_WRITE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_map_buffer(connection, target_va, target, 0, PAGE, MAGMA_MAP_FLAG_READ), MAGMA_STATUS_OK);  // feed-forward
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_INVALID_ARGS);  // the overlap closed it
    magma_connection_release(connection);

    connection = open_connection(device);
    CHECK_STATUS(magma_connection_create_context2(connection, MAGMA_PRIORITY_MEDIUM, &context), MAGMA_STATUS_OK);
    source = new_buffer(connection, 4 * PAGE, &source_id, &source_cpu);
    target = new_buffer(connection, 4 * PAGE, &target_id, &target_cpu);
    new_buffer(connection, PAGE, &commands_id, &commands_cpu);
    CHECK_STATUS(magma_connection_map_buffer(connection, source_va, source, 0, 4 * PAGE, MAGMA_MAP_FLAG_READ | MAGMA_MAP_FLAG_WRITE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_map_buffer(connection, target_va, target, 0, 4 * PAGE, MAGMA_MAP_FLAG_READ | MAGMA_MAP_FLAG_WRITE), MAGMA_STATUS_OK);
    commands_t stream = {.size = 0};
    fill(&stream, source_va, 4 * PAGE, 0xC0FFEE01);
    copy(&stream, source_va, target_va, 4 * PAGE);
    end(&stream);
    if (commands_cpu) memcpy(commands_cpu, stream.bytes, stream.size);

    magma_semaphore_t done;
    magma_semaphore_id_t done_id;
    CHECK_STATUS(magma_connection_create_semaphore(connection, &done, &done_id), MAGMA_STATUS_OK);
    magma_exec_resource_t resources[] = {{.buffer_id = commands_id, .offset = 0, .length = stream.size}};
    magma_exec_command_buffer_t command_buffer = {.resource_index = 0, .start_offset = 0};
    uint64_t semaphore_ids[] = {done_id};
    magma_command_descriptor_t descriptor = {
        .resource_count = 1, .command_buffer_count = 1, .wait_semaphore_count = 0, .signal_semaphore_count = 1,
        .resources = resources, .command_buffers = &command_buffer, .semaphore_ids = semaphore_ids, .flags = 0};
    CHECK_STATUS(magma_connection_execute_command(connection, context, &descriptor), MAGMA_STATUS_OK);
    CHECK_STATUS(wait_semaphore(done, 10000000000ull), MAGMA_STATUS_OK);
    uint32_t *copied = target_cpu;
    CHECK(copied && copied[0] == 0xC0FFEE01 && copied[4 * PAGE / 4 - 1] == 0xC0FFEE01);

    // The completion notification is there once the semaphore has fired.
    magma_poll_item_t channel = {.handle = magma_connection_get_notification_channel_handle(connection),
                                 .type = MAGMA_POLL_TYPE_HANDLE, .condition = MAGMA_POLL_CONDITION_READABLE};
    CHECK_STATUS(magma_poll(&channel, 1, 0), MAGMA_STATUS_OK);
    CHECK(channel.result == MAGMA_POLL_CONDITION_READABLE);
    uint8_t small[8], notification[64];
    uint64_t size = 0;
    magma_bool_t more = 0;
    CHECK_STATUS(magma_connection_read_notification_channel(connection, small, sizeof(small), &size, &more), MAGMA_STATUS_INVALID_ARGS);
    CHECK(size == NOTIFICATION_SIZE);
    CHECK_STATUS(magma_connection_read_notification_channel(connection, notification, sizeof(notification), &size, &more), MAGMA_STATUS_OK);
    CHECK(size == NOTIFICATION_SIZE && more == 0);
    uint32_t kind;
    memcpy(&kind, notification, 4);
    CHECK(kind == 1);  // completed

    // Validation of the descriptor itself.
    CHECK_STATUS(magma_connection_execute_command(connection, context, NULL), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_execute_command(connection, context + 100, &descriptor), MAGMA_STATUS_INVALID_ARGS);
    magma_command_descriptor_t broken = descriptor;
    broken.resources = NULL;
    CHECK_STATUS(magma_connection_execute_command(connection, context, &broken), MAGMA_STATUS_INVALID_ARGS);
    broken = descriptor;
    broken.resource_count = 0xFFFFFFFF;
    CHECK_STATUS(magma_connection_execute_command(connection, context, &broken), MAGMA_STATUS_INVALID_ARGS);
    broken = descriptor;
    broken.semaphore_ids = NULL;
    CHECK_STATUS(magma_connection_execute_command(connection, context, &broken), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);

    // Unmapping the source while nothing runs is fine; a second unmap closes the connection.
    magma_connection_unmap_buffer(connection, source_va, source);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    magma_connection_unmap_buffer(connection, source_va, source);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_poll(&channel, 1, 1000000000), MAGMA_STATUS_CONNECTION_LOST);
    CHECK_STATUS(magma_connection_read_notification_channel(connection, notification, sizeof(notification), &size, &more),
                 MAGMA_STATUS_CONNECTION_LOST);
    magma_connection_release(connection);
    magma_device_release(device);
}

static void test_inline_commands(void) {
    magma_device_t device = open_device();
    magma_connection_t connection = open_connection(device);
    uint32_t context;
    CHECK_STATUS(magma_connection_create_context2(connection, MAGMA_PRIORITY_MEDIUM, &context), MAGMA_STATUS_OK);
    magma_buffer_id_t target_id;
    void *target_cpu;
    magma_buffer_t target = new_buffer(connection, PAGE, &target_id, &target_cpu);
    CHECK_STATUS(magma_connection_map_buffer(connection, 0x3000000, target, 0, PAGE, MAGMA_MAP_FLAG_WRITE | MAGMA_MAP_FLAG_READ), MAGMA_STATUS_OK);
    magma_semaphore_t done;
    magma_semaphore_id_t done_id;
    CHECK_STATUS(magma_connection_create_semaphore(connection, &done, &done_id), MAGMA_STATUS_OK);

    enum { COUNT = 100 };
    commands_t streams[COUNT];
    magma_inline_command_buffer_t inline_commands[COUNT];
    for (int index = 0; index < COUNT; index++) {
        streams[index].size = 0;
        fill(&streams[index], 0x3000000 + 4 * (uint64_t)index, 4, (uint32_t)index + 1);
        end(&streams[index]);
        inline_commands[index] = (magma_inline_command_buffer_t){
            .data = streams[index].bytes, .size = streams[index].size,
            .semaphore_ids = index == COUNT - 1 ? &done_id : NULL, .semaphore_count = index == COUNT - 1 ? 1 : 0};
    }
    CHECK_STATUS(magma_connection_execute_inline_commands(connection, context, COUNT, inline_commands), MAGMA_STATUS_OK);
    CHECK_STATUS(wait_semaphore(done, 10000000000ull), MAGMA_STATUS_OK);
    uint32_t *words = target_cpu;
    CHECK(words && words[0] == 1 && words[COUNT - 1] == COUNT);

    CHECK_STATUS(magma_connection_execute_inline_commands(connection, context, 1, NULL), MAGMA_STATUS_INVALID_ARGS);
    magma_inline_command_buffer_t bad = {.data = NULL, .size = 16, .semaphore_ids = NULL, .semaphore_count = 0};
    CHECK_STATUS(magma_connection_execute_inline_commands(connection, context, 1, &bad), MAGMA_STATUS_INVALID_ARGS);
    bad = (magma_inline_command_buffer_t){.data = streams[0].bytes, .size = streams[0].size, .semaphore_ids = NULL, .semaphore_count = 3};
    CHECK_STATUS(magma_connection_execute_inline_commands(connection, context, 1, &bad), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    magma_connection_release(connection);
    magma_device_release(device);
}

static void test_semaphores(void) {
    magma_device_t device = open_device();
    magma_connection_t connection = open_connection(device);
    magma_semaphore_t semaphore, other;
    magma_semaphore_id_t id, other_id;
    CHECK_STATUS(magma_connection_create_semaphore(connection, &semaphore, &id), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_create_semaphore(connection, &other, &other_id), MAGMA_STATUS_OK);
    CHECK(id != 0 && id != other_id);
    CHECK_STATUS(wait_semaphore(semaphore, 0), MAGMA_STATUS_TIMED_OUT);
    magma_semaphore_signal(semaphore);
    CHECK_STATUS(wait_semaphore(semaphore, 0), MAGMA_STATUS_OK);
    CHECK_STATUS(wait_semaphore(semaphore, 0), MAGMA_STATUS_OK);  // polling does not reset
    magma_semaphore_reset(semaphore);
    CHECK_STATUS(wait_semaphore(semaphore, 1000000), MAGMA_STATUS_TIMED_OUT);

    // Two items: only the signaled one reports its condition.
    magma_semaphore_signal(other);
    magma_poll_item_t items[2] = {
        {.semaphore = semaphore, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_SIGNALED},
        {.semaphore = other, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_SIGNALED}};
    CHECK_STATUS(magma_poll(items, 2, 0), MAGMA_STATUS_OK);
    CHECK(items[0].result == 0 && items[1].result == MAGMA_POLL_CONDITION_SIGNALED);

    // Export and import one-shot: the same event; a reset of the one-shot import is ignored.
    magma_handle_t exported;
    CHECK_STATUS(magma_semaphore_export(semaphore, &exported), MAGMA_STATUS_OK);
    magma_connection_t second = open_connection(device);
    magma_semaphore_t imported;
    magma_semaphore_id_t imported_id;
    CHECK_STATUS(magma_connection_import_semaphore2(second, exported, MAGMA_IMPORT_SEMAPHORE_ONE_SHOT, &imported, &imported_id), MAGMA_STATUS_OK);
    magma_semaphore_signal(semaphore);
    CHECK_STATUS(wait_semaphore(imported, 0), MAGMA_STATUS_OK);
    magma_semaphore_reset(imported);
    CHECK_STATUS(wait_semaphore(semaphore, 0), MAGMA_STATUS_OK);
    magma_semaphore_reset(semaphore);
    CHECK_STATUS(wait_semaphore(imported, 0), MAGMA_STATUS_TIMED_OUT);

    int ends[2];
    CHECK(pipe(ends) == 0);
    CHECK_STATUS(magma_connection_import_semaphore2(second, (magma_handle_t)ends[0], 0, &imported, &imported_id), MAGMA_STATUS_INVALID_ARGS);
    CHECK(!descriptor_is_open(ends[0]));
    close(ends[1]);
    CHECK_STATUS(magma_semaphore_export(semaphore, &exported), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_import_semaphore2(second, exported, 0x80, &imported, &imported_id), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_create_semaphore(connection, NULL, &id), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_semaphore_export(semaphore, NULL), MAGMA_STATUS_INVALID_ARGS);

    // Poll errors.
    CHECK_STATUS(magma_poll(items, 0, 0), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_poll(NULL, 1, 0), MAGMA_STATUS_INVALID_ARGS);
    magma_poll_item_t bad = {.semaphore = 0xDEAD, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_SIGNALED};
    CHECK_STATUS(magma_poll(&bad, 1, 0), MAGMA_STATUS_INVALID_ARGS);
    bad = (magma_poll_item_t){.semaphore = semaphore, .type = 9, .condition = MAGMA_POLL_CONDITION_SIGNALED};
    CHECK_STATUS(magma_poll(&bad, 1, 0), MAGMA_STATUS_INVALID_ARGS);
    bad = (magma_poll_item_t){.semaphore = semaphore, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_READABLE};
    CHECK_STATUS(magma_poll(&bad, 1, 0), MAGMA_STATUS_INVALID_ARGS);
    magma_semaphore_signal(semaphore);
    bad = (magma_poll_item_t){.semaphore = semaphore, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = 0};
    CHECK_STATUS(magma_poll(&bad, 1, 0), MAGMA_STATUS_TIMED_OUT);  // condition 0: ignored

    CHECK_STATUS(magma_buffer_get_info(semaphore, NULL), MAGMA_STATUS_INVALID_ARGS);  // not a buffer
    magma_buffer_info_t info;
    CHECK_STATUS(magma_buffer_get_info(semaphore, &info), MAGMA_STATUS_INVALID_ARGS);
    magma_connection_release_semaphore(connection, semaphore);
    magma_semaphore_signal(semaphore);  // released: ignored
    CHECK_STATUS(magma_semaphore_export(semaphore, &exported), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    magma_connection_release(second);
    magma_connection_release(connection);
    magma_device_release(device);
}

// Every call with made-up handles and NULL pointers: a status, never a crash.
static void test_bad_handles(void) {
    const uint64_t bogus[] = {0, 0xDEADBEEF, UINT64_MAX};
    for (size_t index = 0; index < sizeof(bogus) / sizeof(bogus[0]); index++) {
        uint64_t handle = bogus[index], value;
        uint32_t word;
        magma_handle_t fd;
        magma_buffer_info_t info;
        magma_cache_policy_t policy;
        uint8_t bytes[8];
        magma_bool_t more;
        CHECK_STATUS(magma_device_create_connection(handle, &value), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_get_error(handle), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_flush(handle), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_create_context2(handle, MAGMA_PRIORITY_MEDIUM, &word), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_create_buffer(handle, PAGE, &value, &value, &value), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_create_semaphore(handle, &value, &value), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_map_buffer(handle, 0, handle, 0, PAGE, MAGMA_MAP_FLAG_READ), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_perform_buffer_op(handle, handle, MAGMA_BUFFER_RANGE_OP_COMMIT, 0, PAGE), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_read_notification_channel(handle, bytes, sizeof(bytes), &value, &more), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_buffer_export(handle, &fd), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_buffer_get_handle(handle, &fd), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_buffer_get_info(handle, &info), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_buffer_get_cache_policy(handle, &policy), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_buffer_set_cache_policy(handle, MAGMA_CACHE_POLICY_CACHED), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_buffer_clean_cache(handle, 0, 1, MAGMA_CACHE_OPERATION_CLEAN), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_buffer_set_name(handle, "x"), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_semaphore_export(handle, &fd), MAGMA_STATUS_INVALID_ARGS);
        CHECK_STATUS(magma_connection_enable_performance_counters(handle, &value, 1), MAGMA_STATUS_INVALID_ARGS);
        CHECK(magma_connection_get_notification_channel_handle(handle) == 0);
        magma_device_release(handle);
        magma_connection_release(handle);
        magma_connection_release_context(handle, 1);
        magma_connection_release_buffer(handle, handle);
        magma_connection_release_semaphore(handle, handle);
        magma_connection_unmap_buffer(handle, 0, handle);
        magma_semaphore_signal(handle);
        magma_semaphore_reset(handle);
    }
    CHECK_STATUS(magma_initialize_logging((magma_handle_t)-1), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_initialize_tracing((magma_handle_t)-1), MAGMA_STATUS_OK);
    int ends[2];
    CHECK(pipe(ends) == 0);
    CHECK_STATUS(magma_initialize_logging((magma_handle_t)ends[0]), MAGMA_STATUS_OK);
    CHECK(!descriptor_is_open(ends[0]));
    close(ends[1]);
}

// Enables every SoftGPU counter, runs a fill, dumps into a pool and reads the completion.
static void exercise_counters(magma_connection_t connection) {
    uint64_t all = 0xF, unknown = 1ull << 40;
    CHECK_STATUS(magma_connection_enable_performance_counters(connection, &all, 1), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_clear_performance_counters(connection, &all, 1), MAGMA_STATUS_OK);
    magma_perf_count_pool_t pool;
    magma_handle_t pool_handle = 0;
    CHECK_STATUS(magma_connection_create_performance_counter_buffer_pool(connection, &pool, &pool_handle), MAGMA_STATUS_OK);
    CHECK(pool_handle != 0);
    CHECK_STATUS(magma_connection_create_performance_counter_buffer_pool(connection, NULL, &pool_handle), MAGMA_STATUS_INVALID_ARGS);
    magma_buffer_id_t counters_id;
    void *counters_cpu;
    magma_buffer_t counters = new_buffer(connection, PAGE, &counters_id, &counters_cpu);
    magma_buffer_offset_t slot = {.buffer_id = counters_id, .offset = 64, .length = 32};
    CHECK_STATUS(magma_connection_add_performance_counter_buffer_offsets_to_pool(connection, pool, &slot, 1), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_add_performance_counter_buffer_offsets_to_pool(connection, pool + 1000, &slot, 1), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_add_performance_counter_buffer_offsets_to_pool(connection, pool, NULL, 1), MAGMA_STATUS_INVALID_ARGS);

    // Some GPU work to count: a 64 KiB fill.
    uint32_t context;
    CHECK_STATUS(magma_connection_create_context2(connection, MAGMA_PRIORITY_MEDIUM, &context), MAGMA_STATUS_OK);
    magma_buffer_id_t target_id, commands_id;
    void *commands_cpu;
    magma_buffer_t target = new_buffer(connection, 16 * PAGE, &target_id, NULL);
    new_buffer(connection, PAGE, &commands_id, &commands_cpu);
    CHECK_STATUS(magma_connection_map_buffer(connection, 0x5000000, target, 0, 16 * PAGE, MAGMA_MAP_FLAG_WRITE), MAGMA_STATUS_OK);
    commands_t stream = {.size = 0};
    fill(&stream, 0x5000000, 16 * PAGE, 9);
    end(&stream);
    if (commands_cpu) memcpy(commands_cpu, stream.bytes, stream.size);
    magma_semaphore_t done;
    magma_semaphore_id_t done_id;
    CHECK_STATUS(magma_connection_create_semaphore(connection, &done, &done_id), MAGMA_STATUS_OK);
    magma_exec_resource_t resource = {.buffer_id = commands_id, .offset = 0, .length = stream.size};
    magma_exec_command_buffer_t command_buffer = {0};
    magma_command_descriptor_t descriptor = {.resource_count = 1, .command_buffer_count = 1, .signal_semaphore_count = 1,
                                             .resources = &resource, .command_buffers = &command_buffer, .semaphore_ids = &done_id};
    CHECK_STATUS(magma_connection_execute_command(connection, context, &descriptor), MAGMA_STATUS_OK);
    CHECK_STATUS(wait_semaphore(done, 10000000000ull), MAGMA_STATUS_OK);

    CHECK_STATUS(magma_connection_dump_performance_counters(connection, pool, 77), MAGMA_STATUS_OK);
    magma_poll_item_t item = {.handle = pool_handle, .type = MAGMA_POLL_TYPE_HANDLE, .condition = MAGMA_POLL_CONDITION_READABLE};
    CHECK_STATUS(magma_poll(&item, 1, 5000000000ull), MAGMA_STATUS_OK);
    uint32_t trigger = 0, offset = 0, flags = 99;
    uint64_t buffer_id = 0, time = 0;
    CHECK_STATUS(magma_connection_read_performance_counter_completion(connection, pool, &trigger, &buffer_id, &offset, &time, &flags), MAGMA_STATUS_OK);
    CHECK(trigger == 77 && buffer_id == counters_id && offset == 64 && time > 0 && flags == 0);
    uint64_t *values = (uint64_t *)((uint8_t *)counters_cpu + 64);
    // Counters: instructions, bytes read, bytes written, busy ns. A fill writes its bytes.
    CHECK(counters_cpu && values[0] == 0 && values[1] == 0 && values[2] == 16 * PAGE && values[3] > 0);
    CHECK_STATUS(magma_connection_read_performance_counter_completion(connection, pool, &trigger, &buffer_id, &offset, &time, &flags),
                 MAGMA_STATUS_TIMED_OUT);
    CHECK_STATUS(magma_connection_read_performance_counter_completion(connection, pool, NULL, &buffer_id, &offset, &time, &flags),
                 MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_dump_performance_counters(connection, pool, 78), MAGMA_STATUS_OK);  // empty pool: nothing happens
    CHECK_STATUS(magma_connection_remove_performance_counter_buffer_from_pool(connection, pool, counters), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_release_performance_counter_buffer_pool(connection, pool), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_release_performance_counter_buffer_pool(connection, pool), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    // Selecting a counter the device does not have closes the connection.
    CHECK_STATUS(magma_connection_enable_performance_counters(connection, &unknown, 1), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_INVALID_ARGS);
}

// Runs one counter call on a fresh connection that has no access: the call returns OK
// (feed-forward) and the connection closes with ACCESS_DENIED, which flush and get_error report.
static void expect_denied_without_access(magma_device_t device, int which) {
    magma_connection_t connection = open_connection(device);
    uint64_t counters[] = {1};
    magma_perf_count_pool_t pool;
    magma_handle_t pool_handle;
    switch (which) {
    case 0: CHECK_STATUS(magma_connection_enable_performance_counters(connection, counters, 1), MAGMA_STATUS_OK); break;
    case 1: CHECK_STATUS(magma_connection_clear_performance_counters(connection, counters, 1), MAGMA_STATUS_OK); break;
    default: CHECK_STATUS(magma_connection_create_performance_counter_buffer_pool(connection, &pool, &pool_handle), MAGMA_STATUS_OK); break;
    }
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_ACCESS_DENIED);
    CHECK_STATUS(magma_connection_get_error(connection), MAGMA_STATUS_ACCESS_DENIED);
    CHECK_STATUS(magma_connection_enable_performance_counters(connection, counters, 1), MAGMA_STATUS_ACCESS_DENIED);
    magma_connection_release(connection);
}

// Every connection starts without access, embedded or not; only the device's token grants it.
static void test_performance_counters(void) {
    magma_device_t device = open_device();
    for (int which = 0; which < 3; which++) expect_denied_without_access(device, which);

    magma_connection_t connection = open_connection(device);
    CHECK_STATUS(magma_connection_enable_performance_counter_access(connection, (magma_handle_t)-1), MAGMA_STATUS_INVALID_ARGS);
    int ends[2];
    CHECK(pipe(ends) == 0);
    CHECK_STATUS(magma_connection_enable_performance_counter_access(connection, (magma_handle_t)ends[0]), MAGMA_STATUS_ACCESS_DENIED);
    CHECK(!descriptor_is_open(ends[0]));
    close(ends[1]);
    CHECK_STATUS(magma_connection_get_error(connection), MAGMA_STATUS_OK);  // a stranger's token is ignored
    magma_handle_t token = 0;
    CHECK_STATUS(magma_device_get_performance_counter_token(device, NULL), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_get_performance_counter_token(0, &token), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_device_get_performance_counter_token(device, &token), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_enable_performance_counter_access(connection, token), MAGMA_STATUS_OK);
    exercise_counters(connection);
    magma_connection_release(connection);

    if (counter_path) {
        // Fuchsia's form: a channel to the performance-counter endpoint.
        connection = open_connection(device);
        int endpoint = connect_socket(counter_path);
        CHECK(endpoint >= 0);
        CHECK_STATUS(magma_connection_enable_performance_counter_access(connection, (magma_handle_t)endpoint), MAGMA_STATUS_OK);
        exercise_counters(connection);
        magma_connection_release(connection);
    }
    magma_device_release(device);
}

// Objects are owned by the connection that made them: another connection naming one gets
// INVALID_ARGS (synchronously where the call returns a status, by closing itself where it
// returns nothing), and the owner keeps using it; a double release closes the owner; a released
// connection's handles, and the handles of its objects, are unknown afterwards.
static void test_foreign_handles(void) {
    magma_device_t device = open_device();
    magma_connection_t owner = open_connection(device), other = open_connection(device), third = open_connection(device);
    magma_buffer_id_t buffer_id;
    magma_buffer_t buffer = new_buffer(owner, PAGE, &buffer_id, NULL);
    magma_semaphore_t semaphore;
    magma_semaphore_id_t semaphore_id;
    CHECK_STATUS(magma_connection_create_semaphore(owner, &semaphore, &semaphore_id), MAGMA_STATUS_OK);

    CHECK_STATUS(magma_connection_map_buffer(other, 0x6000000, buffer, 0, PAGE, MAGMA_MAP_FLAG_READ), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_perform_buffer_op(other, buffer, MAGMA_BUFFER_RANGE_OP_POPULATE_TABLES, 0, PAGE),
                 MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_flush(other), MAGMA_STATUS_OK);
    magma_connection_unmap_buffer(other, 0x6000000, buffer);
    CHECK_STATUS(magma_connection_flush(other), MAGMA_STATUS_INVALID_ARGS);
    magma_connection_release_buffer(third, buffer);
    magma_connection_release_semaphore(third, semaphore);
    CHECK_STATUS(magma_connection_get_error(third), MAGMA_STATUS_INVALID_ARGS);

    // The owner is untouched.
    CHECK_STATUS(magma_connection_map_buffer(owner, 0x6000000, buffer, 0, PAGE, MAGMA_MAP_FLAG_READ), MAGMA_STATUS_OK);
    magma_connection_unmap_buffer(owner, 0x6000000, buffer);
    magma_semaphore_signal(semaphore);
    CHECK_STATUS(wait_semaphore(semaphore, 1000000000), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_flush(owner), MAGMA_STATUS_OK);

    magma_connection_release_buffer(owner, buffer);
    CHECK_STATUS(magma_connection_flush(owner), MAGMA_STATUS_OK);
    magma_buffer_info_t info;
    CHECK_STATUS(magma_buffer_get_info(buffer, &info), MAGMA_STATUS_INVALID_ARGS);
    magma_connection_release_buffer(owner, buffer);  // double release
    CHECK_STATUS(magma_connection_flush(owner), MAGMA_STATUS_INVALID_ARGS);

    magma_connection_release(owner);
    magma_handle_t exported;
    CHECK_STATUS(magma_semaphore_export(semaphore, &exported), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_get_error(owner), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_connection_create_buffer(owner, PAGE, &info.size, &buffer, &buffer_id), MAGMA_STATUS_INVALID_ARGS);
    magma_connection_release(other);
    magma_connection_release(third);
    magma_device_release(device);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DEVICE [PERFORMANCE_COUNTER_ENDPOINT]\n", argv[0]);
        return 2;
    }
    device_path = argv[1];
    counter_path = argc > 2 ? argv[2] : NULL;
    test_device_queries();
    test_device_import_and_enumerate();
    test_connection();
    test_contexts();
    test_buffers();
    test_execute_command();
    test_inline_commands();
    test_semaphores();
    test_bad_handles();
    test_foreign_handles();
    test_performance_counters();
    printf("magma-c-tests on %s: %d checks, %d failures\n", device_path, check_count(), check_failures());
    return check_failures() == 0 ? 0 : 1;
}
