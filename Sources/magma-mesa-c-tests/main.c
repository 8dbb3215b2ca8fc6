// Mesa's Magma API tested from C, as a client driver uses it: the intent of Mesa's own FFI test
// (enumerate, info, memory properties, device, budget, address space, queue, a command buffer
// mapped RWX, binary sync signal and wait, a submit with a wait and a signal, export and import
// of a fence and of a buffer, a submit that waits on the imported fence, 20 submits, timeline
// signal, query and wait), run on every physical device the enumeration finds, with checks that
// the GPU really did the work, and the status paths for bad arguments. A device with no queue
// families (a DRM device: MagmaDRM runs no work on vgem or virtio_gpu) gets what it supports
// instead: its info, memory properties and bus, buffers shared between two of its devices, the
// sync objects it claims, and UNIMPLEMENTED queues and budgets; the queue checks are skipped,
// and the summary line says so and why.
//
//   magma-mesa-c-tests EXPECTED_DEVICE_COUNT
//
// Prints every failed check and, per device, "device N (name, driver, bus B): F failures";
// exits 0 only if every check passed. Run by Tests/MagmaTests/MesaCABITests.swift, with
// MAGMA_DEVICE_DIR naming the directory whose magmad endpoints enumeration finds beside the
// embedded device, and in the QEMU guest by .ci/run, where enumeration finds the DRM devices too.
#define _GNU_SOURCE
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
static const uint64_t TARGET_VA = 0x20001000ull;

// ---- SoftGPU commands (docs/softgpu.md): {u32 opcode, u32 size} then the fields ----

static uint8_t *put32(uint8_t *at, uint32_t value) { memcpy(at, &value, 4); return at + 4; }
static uint8_t *put64(uint8_t *at, uint64_t value) { memcpy(at, &value, 8); return at + 8; }

// Writes "fill size bytes at address with pattern; end" at commands; returns the bytes written.
static uint64_t fill_then_end(uint8_t *commands, uint64_t address, uint64_t size, uint32_t pattern) {
    uint8_t *at = commands;
    at = put32(at, 1), at = put32(at, 32), at = put64(at, address), at = put64(at, size);
    at = put32(at, pattern), at = put32(at, 0);
    at = put32(at, 0), at = put32(at, 8);
    return (uint64_t)(at - commands);
}

static int all_words_are(const void *memory, size_t size, uint32_t pattern) {
    const uint32_t *words = memory;
    for (size_t i = 0; i < size / 4; i++)
        if (words[i] != pattern) return 0;
    return 1;
}

// ---- one device set up for work: an address space, a compute queue, a command buffer mapped
// RWX at COMMANDS_VA and a target buffer mapped RW at TARGET_VA ----

typedef struct {
    magma_device_t device;
    magma_address_space_t address_space;
    magma_queue_t queue;
    magma_buffer_t commands;
    magma_buffer_t target;
    uint8_t *command_bytes;
    uint32_t *target_words;
} rig_t;

static uint32_t compute_family(magma_physical_device_t physical_device) {
    magma_queue_family_properties_t families[8];
    uint32_t count = 8;
    for (uint32_t i = 0; i < count; i++) families[i] = (magma_queue_family_properties_t){.s_type = MAGMA_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES, .size = sizeof families[i]};
    CHECK_STATUS(magma_get_queue_family_properties(physical_device, &count, families), MAGMA_STATUS_OK);
    for (uint32_t i = 0; i < count; i++)
        if (families[i].queue_flags & MAGMA_QUEUE_COMPUTE) return i;
    CHECK(!"a compute queue family");
    return 0;
}

static void *map_cpu(magma_buffer_t buffer) {
    magma_cpu_mapping_t mapping = {0};
    CHECK_STATUS(magma_buffer_map_cpu(buffer, &mapping), MAGMA_STATUS_OK);
    CHECK(mapping.address != NULL && mapping.size >= PAGE);
    return mapping.address;
}

static rig_t make_rig(magma_physical_device_t physical_device) {
    rig_t rig = {0};
    uint32_t memory_type = host_visible_type(physical_device);
    CHECK_STATUS(magma_create_device(physical_device, &rig.device), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_create_address_space(rig.device, &rig.address_space), MAGMA_STATUS_OK);
    magma_create_queue_info_t queue_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_QUEUE_INFO, .size = sizeof queue_info,
                                            .queue_family_index = compute_family(physical_device)};
    CHECK_STATUS(magma_create_queue(rig.device, rig.address_space, &queue_info, &rig.queue), MAGMA_STATUS_OK);
    rig.commands = make_buffer(rig.device, memory_type, PAGE, MAGMA_BUFFER_EXTERNAL);
    rig.target = make_buffer(rig.device, memory_type, PAGE, MAGMA_BUFFER_EXTERNAL);
    rig.command_bytes = map_cpu(rig.commands);
    rig.target_words = map_cpu(rig.target);
    CHECK_STATUS(magma_map_buffer_gpu(rig.address_space, rig.commands, 0, COMMANDS_VA, PAGE,
                                      MAGMA_GPU_MAP_READ | MAGMA_GPU_MAP_WRITE | MAGMA_GPU_MAP_EXECUTE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_map_buffer_gpu(rig.address_space, rig.target, 0, TARGET_VA, PAGE,
                                      MAGMA_GPU_MAP_READ | MAGMA_GPU_MAP_WRITE), MAGMA_STATUS_OK);
    return rig;
}

static void close_rig(rig_t *rig) {
    CHECK_STATUS(magma_unmap_buffer_gpu(rig->address_space, TARGET_VA, PAGE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_unmap_buffer_gpu(rig->address_space, COMMANDS_VA, PAGE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_buffer_unmap_cpu(rig->commands), MAGMA_STATUS_OK);
    magma_buffer_close(rig->commands);
    magma_buffer_close(rig->target);
    magma_queue_close(rig->queue);
    magma_address_space_close(rig->address_space);
    magma_device_close(rig->device);
}

static magma_sync_obj_t make_sync(magma_device_t device, magma_sync_type_t type, uint64_t initial_value) {
    magma_create_sync_obj_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_SYNC_OBJ_INFO, .size = sizeof info,
                                         .sync_type = type, .initial_value = initial_value};
    magma_sync_obj_t sync_obj = NULL;
    CHECK_STATUS(magma_create_sync_obj(device, &info, &sync_obj), MAGMA_STATUS_OK);
    return sync_obj;
}

// Submits the rig's command buffer (length bytes) with the given waits and signals.
static magma_status_t submit(rig_t *rig, uint64_t length, const magma_sync_point_t *waits, uint32_t wait_count,
                             const magma_sync_point_t *signals, uint32_t signal_count) {
    magma_submit_buffer_info_t where = {.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_BUFFER_INFO, .size = sizeof where,
                                        .command_buffer = rig->commands, .start_offset = 0, .length = length};
    magma_submit_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_INFO, .size = sizeof info, .next = &where,
                                .wait_count = wait_count, .signal_count = signal_count, .waits = waits, .signals = signals};
    return magma_queue_submit(rig->queue, &info);
}

// ---- the scenario of Mesa's FFI test, on one physical device ----

/// What every device's info must say, with or without queues: its names, page size, largest
/// allocation, and memory types pointing at heaps that exist. Returns the info.
static magma_physical_device_info_t check_info_and_memory(magma_physical_device_t physical_device) {
    magma_physical_device_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_PHYSICAL_DEVICE_INFO, .size = sizeof info};
    CHECK_STATUS(magma_get_physical_device_info(physical_device, &info), MAGMA_STATUS_OK);
    CHECK(info.name[0] != 0 && memchr(info.name, 0, sizeof info.name) != NULL);
    CHECK(info.driver[0] != 0 && memchr(info.driver, 0, sizeof info.driver) != NULL);
    CHECK(info.page_size == PAGE);
    CHECK(info.max_allocation_size >= PAGE);

    magma_memory_properties_t properties = {.s_type = MAGMA_STRUCTURE_TYPE_MEMORY_PROPERTIES, .size = sizeof properties};
    CHECK_STATUS(magma_get_memory_properties(physical_device, &properties), MAGMA_STATUS_OK);
    CHECK(properties.memory_type_count >= 1 && properties.memory_type_count <= MAGMA_MAX_MEMORY_TYPES);
    CHECK(properties.memory_heap_count >= 1 && properties.memory_heap_count <= MAGMA_MAX_MEMORY_HEAPS);
    for (uint32_t i = 0; i < properties.memory_type_count; i++) CHECK(properties.memory_types[i].heap_index < properties.memory_heap_count);
    for (uint32_t i = 0; i < properties.memory_heap_count; i++) CHECK(properties.memory_heaps[i].size > 0);
    return info;
}

static void test_info(magma_physical_device_t physical_device) {
    magma_physical_device_info_t info = check_info_and_memory(physical_device);
    CHECK(info.address_space_size > TARGET_VA + PAGE);

    uint32_t count = 0;
    CHECK_STATUS(magma_get_queue_family_properties(physical_device, &count, NULL), MAGMA_STATUS_OK);
    CHECK(count >= 2);   // compute and transfer at least
}

static uint32_t queue_family_count(magma_physical_device_t physical_device) {
    uint32_t count = 0;
    CHECK_STATUS(magma_get_queue_family_properties(physical_device, &count, NULL), MAGMA_STATUS_OK);
    return count;
}

// The bus fields: a known bus type, PCI fields only on PCI. Writes "pci DDDD:BB:DD.F",
// "platform" or "unknown" into text.
static void check_bus(const magma_physical_device_info_t *info, char *text, size_t size) {
    switch (info->bus_type) {
    case MAGMA_BUS_TYPE_PCI:
        CHECK(info->pci_device < 32 && info->pci_function < 8 && info->pci_bus < 256);
        CHECK(info->vendor_id != 0);
        snprintf(text, size, "pci %04x:%02x:%02x.%u", info->pci_domain, info->pci_bus, info->pci_device, info->pci_function);
        return;
    case MAGMA_BUS_TYPE_PLATFORM:
    case MAGMA_BUS_TYPE_UNKNOWN:
        CHECK(info->pci_domain == 0 && info->pci_bus == 0 && info->pci_device == 0 && info->pci_function == 0);
        snprintf(text, size, "%s", info->bus_type == MAGMA_BUS_TYPE_PLATFORM ? "platform" : "unknown");
        return;
    default:
        CHECK(!"a bus type magma_mesa.h defines");
        snprintf(text, size, "bad %u", info->bus_type);
    }
}

static void test_budget(magma_physical_device_t physical_device, magma_device_t device) {
    magma_memory_properties_t properties = {.s_type = MAGMA_STRUCTURE_TYPE_MEMORY_PROPERTIES, .size = sizeof properties};
    CHECK_STATUS(magma_get_memory_properties(physical_device, &properties), MAGMA_STATUS_OK);
    uint32_t heap = properties.memory_types[host_visible_type(physical_device)].heap_index;
    magma_heap_budget_t before = {.s_type = MAGMA_STRUCTURE_TYPE_HEAP_BUDGET, .size = sizeof before};
    CHECK_STATUS(magma_get_memory_budget(device, heap, &before), MAGMA_STATUS_OK);
    CHECK(before.budget > 0 && before.budget <= properties.memory_heaps[heap].size);
    magma_buffer_t buffer = make_buffer(device, host_visible_type(physical_device), 16 * PAGE, MAGMA_BUFFER_EXTERNAL);
    magma_heap_budget_t during = {.s_type = MAGMA_STRUCTURE_TYPE_HEAP_BUDGET, .size = sizeof during};
    CHECK_STATUS(magma_get_memory_budget(device, heap, &during), MAGMA_STATUS_OK);
    CHECK(during.usage >= before.usage + 16 * PAGE);
    magma_buffer_close(buffer);
    CHECK_STATUS(magma_get_memory_budget(device, properties.memory_heap_count, &during), MAGMA_STATUS_INVALID_ARGS);
}

static void test_binary_sync(magma_device_t device) {
    magma_sync_obj_t sync_obj = make_sync(device, MAGMA_SYNC_TYPE_BINARY, 0);
    magma_sync_type_t type = 99;
    CHECK_STATUS(magma_sync_obj_get_type(sync_obj, &type), MAGMA_STATUS_OK);
    CHECK(type == MAGMA_SYNC_TYPE_BINARY);
    CHECK_STATUS(magma_sync_obj_wait(sync_obj, 0), MAGMA_STATUS_TIMED_OUT);
    CHECK_STATUS(magma_sync_obj_signal(sync_obj), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_wait(sync_obj, SECOND), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_reset(sync_obj), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_wait(sync_obj, 1000000), MAGMA_STATUS_TIMED_OUT);
    CHECK_STATUS(magma_sync_obj_timeline_signal(sync_obj, 1), MAGMA_STATUS_INVALID_ARGS);

    // What the device claims, and sync_files exactly where it claims them.
    magma_sync_properties_t properties = {.s_type = MAGMA_STRUCTURE_TYPE_SYNC_PROPERTIES, .size = sizeof properties};
    CHECK_STATUS(magma_get_sync_properties(device, &properties), MAGMA_STATUS_OK);
    const magma_sync_capability_flags_t basic = MAGMA_SYNC_CAPABILITY_BINARY | MAGMA_SYNC_CAPABILITY_TIMELINE |
                                                MAGMA_SYNC_CAPABILITY_CPU_WAIT | MAGMA_SYNC_CAPABILITY_CPU_SIGNAL;
    CHECK((properties.capabilities & basic) == basic);
    CHECK_STATUS(magma_sync_obj_signal(sync_obj), MAGMA_STATUS_OK);   // a fence to export, where there are fences
    magma_external_handle_t sync_file = {.os_handle = -1};
    magma_status_t exported = magma_sync_obj_export(sync_obj, MAGMA_HANDLE_TYPE_SIGNAL_SYNC_FD, &sync_file);
    if (properties.capabilities & MAGMA_SYNC_CAPABILITY_EXPORT_SYNC_FD) {
        CHECK(exported == MAGMA_STATUS_OK && sync_file.os_handle >= 0);
        if (sync_file.os_handle >= 0) close((int)sync_file.os_handle);
    } else {
        CHECK(exported == MAGMA_STATUS_UNIMPLEMENTED);
    }
    magma_sync_obj_close(sync_obj);
}

static void test_submits(magma_physical_device_t physical_device) {
    rig_t rig = make_rig(physical_device);
    magma_sync_obj_t ready = make_sync(rig.device, MAGMA_SYNC_TYPE_BINARY, 0);
    magma_sync_obj_t done = make_sync(rig.device, MAGMA_SYNC_TYPE_BINARY, 0);

    // A submit with a wait and a signal: it runs only once `ready` is signalled.
    uint64_t length = fill_then_end(rig.command_bytes, TARGET_VA, PAGE, 0x5eed0001u);
    magma_sync_point_t wait = {.sync_obj = ready}, signal = {.sync_obj = done};
    CHECK_STATUS(submit(&rig, length, &wait, 1, &signal, 1), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_wait(done, 50000000), MAGMA_STATUS_TIMED_OUT);
    CHECK(!all_words_are(rig.target_words, PAGE, 0x5eed0001u));
    CHECK_STATUS(magma_sync_obj_signal(ready), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_wait(done, 10 * SECOND), MAGMA_STATUS_OK);
    CHECK(all_words_are(rig.target_words, PAGE, 0x5eed0001u));
    CHECK_STATUS(magma_queue_check_status(rig.queue), MAGMA_STATUS_OK);

    // 20 submits, each signalling the next point of a timeline.
    magma_sync_obj_t timeline = make_sync(rig.device, MAGMA_SYNC_TYPE_TIMELINE, 0);
    for (uint32_t i = 1; i <= 20; i++) {
        CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, i - 1, 10 * SECOND), MAGMA_STATUS_OK);
        length = fill_then_end(rig.command_bytes, TARGET_VA, PAGE, 0x70000000u + i);
        magma_sync_point_t point = {.sync_obj = timeline, .point = i};
        CHECK_STATUS(submit(&rig, length, NULL, 0, &point, 1), MAGMA_STATUS_OK);
    }
    CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, 20, 10 * SECOND), MAGMA_STATUS_OK);
    uint64_t value = 0;
    CHECK_STATUS(magma_sync_obj_timeline_query(timeline, &value), MAGMA_STATUS_OK);
    CHECK(value == 20);
    CHECK(all_words_are(rig.target_words, PAGE, 0x70000000u + 20));

    // Submission by GPU address: the same commands, named by where they are mapped.
    length = fill_then_end(rig.command_bytes, TARGET_VA, PAGE, 0x0add0001u);
    magma_submit_address_info_t where = {.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_ADDRESS_INFO, .size = sizeof where,
                                         .command_address = COMMANDS_VA, .length = length};
    magma_sync_point_t point = {.sync_obj = timeline, .point = 21};
    magma_submit_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_INFO, .size = sizeof info, .next = &where,
                                .signal_count = 1, .signals = &point};
    CHECK_STATUS(magma_queue_submit(rig.queue, &info), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, 21, 10 * SECOND), MAGMA_STATUS_OK);
    CHECK(all_words_are(rig.target_words, PAGE, 0x0add0001u));

    // A submit without a command location, and one with a wrong s_type, change nothing.
    info.next = NULL;
    CHECK_STATUS(magma_queue_submit(rig.queue, &info), MAGMA_STATUS_INVALID_ARGS);
    info.next = &where;
    info.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_BUFFER_INFO;
    CHECK_STATUS(magma_queue_submit(rig.queue, &info), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_queue_check_status(rig.queue), MAGMA_STATUS_OK);

    magma_sync_obj_close(timeline);
    magma_sync_obj_close(ready);
    magma_sync_obj_close(done);
    close_rig(&rig);
}

static void test_sharing(magma_physical_device_t physical_device) {
    rig_t first = make_rig(physical_device), second = make_rig(physical_device);

    // The fence: exported by the first device, imported by the second.
    magma_sync_obj_t fence = make_sync(first.device, MAGMA_SYNC_TYPE_BINARY, 0);
    magma_external_handle_t fence_handle = {0};
    CHECK_STATUS(magma_sync_obj_export(fence, MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD, &fence_handle), MAGMA_STATUS_OK);
    CHECK(fence_handle.os_handle >= 0 && fence_handle.handle_type == MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD);
    magma_sync_obj_t imported_fence = NULL;
    CHECK_STATUS(magma_import_sync_obj(second.device, &fence_handle, &imported_fence), MAGMA_STATUS_OK);

    // The buffer: the first device's target, imported by the second and mapped there.
    magma_external_handle_t buffer_handle = {0};
    CHECK_STATUS(magma_buffer_export(first.target, &buffer_handle), MAGMA_STATUS_OK);
    magma_import_buffer_info_t import = {.s_type = MAGMA_STRUCTURE_TYPE_IMPORT_BUFFER_INFO, .size = sizeof import,
                                         .handle = buffer_handle, .memory_type_index = host_visible_type(physical_device)};
    magma_buffer_t shared = NULL;
    CHECK_STATUS(magma_import_buffer(second.device, &import, &shared), MAGMA_STATUS_OK);
    const uint64_t shared_va = 0x30000000ull;
    CHECK_STATUS(magma_map_buffer_gpu(second.address_space, shared, 0, shared_va, PAGE, MAGMA_GPU_MAP_READ | MAGMA_GPU_MAP_WRITE), MAGMA_STATUS_OK);

    // The second device's submit waits on the imported fence and fills the shared buffer.
    magma_sync_obj_t done = make_sync(second.device, MAGMA_SYNC_TYPE_BINARY, 0);
    uint64_t length = fill_then_end(second.command_bytes, shared_va, PAGE, 0xfe11ce00u);
    magma_sync_point_t wait = {.sync_obj = imported_fence}, signal = {.sync_obj = done};
    CHECK_STATUS(submit(&second, length, &wait, 1, &signal, 1), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_wait(done, 50000000), MAGMA_STATUS_TIMED_OUT);
    CHECK_STATUS(magma_sync_obj_signal(fence), MAGMA_STATUS_OK);   // on the first device
    CHECK_STATUS(magma_sync_obj_wait(done, 10 * SECOND), MAGMA_STATUS_OK);
    CHECK(all_words_are(first.target_words, PAGE, 0xfe11ce00u));  // seen through the first device's mapping

    // Isolation: the second device's own target was never written.
    CHECK(all_words_are(second.target_words, PAGE, 0));

    CHECK_STATUS(magma_unmap_buffer_gpu(second.address_space, shared_va, PAGE), MAGMA_STATUS_OK);
    magma_buffer_close(shared);
    magma_sync_obj_close(done);
    magma_sync_obj_close(imported_fence);
    magma_sync_obj_close(fence);
    close_rig(&second);
    close_rig(&first);
}

static void test_timeline(magma_device_t device) {
    magma_sync_obj_t timeline = make_sync(device, MAGMA_SYNC_TYPE_TIMELINE, 5);
    magma_sync_type_t type = 99;
    CHECK_STATUS(magma_sync_obj_get_type(timeline, &type), MAGMA_STATUS_OK);
    CHECK(type == MAGMA_SYNC_TYPE_TIMELINE);
    uint64_t value = 0;
    CHECK_STATUS(magma_sync_obj_timeline_query(timeline, &value), MAGMA_STATUS_OK);
    CHECK(value == 5);
    CHECK_STATUS(magma_sync_obj_timeline_signal(timeline, 7), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_timeline_query(timeline, &value), MAGMA_STATUS_OK);
    CHECK(value == 7);
    CHECK_STATUS(magma_sync_obj_timeline_signal(timeline, 6), MAGMA_STATUS_INVALID_ARGS);   // backwards
    CHECK_STATUS(magma_sync_obj_timeline_signal(timeline, 7), MAGMA_STATUS_INVALID_ARGS);   // the same point
    CHECK_STATUS(magma_sync_obj_timeline_query(timeline, &value), MAGMA_STATUS_OK);
    CHECK(value == 7);
    CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, 6, 0), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, 7, SECOND), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, 8, 1000000), MAGMA_STATUS_TIMED_OUT);

    // Waits for several: any, then all.
    magma_sync_obj_t binary = make_sync(device, MAGMA_SYNC_TYPE_BINARY, 0);
    magma_sync_point_t points[2] = {{.sync_obj = binary}, {.sync_obj = timeline, .point = 7}};
    uint32_t first = 99;
    CHECK_STATUS(magma_sync_obj_wait_many(points, 2, 0, SECOND, &first), MAGMA_STATUS_OK);
    CHECK(first == 1);
    CHECK_STATUS(magma_sync_obj_wait_many(points, 2, MAGMA_WAIT_ALL, 1000000, NULL), MAGMA_STATUS_TIMED_OUT);
    CHECK_STATUS(magma_sync_obj_signal(binary), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_wait_many(points, 2, MAGMA_WAIT_ALL, SECOND, NULL), MAGMA_STATUS_OK);
    magma_sync_obj_close(binary);
    magma_sync_obj_close(timeline);
}

static void test_bad_arguments(magma_physical_device_t physical_device, magma_device_t device) {
    magma_physical_device_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_MEMORY_PROPERTIES, .size = sizeof info};
    CHECK_STATUS(magma_get_physical_device_info(physical_device, &info), MAGMA_STATUS_INVALID_ARGS);   // wrong s_type
    info.s_type = MAGMA_STRUCTURE_TYPE_PHYSICAL_DEVICE_INFO;
    info.size = 8;
    CHECK_STATUS(magma_get_physical_device_info(physical_device, &info), MAGMA_STATUS_INVALID_ARGS);   // smaller than the header
    CHECK_STATUS(magma_get_physical_device_info(physical_device, NULL), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_create_device(physical_device, NULL), MAGMA_STATUS_INVALID_ARGS);

    magma_create_buffer_info_t buffer_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_BUFFER_INFO, .size = sizeof buffer_info,
                                              .buffer_size = PAGE, .memory_type_index = MAGMA_MAX_MEMORY_TYPES};
    magma_buffer_t buffer = NULL;
    CHECK_STATUS(magma_create_buffer(device, &buffer_info, &buffer), MAGMA_STATUS_INVALID_ARGS);   // no such memory type
    CHECK(buffer == NULL);
    buffer_info.memory_type_index = 0;
    buffer_info.buffer_size = 0;
    CHECK_STATUS(magma_create_buffer(device, &buffer_info, &buffer), MAGMA_STATUS_INVALID_ARGS);

    magma_address_space_t address_space = NULL;
    CHECK_STATUS(magma_create_address_space(device, &address_space), MAGMA_STATUS_OK);
    magma_create_queue_info_t queue_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_QUEUE_INFO, .size = sizeof queue_info,
                                            .queue_family_index = 1000};
    magma_queue_t queue = NULL;
    // An unknown family; on a device without families every queue is UNIMPLEMENTED.
    CHECK_STATUS(magma_create_queue(device, address_space, &queue_info, &queue),
                 queue_family_count(physical_device) == 0 ? MAGMA_STATUS_UNIMPLEMENTED : MAGMA_STATUS_INVALID_ARGS);
    magma_address_space_close(address_space);

    magma_create_sync_obj_info_t sync_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_SYNC_OBJ_INFO, .size = sizeof sync_info, .sync_type = 7};
    magma_sync_obj_t sync_obj = NULL;
    CHECK_STATUS(magma_create_sync_obj(device, &sync_info, &sync_obj), MAGMA_STATUS_INVALID_ARGS);
    magma_external_handle_t handle = {.os_handle = -1, .handle_type = MAGMA_HANDLE_TYPE_SIGNAL_OPAQUE_FD};
    CHECK_STATUS(magma_import_sync_obj(device, &handle, &sync_obj), MAGMA_STATUS_INVALID_ARGS);
}

static uint32_t bind_family(magma_physical_device_t physical_device) {
    magma_queue_family_properties_t families[8];
    uint32_t count = 8;
    for (uint32_t i = 0; i < count; i++) families[i] = (magma_queue_family_properties_t){.s_type = MAGMA_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES, .size = sizeof families[i]};
    CHECK_STATUS(magma_get_queue_family_properties(physical_device, &count, families), MAGMA_STATUS_OK);
    for (uint32_t i = 0; i < count; i++)
        if (families[i].queue_flags == MAGMA_QUEUE_SPARSE_BINDING) return i;
    CHECK(!"a bind queue family");
    return 0;
}

// The bind queue: a map that takes effect once its wait point is reached, work ordered after
// its signal that fills the page it mapped, an unmap, and the operations the library refuses.
static void test_bind(magma_physical_device_t physical_device) {
    rig_t rig = make_rig(physical_device);
    magma_create_queue_info_t queue_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_QUEUE_INFO, .size = sizeof queue_info,
                                            .queue_family_index = bind_family(physical_device)};
    magma_queue_t binds = NULL;
    CHECK_STATUS(magma_create_queue(rig.device, rig.address_space, &queue_info, &binds), MAGMA_STATUS_OK);
    magma_buffer_t bound = make_buffer(rig.device, host_visible_type(physical_device), PAGE, MAGMA_BUFFER_EXTERNAL);
    uint32_t *bound_words = map_cpu(bound);
    magma_sync_obj_t timeline = make_sync(rig.device, MAGMA_SYNC_TYPE_TIMELINE, 0);
    const uint64_t bound_va = 0x40000000ull;

    magma_bind_operation_t map = {.kind = MAGMA_BIND_MAP, .flags = MAGMA_GPU_MAP_READ | MAGMA_GPU_MAP_WRITE, .buffer = bound,
                                  .gpu_address = bound_va, .size = PAGE};
    magma_sync_point_t wait = {.sync_obj = timeline, .point = 1}, signal = {.sync_obj = timeline, .point = 2};
    magma_bind_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_BIND_INFO, .size = sizeof info, .operation_count = 1, .wait_count = 1,
                              .signal_count = 1, .operations = &map, .waits = &wait, .signals = &signal};
    CHECK_STATUS(magma_queue_bind(binds, &info), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, 2, 50000000), MAGMA_STATUS_TIMED_OUT);   // waits for point 1

    uint64_t length = fill_then_end(rig.command_bytes, bound_va, PAGE, 0xb1d00001u);
    magma_sync_point_t after_bind = {.sync_obj = timeline, .point = 2}, filled = {.sync_obj = timeline, .point = 3};
    CHECK_STATUS(submit(&rig, length, &after_bind, 1, &filled, 1), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_timeline_signal(timeline, 1), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, 3, 10 * SECOND), MAGMA_STATUS_OK);
    CHECK(all_words_are(bound_words, PAGE, 0xb1d00001u));

    // What the library refuses, before anything reaches the device.
    magma_bind_operation_t bad = map;
    bad.kind = 7;
    info = (magma_bind_info_t){.s_type = MAGMA_STRUCTURE_TYPE_BIND_INFO, .size = sizeof info, .operation_count = 1, .operations = &bad};
    CHECK_STATUS(magma_queue_bind(binds, &info), MAGMA_STATUS_INVALID_ARGS);             // unknown kind
    bad = (magma_bind_operation_t){.kind = MAGMA_BIND_UNMAP, .buffer = bound, .gpu_address = bound_va, .size = PAGE};
    CHECK_STATUS(magma_queue_bind(binds, &info), MAGMA_STATUS_INVALID_ARGS);             // an unmap naming a buffer
    bad = map;   // overlaps the mapping the first bind made
    CHECK_STATUS(magma_queue_bind(binds, &info), MAGMA_STATUS_INVALID_ARGS);
    info.operation_count = 0;
    CHECK_STATUS(magma_queue_bind(binds, &info), MAGMA_STATUS_INVALID_ARGS);
    info.operation_count = 1;
    CHECK_STATUS(magma_queue_bind(rig.queue, &info), MAGMA_STATUS_INVALID_ARGS);         // a compute queue
    CHECK_STATUS(submit(&(rig_t){.queue = binds, .commands = rig.commands}, length, NULL, 0, NULL, 0), MAGMA_STATUS_INVALID_ARGS);

    // An unmap by bind: afterwards the address space's own unmap finds nothing there.
    magma_bind_operation_t unmap = {.kind = MAGMA_BIND_UNMAP, .gpu_address = bound_va, .size = PAGE};
    magma_sync_point_t unmapped = {.sync_obj = timeline, .point = 4};
    info = (magma_bind_info_t){.s_type = MAGMA_STRUCTURE_TYPE_BIND_INFO, .size = sizeof info, .operation_count = 1,
                               .signal_count = 1, .operations = &unmap, .signals = &unmapped};
    CHECK_STATUS(magma_queue_bind(binds, &info), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_sync_obj_timeline_wait(timeline, 4, 10 * SECOND), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_unmap_buffer_gpu(rig.address_space, bound_va, PAGE), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_queue_check_status(binds), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_queue_check_status(rig.queue), MAGMA_STATUS_OK);

    magma_sync_obj_close(timeline);
    magma_buffer_close(bound);
    magma_queue_close(binds);
    close_rig(&rig);
}

// Handles are table entries, not addresses: closed, made-up and wrong-kind handles are
// INVALID_ARGS, a second close is harmless, and closing a device closes what it made.
static void test_handles(magma_physical_device_t physical_device) {
    rig_t rig = make_rig(physical_device);
    magma_sync_obj_t sync_obj = make_sync(rig.device, MAGMA_SYNC_TYPE_BINARY, 0);

    // The wrong kind: a buffer as a queue, a queue as a sync object, a made-up pointer.
    magma_submit_buffer_info_t where = {.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_BUFFER_INFO, .size = sizeof where,
                                        .command_buffer = rig.commands, .length = 16};
    magma_submit_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_INFO, .size = sizeof info, .next = &where};
    CHECK_STATUS(magma_queue_submit((magma_queue_t)rig.commands, &info), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_sync_obj_signal((magma_sync_obj_t)rig.queue), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_sync_obj_signal((magma_sync_obj_t)(uintptr_t)0xdeadbeef), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_queue_check_status(NULL), MAGMA_STATUS_INVALID_ARGS);

    // A chain that loops on itself, and one that names the commands twice.
    magma_submit_buffer_info_t looping = where;
    looping.next = &looping;
    info.next = &looping;
    CHECK_STATUS(magma_queue_submit(rig.queue, &info), MAGMA_STATUS_INVALID_ARGS);
    magma_submit_buffer_info_t twice = where;
    twice.next = &where;
    info.next = &twice;
    CHECK_STATUS(magma_queue_submit(rig.queue, &info), MAGMA_STATUS_INVALID_ARGS);
    // A wait list whose count has no array, and a wild count.
    info.next = &where;
    info.wait_count = 1;
    CHECK_STATUS(magma_queue_submit(rig.queue, &info), MAGMA_STATUS_INVALID_ARGS);
    magma_sync_point_t one = {.sync_obj = sync_obj};
    info.waits = &one;
    info.wait_count = 1u << 30;
    CHECK_STATUS(magma_queue_submit(rig.queue, &info), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_queue_check_status(rig.queue), MAGMA_STATUS_OK);   // none of it reached the device

    // Closed handles: use after close and a second close.
    magma_sync_obj_close(sync_obj);
    CHECK_STATUS(magma_sync_obj_signal(sync_obj), MAGMA_STATUS_INVALID_ARGS);
    magma_sync_obj_close(sync_obj);
    magma_buffer_t spare = make_buffer(rig.device, host_visible_type(physical_device), PAGE, MAGMA_BUFFER_EXTERNAL);
    magma_buffer_close(spare);
    magma_buffer_close(spare);
    magma_cpu_mapping_t mapping;
    CHECK_STATUS(magma_buffer_map_cpu(spare, &mapping), MAGMA_STATUS_INVALID_ARGS);

    // Closing the device closes its address space, queue and buffers: their handles are gone.
    magma_device_close(rig.device);
    CHECK_STATUS(magma_queue_check_status(rig.queue), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_buffer_map_cpu(rig.target, &mapping), MAGMA_STATUS_INVALID_ARGS);
    CHECK_STATUS(magma_unmap_buffer_gpu(rig.address_space, TARGET_VA, PAGE), MAGMA_STATUS_INVALID_ARGS);
    magma_device_close(rig.device);
    magma_queue_close(rig.queue);
    magma_buffer_close(rig.commands);
    magma_address_space_close(rig.address_space);
}

// ---- a device that runs no work (no queue families): what it supports ----

static void test_info_without_queues(magma_physical_device_t physical_device) {
    (void)check_info_and_memory(physical_device);

    // No families: an empty array is written as nothing, and the count stays 0.
    magma_queue_family_properties_t family = {.s_type = MAGMA_STRUCTURE_TYPE_QUEUE_FAMILY_PROPERTIES, .size = sizeof family};
    uint32_t count = 1;
    CHECK_STATUS(magma_get_queue_family_properties(physical_device, &count, &family), MAGMA_STATUS_OK);
    CHECK(count == 0);
}

// Buffers: made, mapped and written on one device, exported, imported by a second and read there.
static void test_buffers_without_queues(magma_physical_device_t physical_device) {
    magma_device_t first = NULL, second = NULL;
    CHECK_STATUS(magma_create_device(physical_device, &first), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_create_device(physical_device, &second), MAGMA_STATUS_OK);
    uint32_t memory_type = host_visible_type(physical_device);
    magma_buffer_t buffer = make_buffer(first, memory_type, 2 * PAGE, MAGMA_BUFFER_EXTERNAL);
    uint32_t *words = map_cpu(buffer);
    if (words) for (uint32_t i = 0; i < 2 * PAGE / 4; i++) words[i] = 0xd7a00000u + i;
    magma_external_handle_t handle = {0};
    CHECK_STATUS(magma_buffer_export(buffer, &handle), MAGMA_STATUS_OK);
    magma_import_buffer_info_t import = {.s_type = MAGMA_STRUCTURE_TYPE_IMPORT_BUFFER_INFO, .size = sizeof import,
                                         .handle = handle, .memory_type_index = memory_type};
    magma_buffer_t imported = NULL;
    CHECK_STATUS(magma_import_buffer(second, &import, &imported), MAGMA_STATUS_OK);
    const uint32_t *seen = imported ? map_cpu(imported) : NULL;
    int same = seen != NULL;
    for (uint32_t i = 0; same && i < 2 * PAGE / 4; i++) same = seen[i] == 0xd7a00000u + i;
    CHECK(same);
    magma_buffer_close(imported);
    magma_buffer_close(buffer);
    magma_device_close(second);
    magma_device_close(first);
}

// Queues and budgets are UNIMPLEMENTED, and the refusal leaves the address space usable.
static void test_no_queues(magma_physical_device_t physical_device, magma_device_t device) {
    magma_address_space_t address_space = NULL;
    CHECK_STATUS(magma_create_address_space(device, &address_space), MAGMA_STATUS_OK);
    magma_create_queue_info_t queue_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_QUEUE_INFO, .size = sizeof queue_info};
    magma_queue_t queue = NULL;
    CHECK_STATUS(magma_create_queue(device, address_space, &queue_info, &queue), MAGMA_STATUS_UNIMPLEMENTED);
    CHECK(queue == NULL);
    magma_heap_budget_t budget = {.s_type = MAGMA_STRUCTURE_TYPE_HEAP_BUDGET, .size = sizeof budget};
    CHECK_STATUS(magma_get_memory_budget(device, 0, &budget), MAGMA_STATUS_UNIMPLEMENTED);
    magma_buffer_t buffer = make_buffer(device, host_visible_type(physical_device), PAGE, MAGMA_BUFFER_EXTERNAL);
    CHECK_STATUS(magma_map_buffer_gpu(address_space, buffer, 0, TARGET_VA, PAGE, MAGMA_GPU_MAP_READ), MAGMA_STATUS_UNIMPLEMENTED);
    magma_buffer_close(buffer);
    magma_address_space_close(address_space);
}

// The sync objects the device claims work; a kind it does not claim is UNIMPLEMENTED.
static void test_sync_where_claimed(magma_device_t device) {
    magma_sync_properties_t properties = {.s_type = MAGMA_STRUCTURE_TYPE_SYNC_PROPERTIES, .size = sizeof properties};
    CHECK_STATUS(magma_get_sync_properties(device, &properties), MAGMA_STATUS_OK);
    magma_create_sync_obj_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_SYNC_OBJ_INFO, .size = sizeof info,
                                         .sync_type = MAGMA_SYNC_TYPE_BINARY};
    magma_sync_obj_t sync_obj = NULL;
    if (properties.capabilities & MAGMA_SYNC_CAPABILITY_TIMELINE) {
        test_binary_sync(device);   // it checks the whole basic set is claimed
        test_timeline(device);
    } else if (properties.capabilities & MAGMA_SYNC_CAPABILITY_BINARY) {
        CHECK(!"binary sync objects without timelines: no DRM device here claims that");
    } else {
        CHECK(properties.capabilities == 0);
        CHECK_STATUS(magma_create_sync_obj(device, &info, &sync_obj), MAGMA_STATUS_UNIMPLEMENTED);
        info.sync_type = MAGMA_SYNC_TYPE_TIMELINE;
        CHECK_STATUS(magma_create_sync_obj(device, &info, &sync_obj), MAGMA_STATUS_UNIMPLEMENTED);
        CHECK(sync_obj == NULL);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s EXPECTED_DEVICE_COUNT\n", argv[0]);
        return 2;
    }
    uint32_t expected = (uint32_t)strtoul(argv[1], NULL, 10);

    uint32_t count = 0;
    CHECK_STATUS(magma_enumerate_physical_devices(NULL, &count), MAGMA_STATUS_OK);
    CHECK(count == expected);
    magma_physical_device_t devices[MAGMA_MAX_PHYSICAL_DEVICES] = {0};
    count = MAGMA_MAX_PHYSICAL_DEVICES;
    CHECK_STATUS(magma_enumerate_physical_devices(devices, &count), MAGMA_STATUS_OK);
    CHECK(count == expected);
    CHECK_STATUS(magma_enumerate_physical_devices(NULL, NULL), MAGMA_STATUS_INVALID_ARGS);

    for (uint32_t i = 0; i < count; i++) {
        magma_physical_device_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_PHYSICAL_DEVICE_INFO, .size = sizeof info};
        magma_get_physical_device_info(devices[i], &info);
        int failures_before = check_failures();
        char bus[64];
        check_bus(&info, bus, sizeof bus);
        magma_device_t device = NULL;
        if (queue_family_count(devices[i]) == 0) {
            test_info_without_queues(devices[i]);
            CHECK_STATUS(magma_create_device(devices[i], &device), MAGMA_STATUS_OK);
            test_sync_where_claimed(device);
            test_no_queues(devices[i], device);
            test_bad_arguments(devices[i], device);
            magma_device_close(device);
            test_buffers_without_queues(devices[i]);
            printf("device %u (%s, %s, bus %s): %d failures; queue checks skipped: it has no queue families "
                   "(its driver runs no work here; budgets are UNIMPLEMENTED too)\n",
                   i, info.name, info.driver, bus, check_failures() - failures_before);
            magma_physical_device_close(devices[i]);
            continue;
        }
        test_info(devices[i]);
        CHECK_STATUS(magma_create_device(devices[i], &device), MAGMA_STATUS_OK);
        test_budget(devices[i], device);
        test_binary_sync(device);
        test_timeline(device);
        test_bad_arguments(devices[i], device);
        magma_device_close(device);
        test_submits(devices[i]);
        test_sharing(devices[i]);
        test_bind(devices[i]);
        test_handles(devices[i]);
        printf("device %u (%s, %s, bus %s): %d failures\n", i, info.name, info.driver, bus, check_failures() - failures_before);
        magma_physical_device_close(devices[i]);
    }
    printf("%d checks, %d failures\n", check_count(), check_failures());
    return check_failures() == 0 ? 0 : 1;
}
