// A kernel driver's buffer used by GPU work through the C API (magma.h): a buffer made on a
// DRM device (vgem's dumb buffer), exported as a dma-buf with magma_buffer_export, imported
// into the embedded device with magma_connection_import_buffer, copied from and filled there by
// SoftGPU work; the driver's own mapping of its buffer sees the fill. It needs a DRM device, so
// it runs in the QEMU guest (.ci/run; docs/drm.md), not in `swift test`.
//
//   magma-c-dmabuf-tests DRM_DEVICE        (a name `magmactl devices` lists: drm/renderD128)
//
// Prints every failed check and a summary; exits 0 only if every check passed.
#define _GNU_SOURCE
#include <linux/dma-buf.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "c_test_checks.h"
#include "magma.h"

enum { PAGE = 4096, PAGES = 4 };
static const uint64_t SHARED_VA = 0x1000000, COPY_VA = 0x2000000;

// ---- SoftGPU commands (docs/softgpu.md): {u32 opcode, u32 size} then the fields ----

typedef struct {
    uint8_t bytes[256];
    size_t size;
} commands_t;

static void put32(commands_t *c, uint32_t value) { memcpy(c->bytes + c->size, &value, 4), c->size += 4; }
static void put64(commands_t *c, uint64_t value) { memcpy(c->bytes + c->size, &value, 8), c->size += 8; }
static void fill(commands_t *c, uint64_t address, uint64_t size, uint32_t pattern) {
    put32(c, 1), put32(c, 32), put64(c, address), put64(c, size), put32(c, pattern), put32(c, 0);
}
static void copy(commands_t *c, uint64_t source, uint64_t destination, uint64_t size) {
    put32(c, 2), put32(c, 32), put64(c, source), put64(c, destination), put64(c, size);
}
static void end(commands_t *c) { put32(c, 0), put32(c, 8); }

// DMA_BUF_IOCTL_SYNC around a CPU access of a dma-buf mapping.
static void cpu_access(int dma_buf, int begin) {
    struct dma_buf_sync sync = {.flags = (begin ? DMA_BUF_SYNC_START : DMA_BUF_SYNC_END) | DMA_BUF_SYNC_RW};
    CHECK(ioctl(dma_buf, DMA_BUF_IOCTL_SYNC, &sync) == 0);
}

// The first word that is not `pattern` in [first, first + count), or -1.
static long first_other(const uint32_t *words, size_t first, size_t count, uint32_t pattern) {
    for (size_t i = first; i < first + count; i++)
        if (words[i] != pattern) return (long)i;
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DRM_DEVICE\n", argv[0]);
        return 2;
    }

    // The kernel driver's buffer, written through its dma-buf's mapping.
    magma_device_t drm_device = 0;
    CHECK_STATUS(magma_device_open(argv[1], &drm_device), MAGMA_STATUS_OK);
    magma_connection_t drm = 0;
    CHECK_STATUS(magma_device_create_connection(drm_device, &drm), MAGMA_STATUS_OK);
    magma_buffer_t kernel_buffer = 0;
    magma_buffer_id_t kernel_id = 0;
    uint64_t size = 0;
    CHECK_STATUS(magma_connection_create_buffer(drm, PAGES * PAGE, &size, &kernel_buffer, &kernel_id), MAGMA_STATUS_OK);
    CHECK(size == PAGES * PAGE);
    magma_handle_t view = 0;
    CHECK_STATUS(magma_buffer_get_handle(kernel_buffer, &view), MAGMA_STATUS_OK);
    uint32_t *driver_words = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, (int)view, 0);
    CHECK(driver_words != MAP_FAILED);
    if (driver_words == MAP_FAILED) driver_words = NULL;
    if (driver_words) {
        cpu_access((int)view, 1);
        for (uint32_t i = 0; i < PAGE / 4; i++) driver_words[i] = 0xd1a60000u + i;
        cpu_access((int)view, 0);
    }

    // Its dma-buf, imported into the embedded device: the same size, an id of that connection.
    magma_handle_t dma_buf = 0;
    CHECK_STATUS(magma_buffer_export(kernel_buffer, &dma_buf), MAGMA_STATUS_OK);
    magma_device_t embedded_device = 0;
    CHECK_STATUS(magma_device_open(MAGMA_DEVICE_PATH_EMBEDDED, &embedded_device), MAGMA_STATUS_OK);
    magma_connection_t connection = 0;
    CHECK_STATUS(magma_device_create_connection(embedded_device, &connection), MAGMA_STATUS_OK);
    magma_buffer_t shared = 0;
    magma_buffer_id_t shared_id = 0;
    uint64_t shared_size = 0;
    CHECK_STATUS(magma_connection_import_buffer(connection, dma_buf, &shared_size, &shared, &shared_id), MAGMA_STATUS_OK);
    CHECK(shared_size == PAGES * PAGE && shared_id != 0);
    magma_buffer_info_t info = {0};
    CHECK_STATUS(magma_buffer_get_info(shared, &info), MAGMA_STATUS_OK);
    CHECK(info.size == PAGES * PAGE && info.committed_byte_count == PAGES * PAGE);   // the driver's pages, resident

    // SoftGPU copies the driver's first page out and fills the other three.
    uint32_t context = 0;
    CHECK_STATUS(magma_connection_create_context2(connection, MAGMA_PRIORITY_MEDIUM, &context), MAGMA_STATUS_OK);
    magma_buffer_t copied = 0, commands = 0;
    magma_buffer_id_t copied_id = 0, commands_id = 0;
    CHECK_STATUS(magma_connection_create_buffer(connection, PAGE, &size, &copied, &copied_id), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_create_buffer(connection, PAGE, &size, &commands, &commands_id), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_map_buffer(connection, SHARED_VA, shared, 0, PAGES * PAGE, MAGMA_MAP_FLAG_READ | MAGMA_MAP_FLAG_WRITE), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_map_buffer(connection, COPY_VA, copied, 0, PAGE, MAGMA_MAP_FLAG_READ | MAGMA_MAP_FLAG_WRITE), MAGMA_STATUS_OK);
    commands_t stream = {.size = 0};
    copy(&stream, SHARED_VA, COPY_VA, PAGE);
    fill(&stream, SHARED_VA + PAGE, (PAGES - 1) * PAGE, 0x50f76900u);
    end(&stream);
    magma_handle_t commands_handle = 0;
    CHECK_STATUS(magma_buffer_get_handle(commands, &commands_handle), MAGMA_STATUS_OK);
    void *commands_cpu = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, (int)commands_handle, 0);
    close((int)commands_handle);
    CHECK(commands_cpu != MAP_FAILED);
    if (commands_cpu != MAP_FAILED) memcpy(commands_cpu, stream.bytes, stream.size);

    magma_semaphore_t done = 0;
    magma_semaphore_id_t done_id = 0;
    CHECK_STATUS(magma_connection_create_semaphore(connection, &done, &done_id), MAGMA_STATUS_OK);
    magma_exec_resource_t resources[] = {{.buffer_id = commands_id, .offset = 0, .length = stream.size}};
    magma_exec_command_buffer_t command_buffer = {.resource_index = 0, .start_offset = 0};
    uint64_t semaphore_ids[] = {done_id};
    magma_command_descriptor_t descriptor = {
        .resource_count = 1, .command_buffer_count = 1, .signal_semaphore_count = 1,
        .resources = resources, .command_buffers = &command_buffer, .semaphore_ids = semaphore_ids};
    CHECK_STATUS(magma_connection_execute_command(connection, context, &descriptor), MAGMA_STATUS_OK);
    magma_poll_item_t item = {.semaphore = done, .type = MAGMA_POLL_TYPE_SEMAPHORE, .condition = MAGMA_POLL_CONDITION_SIGNALED};
    CHECK_STATUS(magma_poll(&item, 1, 60000000000ull), MAGMA_STATUS_OK);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);

    // The GPU read the driver's bytes...
    magma_handle_t copied_handle = 0;
    CHECK_STATUS(magma_buffer_get_handle(copied, &copied_handle), MAGMA_STATUS_OK);
    const uint32_t *copy_words = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, (int)copied_handle, 0);
    close((int)copied_handle);
    CHECK(copy_words != MAP_FAILED);
    int same = copy_words != MAP_FAILED;
    for (uint32_t i = 0; same && i < PAGE / 4; i++) same = copy_words[i] == 0xd1a60000u + i;
    CHECK(same);
    // ...and the driver's mapping sees what the GPU wrote, its first page untouched.
    if (driver_words) {
        cpu_access((int)view, 1);
        long other = first_other(driver_words, PAGE / 4, (PAGES - 1) * PAGE / 4, 0x50f76900u);
        CHECK(other == -1);
        if (other != -1) fprintf(stderr, "word %ld is 0x%08x\n", other, driver_words[other]);
        CHECK(driver_words[0] == 0xd1a60000u && driver_words[PAGE / 4 - 1] == 0xd1a60000u + PAGE / 4 - 1);
        cpu_access((int)view, 0);
        munmap(driver_words, PAGES * PAGE);
    }
    close((int)view);

    // Releasing the import leaves the driver's buffer, which is released after.
    magma_connection_release_buffer(connection, shared);
    CHECK_STATUS(magma_connection_flush(connection), MAGMA_STATUS_OK);
    magma_connection_release_buffer(drm, kernel_buffer);
    CHECK_STATUS(magma_connection_flush(drm), MAGMA_STATUS_OK);
    magma_connection_release(connection);
    magma_connection_release(drm);
    magma_device_release(embedded_device);
    magma_device_release(drm_device);

    printf("dma-buf of %s into the embedded device: %d checks, %d failures\n", argv[1], check_count(), check_failures());
    return check_failures() == 0 ? 0 : 1;
}
