// Fills a buffer on the GPU, copies it to another, and checks the copy from the CPU, through
// the C API of libmagma.so.
//
//   cc fill_copy.c $(pkg-config --cflags --libs magma) -o fill_copy
//   ./fill_copy [DEVICE]      DEVICE: a magmad endpoint or "embedded" (the default: the first
//                             device magma_enumerate_devices finds)
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "magma.h"

#define CHECK(call)                                                                      \
    do {                                                                                 \
        magma_status_t status_ = (call);                                                 \
        if (status_ != MAGMA_STATUS_OK) {                                                \
            fprintf(stderr, "%s failed: status %d\n", #call, status_);                   \
            return 1;                                                                    \
        }                                                                                \
    } while (0)

enum { SIZE = 64 * 1024, PATTERN = 0x600DF00D };

// SoftGPU commands (docs/softgpu.md): a header {u32 opcode, u32 size in bytes}, then fields.
static size_t put(uint8_t *at, const void *value, size_t size) {
    memcpy(at, value, size);
    return size;
}

static size_t encode_fill_copy_end(uint8_t *out, uint64_t source, uint64_t target) {
    size_t n = 0;
    uint32_t fill[2] = {1, 32}, copy[2] = {2, 32}, end[2] = {0, 8}, pattern[2] = {PATTERN, 0};
    uint64_t size = SIZE;
    n += put(out + n, fill, 8), n += put(out + n, &source, 8), n += put(out + n, &size, 8), n += put(out + n, pattern, 8);
    n += put(out + n, copy, 8), n += put(out + n, &source, 8), n += put(out + n, &target, 8), n += put(out + n, &size, 8);
    n += put(out + n, end, 8);
    return n;
}

static void *cpu_map(magma_buffer_t buffer, size_t size) {
    magma_handle_t handle;
    if (magma_buffer_get_handle(buffer, &handle) != MAGMA_STATUS_OK) return NULL;
    void *address = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, (int)handle, 0);
    close((int)handle);
    return address == MAP_FAILED ? NULL : address;
}

int main(int argc, char **argv) {
    char paths[8][256];
    uint32_t count = 8;
    CHECK(magma_enumerate_devices(MAGMA_DEVICE_NAMESPACE, 0, &count, sizeof(paths[0]), &paths[0][0]));
    const char *path = argc > 1 ? argv[1] : paths[0];

    magma_device_t device;
    CHECK(magma_device_open(path, &device));
    uint64_t vendor;
    CHECK(magma_device_query(device, MAGMA_QUERY_VENDOR_ID, NULL, &vendor));
    printf("device %s, vendor 0x%llx\n", path, (unsigned long long)vendor);

    magma_connection_t connection;
    CHECK(magma_device_create_connection(device, &connection));
    uint32_t context;
    CHECK(magma_connection_create_context2(connection, MAGMA_PRIORITY_MEDIUM, &context));

    uint64_t size;
    magma_buffer_t source, target, commands;
    magma_buffer_id_t source_id, target_id, commands_id;
    CHECK(magma_connection_create_buffer(connection, SIZE, &size, &source, &source_id));
    CHECK(magma_connection_create_buffer(connection, SIZE, &size, &target, &target_id));
    CHECK(magma_connection_create_buffer(connection, 4096, &size, &commands, &commands_id));

    // The client chooses GPU addresses.
    const uint64_t source_va = 0x10000000, target_va = 0x20000000;
    CHECK(magma_connection_map_buffer(connection, source_va, source, 0, SIZE, MAGMA_MAP_FLAG_READ | MAGMA_MAP_FLAG_WRITE));
    CHECK(magma_connection_map_buffer(connection, target_va, target, 0, SIZE, MAGMA_MAP_FLAG_READ | MAGMA_MAP_FLAG_WRITE));

    uint8_t *command_bytes = cpu_map(commands, 4096);
    uint32_t *copied = cpu_map(target, SIZE);
    if (!command_bytes || !copied) {
        fprintf(stderr, "cannot map buffers\n");
        return 1;
    }
    size_t command_size = encode_fill_copy_end(command_bytes, source_va, target_va);

    magma_semaphore_t done;
    magma_semaphore_id_t done_id;
    CHECK(magma_connection_create_semaphore(connection, &done, &done_id));
    magma_exec_resource_t resource = {.buffer_id = commands_id, .offset = 0, .length = command_size};
    magma_exec_command_buffer_t command_buffer = {.resource_index = 0, .start_offset = 0};
    magma_command_descriptor_t descriptor = {
        .resource_count = 1, .command_buffer_count = 1, .wait_semaphore_count = 0, .signal_semaphore_count = 1,
        .resources = &resource, .command_buffers = &command_buffer, .semaphore_ids = &done_id, .flags = 0};
    CHECK(magma_connection_execute_command(connection, context, &descriptor));

    magma_poll_item_t item = {.semaphore = done, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_SIGNALED};
    CHECK(magma_poll(&item, 1, 5000000000ull));
    CHECK(magma_connection_get_error(connection));

    size_t mismatches = 0;
    for (size_t index = 0; index < SIZE / 4; index++) mismatches += copied[index] != PATTERN;
    printf("filled and copied %d bytes on the GPU: %s\n", SIZE, mismatches == 0 ? "verified" : "MISMATCH");

    munmap(command_bytes, 4096);
    munmap(copied, SIZE);
    magma_connection_release(connection);
    magma_device_release(device);
    return mismatches == 0 ? 0 : 1;
}
