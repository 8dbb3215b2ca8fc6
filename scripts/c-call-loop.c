// The C API calls scripts/c-call-instructions.sh counts, in a loop on the embedded device:
//
//   c-call-loop ITERATIONS CALL
//
// CALL is map (map_buffer + unmap_buffer), error (get_error), op (perform_buffer_op,
// POPULATE_TABLES), info (buffer_get_info) or create (create_buffer + release_buffer). Exits
// nonzero if a call fails.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "magma.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ITERATIONS map|error|op|info|create\n", argv[0]);
        return 2;
    }
    int iterations = atoi(argv[1]);
    const char *call = argv[2];
    magma_device_t device;
    magma_connection_t connection;
    magma_buffer_t buffer;
    magma_buffer_id_t id;
    uint64_t size;
    if (magma_device_open(MAGMA_DEVICE_PATH_EMBEDDED, &device) != MAGMA_STATUS_OK ||
        magma_device_create_connection(device, &connection) != MAGMA_STATUS_OK ||
        magma_connection_create_buffer(connection, 4096, &size, &buffer, &id) != MAGMA_STATUS_OK) {
        fprintf(stderr, "set-up failed\n");
        return 1;
    }
    for (int index = 0; index < iterations; index++) {
        magma_status_t status = MAGMA_STATUS_OK;
        if (!strcmp(call, "map")) {
            status = magma_connection_map_buffer(connection, 0x100000, buffer, 0, 4096, MAGMA_MAP_FLAG_READ);
            magma_connection_unmap_buffer(connection, 0x100000, buffer);
        } else if (!strcmp(call, "error")) {
            status = magma_connection_get_error(connection);
        } else if (!strcmp(call, "op")) {
            status = magma_connection_perform_buffer_op(connection, buffer, MAGMA_BUFFER_RANGE_OP_POPULATE_TABLES, 0, 4096);
        } else if (!strcmp(call, "info")) {
            magma_buffer_info_t info;
            status = magma_buffer_get_info(buffer, &info);
        } else if (!strcmp(call, "create")) {
            magma_buffer_t created;
            status = magma_connection_create_buffer(connection, 4096, &size, &created, &id);
            magma_connection_release_buffer(connection, created);
        } else {
            fprintf(stderr, "unknown call %s\n", call);
            return 2;
        }
        if (status != MAGMA_STATUS_OK) {
            fprintf(stderr, "%s failed: %d\n", call, status);
            return 1;
        }
    }
    magma_status_t status = magma_connection_flush(connection);
    magma_connection_release(connection);
    magma_device_release(device);
    return status == MAGMA_STATUS_OK ? 0 : 1;
}
