// Mesa's Magma API under hostile and careless callers, from C: extensible structs of an older
// (smaller) and a newer (larger) caller, descriptors handed to imports on every error path (the
// library owns them, so each must be closed afterwards, and none may leak), and calls on one
// device from several threads.
//
//   magma-mesa-c-hostile-tests
//
// Runs on every physical device enumeration finds. Prints every failed check and a summary;
// exits 0 only if every check passed. Run by Tests/MagmaTests/MesaCHostileTests.swift.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "c_test_checks.h"
#include "mesa_test_support.h"
#include "magma_mesa.h"

enum { PAGE = 4096 };
static const uint64_t SECOND = 1000000000ull;
static const uint64_t COMMANDS_VA = 0x20000000ull;

// ---- helpers ----

static int open_descriptors(void) {
    DIR *directory = opendir("/proc/self/fd");
    int count = 0;
    for (struct dirent *entry; (entry = readdir(directory)) != NULL;) count += entry->d_name[0] != '.';
    closedir(directory);
    return count - 1;   // the directory's own descriptor
}

static int is_closed(int64_t descriptor) { return fcntl((int)descriptor, F_GETFD) == -1 && errno == EBADF; }

static magma_sync_obj_t make_sync(magma_device_t device, magma_sync_type_t type) {
    magma_create_sync_obj_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_SYNC_OBJ_INFO, .size = sizeof info, .sync_type = type};
    magma_sync_obj_t sync_obj = NULL;
    CHECK_STATUS(magma_create_sync_obj(device, &info, &sync_obj), MAGMA_STATUS_OK);
    return sync_obj;
}

// Whether every byte of memory[from..<to] is value.
static int bytes_are(const void *memory, size_t from, size_t to, uint8_t value) {
    for (size_t i = from; i < to; i++)
        if (((const uint8_t *)memory)[i] != value) return 0;
    return 1;
}

// ---- extensible structs of older and newer callers ----

static void test_older_and_newer_callers(magma_physical_device_t physical_device, magma_device_t device) {
    static int chained;   // what `next` points at: never followed for an output, never overwritten
    // An older caller's info: the header and bus_type, vendor_id. Nothing past its size is written.
    magma_physical_device_info_t info;
    memset(&info, 0xab, sizeof info);
    const uint32_t older = offsetof(magma_physical_device_info_t, device_id);
    info.s_type = MAGMA_STRUCTURE_TYPE_PHYSICAL_DEVICE_INFO, info.size = older, info.next = &chained;
    CHECK_STATUS(magma_get_physical_device_info(physical_device, &info), MAGMA_STATUS_OK);
    CHECK(info.s_type == MAGMA_STRUCTURE_TYPE_PHYSICAL_DEVICE_INFO && info.size == older && info.next == &chained);
    CHECK(info.bus_type != 0xababababu && info.vendor_id != 0xababababu);
    CHECK(bytes_are(&info, older, sizeof info, 0xab));

    magma_heap_budget_t budget;
    memset(&budget, 0xab, sizeof budget);
    budget.s_type = MAGMA_STRUCTURE_TYPE_HEAP_BUDGET, budget.size = offsetof(magma_heap_budget_t, usage), budget.next = &chained;
    CHECK_STATUS(magma_get_memory_budget(device, 0, &budget), MAGMA_STATUS_OK);
    CHECK(budget.next == &chained && budget.size == offsetof(magma_heap_budget_t, usage));
    CHECK(bytes_are(&budget, offsetof(magma_heap_budget_t, usage), sizeof budget, 0xab));

    // Queue families are an array of the caller's structs: its stride is the caller's size.
    // A newer caller's struct has a field this library does not know: it stays as it was.
    struct newer_family {
        magma_queue_family_properties_t known;
        uint64_t future;
    } newer[4];
    memset(newer, 0xab, sizeof newer);
    for (int i = 0; i < 4; i++) newer[i].known.s_type = MAGMA_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES, newer[i].known.size = sizeof newer[i];
    uint32_t count = 4;
    CHECK_STATUS(magma_get_queue_family_properties(physical_device, &count, &newer[0].known), MAGMA_STATUS_OK);
    CHECK(count >= 2 && count <= 4);
    for (uint32_t i = 0; i < count && i < 4; i++) {
        CHECK(newer[i].known.s_type == MAGMA_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES && newer[i].known.size == sizeof newer[i]);
        CHECK(newer[i].known.queue_count > 0 && newer[i].known.queue_count != 0xababababu);
        CHECK(newer[i].future == 0xababababababababull);
    }
    // An older caller's header-only structs: packed at 16 bytes, nothing written after the header.
    struct { magma_structure_type_t s_type; uint32_t size; void *next; } headers[4];
    memset(headers, 0xab, sizeof headers);
    for (int i = 0; i < 4; i++) headers[i].s_type = MAGMA_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES, headers[i].size = sizeof headers[i];
    count = 4;
    CHECK_STATUS(magma_get_queue_family_properties(physical_device, &count, (magma_queue_family_properties_t *)headers), MAGMA_STATUS_OK);
    CHECK(count >= 2);
    for (int i = 0; i < 4; i++) CHECK(headers[i].size == sizeof headers[i] && (uintptr_t)headers[i].next == (uintptr_t)0xababababababababull);
    // Entries of different sizes are no array: INVALID_ARGS, and nothing is written.
    memset(newer, 0xab, sizeof newer);
    for (int i = 0; i < 4; i++) newer[i].known.s_type = MAGMA_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES, newer[i].known.size = sizeof newer[i];
    newer[1].known.size = sizeof newer[1].known;
    count = 4;
    CHECK_STATUS(magma_get_queue_family_properties(physical_device, &count, &newer[0].known), MAGMA_STATUS_INVALID_ARGS);
    CHECK(count == 4 && newer[0].known.queue_count == 0xababababu);

    // An older caller's create info (no memory type, no flags: both 0).
    magma_create_buffer_info_t create = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_BUFFER_INFO,
                                         .size = offsetof(magma_create_buffer_info_t, memory_type_index), .buffer_size = PAGE,
                                         .memory_type_index = 999, .flags = 0xffffffffu};
    magma_buffer_t buffer = NULL;
    CHECK_STATUS(magma_create_buffer(device, &create, &buffer), MAGMA_STATUS_OK);
    magma_buffer_close(buffer);

    // An import info too small to hold a handle: the library reads nothing past its size, so it
    // takes no descriptor from the bytes beyond.
    int pipe_ends[2];
    CHECK(pipe(pipe_ends) == 0);
    magma_import_buffer_info_t import = {.s_type = MAGMA_STRUCTURE_TYPE_IMPORT_BUFFER_INFO, .size = 16,
                                         .handle = {.os_handle = pipe_ends[0], .handle_type = MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD}};
    CHECK_STATUS(magma_import_buffer(device, &import, &buffer), MAGMA_STATUS_INVALID_ARGS);
    CHECK(!is_closed(pipe_ends[0]));
    close(pipe_ends[0]);
    close(pipe_ends[1]);
}

// ---- descriptors handed to imports: the library's, on every path ----

static magma_status_t import_buffer(magma_device_t device, int64_t descriptor, magma_handle_type_t type, magma_buffer_t *out) {
    magma_import_buffer_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_IMPORT_BUFFER_INFO, .size = sizeof info,
                                       .handle = {.os_handle = descriptor, .handle_type = type}};
    return magma_import_buffer(device, &info, out);
}

static magma_status_t import_sync(magma_device_t device, int64_t descriptor, magma_handle_type_t type, magma_sync_obj_t *out) {
    magma_external_handle_t handle = {.os_handle = descriptor, .handle_type = type};
    return magma_import_sync_obj(device, &handle, out);
}

static int64_t exported_buffer(magma_buffer_t buffer) {
    magma_external_handle_t handle = {.os_handle = -1};
    CHECK_STATUS(magma_buffer_export(buffer, &handle), MAGMA_STATUS_OK);
    return handle.os_handle;
}

static int64_t exported_sync(magma_sync_obj_t sync_obj) {
    magma_external_handle_t handle = {.os_handle = -1};
    CHECK_STATUS(magma_sync_obj_export(sync_obj, MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, &handle), MAGMA_STATUS_OK);
    return handle.os_handle;
}

static int64_t pipe_end(void) {
    int ends[2];
    CHECK(pipe(ends) == 0);
    close(ends[1]);
    return ends[0];
}

#define CHECK_TAKEN(descriptor, call, expected)  \
    do {                                         \
        int64_t taken_ = (descriptor);           \
        CHECK_STATUS(call, expected);            \
        CHECK(is_closed(taken_));                \
    } while (0)

static void test_descriptor_ownership(magma_physical_device_t physical_device, magma_device_t device) {
    const uint32_t type = host_visible_type(physical_device);
    magma_buffer_t two_pages = make_buffer(device, type, 2 * PAGE, 0);
    magma_sync_obj_t binary = make_sync(device, MAGMA_SYNC_TYPE_BINARY);
    magma_buffer_t buffer = NULL;
    magma_sync_obj_t sync_obj = NULL;
    const int before = open_descriptors();
    int64_t d;

    // Buffer imports that fail: each takes its descriptor.
    d = exported_buffer(two_pages);
    magma_import_buffer_info_t wrong = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_BUFFER_INFO, .size = sizeof wrong,
                                        .handle = {.os_handle = d, .handle_type = MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD}};
    CHECK_TAKEN(d, magma_import_buffer(device, &wrong, &buffer), MAGMA_STATUS_INVALID_ARGS);
    d = exported_buffer(two_pages);
    CHECK_TAKEN(d, import_buffer(device, d, MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, NULL), MAGMA_STATUS_INVALID_ARGS);
    d = exported_buffer(two_pages);
    CHECK_TAKEN(d, import_buffer((magma_device_t)binary, d, MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, &buffer), MAGMA_STATUS_INVALID_ARGS);
    d = exported_buffer(two_pages);
    CHECK_TAKEN(d, import_buffer(device, d, MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, &buffer), MAGMA_STATUS_INVALID_ARGS);
    d = exported_buffer(two_pages);
    CHECK_TAKEN(d, import_buffer(device, d, MAGMA_HANDLE_TYPE_MEM_DMABUF, &buffer), MAGMA_STATUS_INVALID_ARGS);
    d = pipe_end();
    CHECK_TAKEN(d, import_buffer(device, d, MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, &buffer), MAGMA_STATUS_INVALID_ARGS);
    d = exported_sync(binary);
    CHECK_TAKEN(d, import_buffer(device, d, MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, &buffer), MAGMA_STATUS_INVALID_ARGS);
    d = exported_buffer(two_pages);
    magma_import_buffer_info_t no_type = {.s_type = MAGMA_STRUCTURE_TYPE_IMPORT_BUFFER_INFO, .size = sizeof no_type,
                                          .handle = {.os_handle = d, .handle_type = MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD},
                                          .memory_type_index = MAGMA_MAX_MEMORY_TYPES};
    CHECK_TAKEN(d, magma_import_buffer(device, &no_type, &buffer), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(import_buffer(device, 1 << 20, MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, &buffer), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(import_buffer(device, -5, MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, &buffer), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(import_buffer(device, (int64_t)1 << 40, MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, &buffer), MAGMA_STATUS_INVALID_ARGS);

    // Sync object imports that fail: each takes its descriptor.
    d = exported_sync(binary);
    CHECK_TAKEN(d, import_sync(device, d, MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, NULL), MAGMA_STATUS_INVALID_ARGS);
    d = exported_sync(binary);
    CHECK_TAKEN(d, import_sync((magma_device_t)two_pages, d, MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, &sync_obj), MAGMA_STATUS_INVALID_ARGS);
    d = exported_sync(binary);
    CHECK_TAKEN(d, import_sync(device, d, MAGMA_HANDLE_TYPE_SIGNAL_SYNC_FD, &sync_obj), MAGMA_STATUS_UNIMPLEMENTED);
    d = exported_sync(binary);
    CHECK_TAKEN(d, import_sync(device, d, MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, &sync_obj), MAGMA_STATUS_INVALID_ARGS);
    d = pipe_end();
    CHECK_TAKEN(d, import_sync(device, d, MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, &sync_obj), MAGMA_STATUS_INVALID_ARGS);
    d = exported_buffer(two_pages);   // a sealed memfd, but of two pages: no timeline
    CHECK_TAKEN(d, import_sync(device, d, MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, &sync_obj), MAGMA_STATUS_INVALID_ARGS);

    // Exports for nothing, and exports to a NULL out, open nothing.
    CHECK_STATUS(magma_buffer_export(two_pages, NULL), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_sync_obj_export(binary, MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, NULL), MAGMA_STATUS_INVALID_ARGS);
    magma_external_handle_t handle;
    CHECK_STATUS(magma_sync_obj_export(binary, MAGMA_HANDLE_TYPE_MEM_DMABUF, &handle), MAGMA_STATUS_INVALID_ARGS);

    // Imports that succeed, closed again: nothing stays open.
    for (int i = 0; i < 20; i++) {
        CHECK_STATUS(import_buffer(device, exported_buffer(two_pages), MAGMA_HANDLE_TYPE_MEM_OPAQUE_FD, &buffer), MAGMA_STATUS_OK);
        magma_buffer_close(buffer);
        CHECK_STATUS(import_sync(device, exported_sync(binary), MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, &sync_obj), MAGMA_STATUS_OK);
        magma_sync_obj_close(sync_obj);
    }
    CHECK(open_descriptors() == before);
    magma_sync_obj_close(binary);
    magma_buffer_close(two_pages);
}

// ---- several threads on one device ----

typedef struct {
    magma_device_t device;
    uint32_t memory_type;
    int unexpected;
} worker_t;

static void *work(void *argument) {
    worker_t *worker = argument;
    for (int i = 0; i < 100; i++) {
        magma_create_buffer_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_BUFFER_INFO, .size = sizeof info,
                                           .buffer_size = PAGE, .memory_type_index = worker->memory_type};
        magma_buffer_t buffer = NULL;
        magma_status_t made = magma_create_buffer(worker->device, &info, &buffer);
        magma_cpu_mapping_t mapping;
        magma_status_t mapped = made == MAGMA_STATUS_OK ? magma_buffer_map_cpu(buffer, &mapping) : made;
        if (mapped == MAGMA_STATUS_OK) ((volatile uint8_t *)mapping.address)[0] = (uint8_t)i;
        magma_create_sync_obj_info_t sync_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_SYNC_OBJ_INFO, .size = sizeof sync_info};
        magma_sync_obj_t sync_obj = NULL;
        magma_status_t signaled = magma_create_sync_obj(worker->device, &sync_info, &sync_obj);
        if (signaled == MAGMA_STATUS_OK) signaled = magma_sync_obj_signal(sync_obj);
        if (signaled == MAGMA_STATUS_OK) signaled = magma_sync_obj_wait(sync_obj, SECOND);
        magma_address_space_t space = NULL;
        magma_status_t spaced = magma_create_address_space(worker->device, &space);
        if (spaced == MAGMA_STATUS_OK && made == MAGMA_STATUS_OK)
            spaced = magma_map_buffer_gpu(space, buffer, 0, COMMANDS_VA, PAGE, MAGMA_GPU_MAP_READ);
        magma_status_t statuses[] = {made, mapped, signaled, spaced};
        for (int s = 0; s < 4; s++) {
            worker->unexpected += statuses[s] != MAGMA_STATUS_OK;
        }
        magma_address_space_close(space);
        magma_sync_obj_close(sync_obj);
        magma_buffer_close(buffer);
    }
    return NULL;
}

static void test_threads(magma_physical_device_t physical_device) {
    magma_device_t device = NULL;
    CHECK_STATUS(magma_create_device(physical_device, &device), MAGMA_STATUS_OK);
    enum { WORKERS = 4 };
    worker_t workers[WORKERS];
    pthread_t threads[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (worker_t){.device = device, .memory_type = host_visible_type(physical_device)};
        pthread_create(&threads[i], NULL, work, &workers[i]);
    }
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].unexpected == 0);
    }
    magma_device_close(device);
    magma_buffer_t buffer = NULL;
    magma_create_buffer_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_BUFFER_INFO, .size = sizeof info, .buffer_size = PAGE};
    CHECK_STATUS(magma_create_buffer(device, &info, &buffer), MAGMA_STATUS_INVALID_ARGS);
}

int main(void) {
    magma_physical_device_t devices[MAGMA_MAX_PHYSICAL_DEVICES] = {0};
    uint32_t count = MAGMA_MAX_PHYSICAL_DEVICES;
    CHECK_STATUS(magma_enumerate_physical_devices(devices, &count), MAGMA_STATUS_OK);
    CHECK(count >= 1);
    for (uint32_t i = 0; i < count; i++) {
        int failures_before = check_failures();
        magma_device_t device = NULL;
        CHECK_STATUS(magma_create_device(devices[i], &device), MAGMA_STATUS_OK);
        test_older_and_newer_callers(devices[i], device);
        test_descriptor_ownership(devices[i], device);
        magma_device_close(device);
        test_threads(devices[i]);
        printf("device %u: %d failures\n", i, check_failures() - failures_before);
        magma_physical_device_close(devices[i]);
    }
    printf("%d devices, %d checks, %d failures\n", count, check_count(), check_failures());
    return check_failures() == 0 ? 0 : 1;
}
