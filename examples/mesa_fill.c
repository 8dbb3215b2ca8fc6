// Fills a buffer on the GPU through Mesa's Magma API (libmagma_mesa.so), with a timeline
// ordering the work, and checks the result from the CPU.
//
//   cc mesa_fill.c $(pkg-config --cflags --libs magma-mesa) -o mesa_fill
//   ./mesa_fill               (the first physical device enumeration finds)
#include <stdio.h>
#include <string.h>

#include "magma_mesa.h"

#define CHECK(call)                                                    \
    do {                                                               \
        magma_status_t status_ = (call);                               \
        if (status_ != MAGMA_STATUS_OK) {                              \
            fprintf(stderr, "%s failed: status %d\n", #call, status_); \
            return 1;                                                  \
        }                                                              \
    } while (0)

enum { SIZE = 64 * 1024, PATTERN = 0x600DF00D };
static const uint64_t COMMANDS_VA = 0x10000000ull, TARGET_VA = 0x20000000ull;

int main(void) {
    magma_physical_device_t physical = NULL;
    uint32_t count = 1;
    CHECK(magma_enumerate_physical_devices(&physical, &count));
    if (count == 0) {
        fprintf(stderr, "no physical device\n");
        return 1;
    }
    magma_physical_device_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_PHYSICAL_DEVICE_INFO, .size = sizeof info};
    CHECK(magma_get_physical_device_info(physical, &info));

    magma_device_t device = NULL;
    magma_address_space_t space = NULL;
    magma_queue_t queue = NULL;
    CHECK(magma_create_device(physical, &device));
    CHECK(magma_create_address_space(device, &space));
    magma_create_queue_info_t queue_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_QUEUE_INFO, .size = sizeof queue_info};
    CHECK(magma_create_queue(device, space, &queue_info, &queue));   // family 0: compute and transfer

    magma_create_buffer_info_t buffer_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_BUFFER_INFO, .size = sizeof buffer_info,
                                              .buffer_size = SIZE};   // memory type 0: host visible
    magma_buffer_t commands = NULL, target = NULL;
    CHECK(magma_create_buffer(device, &buffer_info, &commands));
    CHECK(magma_create_buffer(device, &buffer_info, &target));
    magma_cpu_mapping_t command_bytes, target_bytes;
    CHECK(magma_buffer_map_cpu(commands, &command_bytes));
    CHECK(magma_buffer_map_cpu(target, &target_bytes));
    CHECK(magma_map_buffer_gpu(space, commands, 0, COMMANDS_VA, SIZE, MAGMA_GPU_MAP_READ | MAGMA_GPU_MAP_EXECUTE));
    CHECK(magma_map_buffer_gpu(space, target, 0, TARGET_VA, SIZE, MAGMA_GPU_MAP_READ | MAGMA_GPU_MAP_WRITE));

    // SoftGPU commands (docs/softgpu.md): fill {1, 32, address, size, pattern, 0}, end {0, 8}.
    uint32_t fill[8] = {1, 32, (uint32_t)TARGET_VA, (uint32_t)(TARGET_VA >> 32), SIZE, 0, PATTERN, 0};
    uint32_t end[2] = {0, 8};
    memcpy(command_bytes.address, fill, sizeof fill);
    memcpy((uint8_t *)command_bytes.address + sizeof fill, end, sizeof end);

    magma_create_sync_obj_info_t sync_info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_SYNC_OBJ_INFO, .size = sizeof sync_info,
                                              .sync_type = MAGMA_SYNC_TYPE_TIMELINE};
    magma_sync_obj_t timeline = NULL;
    CHECK(magma_create_sync_obj(device, &sync_info, &timeline));
    magma_submit_buffer_info_t where = {.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_BUFFER_INFO, .size = sizeof where,
                                        .command_buffer = commands, .length = sizeof fill + sizeof end};
    magma_sync_point_t done = {.sync_obj = timeline, .point = 1};
    magma_submit_info_t submit = {.s_type = MAGMA_STRUCTURE_TYPE_SUBMIT_INFO, .size = sizeof submit, .next = &where,
                                  .signal_count = 1, .signals = &done};
    CHECK(magma_queue_submit(queue, &submit));
    CHECK(magma_sync_obj_timeline_wait(timeline, 1, 10000000000ull));

    const uint32_t *words = target_bytes.address;
    for (size_t i = 0; i < SIZE / 4; i++) {
        if (words[i] != PATTERN) {
            fprintf(stderr, "word %zu is 0x%08x, expected 0x%08x\n", i, words[i], PATTERN);
            return 1;
        }
    }
    printf("%s (%s): filled and verified %d bytes\n", info.name, info.driver, SIZE);

    magma_sync_obj_close(timeline);
    magma_buffer_close(commands);
    magma_buffer_close(target);
    magma_queue_close(queue);
    magma_address_space_close(space);
    magma_device_close(device);
    magma_physical_device_close(physical);
    return 0;
}
