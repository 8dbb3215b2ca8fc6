// Magma for Swift: the C API.
//
// The calls, types and struct layouts of Fuchsia's magma.h (API version MAGMA_API_VERSION),
// implemented by libmagma.so on Linux. A client driver written against Fuchsia's header
// compiles against this one unchanged, except for the Fuchsia-only sysmem calls, which are not
// here. Constants, typedefs and structs come from magma_common_defs.h, generated from the
// protocol spec (protocol/magma.json).
//
// Handles. Where Fuchsia passes a Zircon handle, this API passes a file descriptor in a
// magma_handle_t:
// - a device is a connected SOCK_SEQPACKET socket to a magmad device endpoint;
// - a buffer is a size-sealed memfd (mmap it for CPU access);
// - a semaphore is an eventfd;
// - the notification channel polls readable while a notification is pending or after the
//   connection closed. For a magmad device it is the connection's notification socket
//   (SOCK_SEQPACKET, one message per notification); for the embedded device, where the system
//   driver runs in this process, it is an eventfd standing for an in-process queue (there are
//   no bytes to read from it). Either way, read notifications only with
//   magma_connection_read_notification_channel and never read, write or close the handle.
// A handle returned to the caller is a new descriptor the caller owns and closes, except the
// notification channel handle, which belongs to its connection. A call documented as taking
// ownership of a handle closes it, on success and on failure.
//
// Errors. Calls that return magma_status_t never crash on a bad handle, a NULL pointer or a bad
// size: they return MAGMA_STATUS_INVALID_ARGS (or another status). Calls that return void
// ignore a handle they do not know. Requests are feed-forward, as on Fuchsia: an error the
// system finds later closes the connection, and magma_connection_flush,
// magma_connection_get_error and every later call report it. Through magmad, a synchronous
// call (a query, creating a connection, magma_connection_flush) that gets no answer within
// 5 s returns MAGMA_STATUS_TIMED_OUT; MAGMA_DEVICE_TIMEOUT_MS sets the bound (0: none).
//
// Threads. Every call may be made from any thread.

#ifndef MAGMA_H_
#define MAGMA_H_

#include <stdint.h>

#include "magma_common_defs.h"

#ifndef MAGMA_EXPORT
#define MAGMA_EXPORT __attribute__((visibility("default")))
#endif

#if defined(__cplusplus)
extern "C" {
#endif

// The path magma_device_open and magma_enumerate_devices use for the embedded device: the
// system driver and SoftGPU running inside the calling process, with nothing installed.
#define MAGMA_DEVICE_PATH_EMBEDDED "embedded"

// ---- Devices ----

// Imports a device from a connected SOCK_SEQPACKET socket to a magmad device endpoint, for
// example one connected to a path from magma_enumerate_devices. Takes ownership of
// |device_channel| on success and failure. INVALID_ARGS if it is not such a socket.
MAGMA_EXPORT magma_status_t magma_device_import(magma_handle_t device_channel, magma_device_t* device_out);

// Linux extension: opens the device |path| names: MAGMA_DEVICE_PATH_EMBEDDED, "magmad" (the
// first device endpoint in the runtime directory magma_enumerate_devices lists), a path relative
// to that directory ("gpu/000"), a path starting with '/', "./" or "../" as it is, or
// "drm/<node>" for a Linux DRM render node ("drm/renderD128": /dev/dri/renderD128; docs/drm.md).
// CONNECTION_LOST if nothing serves at |path| (nothing there, or a socket nobody listens on),
// INVALID_ARGS if |path| cannot be an endpoint (a regular file, a directory, too long for a
// socket), ACCESS_DENIED without permission to open it.
MAGMA_EXPORT magma_status_t magma_device_open(const char* path, magma_device_t* device_out);

// Releases a device. Connections created from it stay open.
MAGMA_EXPORT void magma_device_release(magma_device_t device);

// Lists the devices: the magmad endpoints in the runtime directory (|device_namespace| if it is
// neither NULL nor empty, else $MAGMA_DEVICE_DIR, else $XDG_RUNTIME_DIR/magma, else
// /tmp/magma-<uid>), then the DRM render nodes ("drm/renderD128", ...), then
// MAGMA_DEVICE_PATH_EMBEDDED. |device_directory_channel| is used only
// on Fuchsia and is ignored. Writes up to |*device_count_inout| 0-terminated paths, each in a
// slot of |device_path_size| bytes of |device_paths_out|, and sets |*device_count_inout| to the
// number written. MEMORY_ERROR if there are more devices than slots; INVALID_ARGS if a path does
// not fit its slot or a pointer is NULL.
MAGMA_EXPORT magma_status_t magma_enumerate_devices(const char* device_namespace, magma_handle_t device_directory_channel,
                                                    uint32_t* device_count_inout, uint32_t device_path_size,
                                                    char* device_paths_out);

// Asks the device a question (a MAGMA_QUERY_* or a vendor id), synchronously. A query answers
// either with a value in |*result_out| or with a buffer: a new memfd the caller owns, in
// |*result_buffer_out|. Pass NULL for the output not needed; INVALID_ARGS if both are NULL or
// the answer's output is NULL, and for an unknown id. After a value, |*result_buffer_out| (if
// given) is (magma_handle_t)-1.
MAGMA_EXPORT magma_status_t magma_device_query(magma_device_t device, uint64_t id, magma_handle_t* result_buffer_out,
                                               uint64_t* result_out);

// Opens a connection: a private GPU address space with its own buffers, semaphores and contexts.
MAGMA_EXPORT magma_status_t magma_device_create_connection(magma_device_t device, magma_connection_t* connection_out);

// ---- Connections ----

// Closes a connection. The system releases everything it held for it; the connection's buffer
// and semaphore handles become invalid.
MAGMA_EXPORT void magma_connection_release(magma_connection_t connection);

// Returns the connection's error as known now (MAGMA_STATUS_OK while healthy), without a round
// trip: a rejected request shows here eventually. Use magma_connection_flush to be sure.
MAGMA_EXPORT magma_status_t magma_connection_get_error(magma_connection_t connection);

// A round trip to the system: every earlier request has been observed (not necessarily
// completed). Returns the connection's error, if any.
MAGMA_EXPORT magma_status_t magma_connection_flush(magma_connection_t connection);

// A handle (a descriptor) that polls readable while a notification is pending or after the
// connection closed. It belongs to the connection: do not close it. Stable for the connection's
// life; 0 for an unknown connection.
MAGMA_EXPORT magma_handle_t magma_connection_get_notification_channel_handle(magma_connection_t connection);

// Reads the next notification into |buffer|. Sets |*buffer_size_out| to its size, or 0 when
// none is pending, and |*more_data_out| to whether another is waiting. If |buffer_size| is too
// small, returns INVALID_ARGS with the needed size in |*buffer_size_out| and keeps the
// notification for the next read. CONNECTION_LOST once the connection has closed and every
// notification has been read.
MAGMA_EXPORT magma_status_t magma_connection_read_notification_channel(magma_connection_t connection, void* buffer,
                                                                       uint64_t buffer_size, uint64_t* buffer_size_out,
                                                                       magma_bool_t* more_data_out);

// ---- Contexts ----

// Creates a context (a queue of work sharing the connection's address space) with |priority|
// (MAGMA_PRIORITY_*; higher runs first). Above MEDIUM needs a trusted client: a magmad client
// is not, and its connection closes with ACCESS_DENIED.
MAGMA_EXPORT magma_status_t magma_connection_create_context2(magma_connection_t connection, magma_priority_t priority,
                                                             uint32_t* context_id_out);

// Releases a context. Work still queued on it is abandoned: it never signals its semaphores,
// so the connection closes with CONTEXT_KILLED (see magma_poll). Releasing an unknown or
// released context closes the connection with INVALID_ARGS, as on Fuchsia.
MAGMA_EXPORT void magma_connection_release_context(magma_connection_t connection, uint32_t context_id);

// ---- Buffers ----

// Creates a zeroed buffer of at least |size| bytes (rounded up to whole pages).
MAGMA_EXPORT magma_status_t magma_connection_create_buffer(magma_connection_t connection, uint64_t size,
                                                           uint64_t* size_out, magma_buffer_t* buffer_out,
                                                           magma_buffer_id_t* id_out);

// Releases a buffer and unmaps it. Releasing a buffer that in-flight work uses closes the
// connection with BAD_STATE.
MAGMA_EXPORT void magma_connection_release_buffer(magma_connection_t connection, magma_buffer_t buffer);

// Imports a buffer from a size-sealed memfd (from magma_buffer_export, possibly of another
// process) or, on the embedded device, from a kernel driver's dma-buf (a DRM device's
// magma_buffer_export; a magmad device refuses one). Takes ownership of |buffer_handle| on
// success and failure. The import gets its own id. INVALID_ARGS for any other descriptor.
MAGMA_EXPORT magma_status_t magma_connection_import_buffer(magma_connection_t connection, magma_handle_t buffer_handle,
                                                           uint64_t* size_out, magma_buffer_t* buffer_out,
                                                           magma_buffer_id_t* id_out);

// Exports a buffer: a new descriptor of its memory, for magma_connection_import_buffer.
MAGMA_EXPORT magma_status_t magma_buffer_export(magma_buffer_t buffer, magma_handle_t* buffer_handle_out);

// A new descriptor of the buffer's memory, to mmap it. Closing it leaves existing mappings valid.
MAGMA_EXPORT magma_status_t magma_buffer_get_handle(magma_buffer_t buffer, magma_handle_t* handle_out);

// The buffer's size and the bytes that currently have backing pages.
MAGMA_EXPORT magma_status_t magma_buffer_get_info(magma_buffer_t buffer, magma_buffer_info_t* info_out);

// Sets how the CPU should cache the buffer (MAGMA_CACHE_POLICY_*).
MAGMA_EXPORT magma_status_t magma_buffer_set_cache_policy(magma_buffer_t buffer, magma_cache_policy_t policy);

// The buffer's cache policy.
MAGMA_EXPORT magma_status_t magma_buffer_get_cache_policy(magma_buffer_t buffer, magma_cache_policy_t* cache_policy_out);

// Cleans (MAGMA_CACHE_OPERATION_CLEAN) or cleans and invalidates the CPU cache over
// [offset, offset + size) of the buffer. INVALID_ARGS if the range passes the buffer's end.
MAGMA_EXPORT magma_status_t magma_buffer_clean_cache(magma_buffer_t buffer, uint64_t offset, uint64_t size,
                                                     magma_cache_operation_t operation);

// Names the buffer for debugging; names longer than 32 bytes are truncated.
MAGMA_EXPORT magma_status_t magma_buffer_set_name(magma_buffer_t buffer, const char* name);

// ---- GPU mappings ----

// Maps [offset, offset + length) of |buffer| at GPU address |hw_va| with |map_flags|
// (MAGMA_MAP_FLAG_*). Addresses, offsets and lengths are page aligned. Feed-forward: a bad
// mapping (overlap, out of range) closes the connection with INVALID_ARGS.
MAGMA_EXPORT magma_status_t magma_connection_map_buffer(magma_connection_t connection, uint64_t hw_va,
                                                        magma_buffer_t buffer, uint64_t offset, uint64_t length,
                                                        uint64_t map_flags);

// Removes the mapping of |buffer| at |hw_va|. Unmapping what in-flight work uses closes the
// connection with BAD_STATE.
MAGMA_EXPORT void magma_connection_unmap_buffer(magma_connection_t connection, uint64_t hw_va, magma_buffer_t buffer);

// Performs a MAGMA_BUFFER_RANGE_OP_* on [start_offset, start_offset + length) of |buffer|.
// For all four operations |start_offset| and |length| are whole pages and |length| is nonzero
// (INVALID_ARGS otherwise). COMMIT and DECOMMIT run here and return their own status: a COMMIT
// past the end of the buffer is MEMORY_ERROR, a DECOMMIT past it INVALID_ARGS; a DECOMMIT
// releases exactly its pages (they read back as zeros) and touches no other byte.
// POPULATE_TABLES and DEPOPULATE_TABLES go to the system (feed-forward: a bad range closes the
// connection with INVALID_ARGS, reported by flush). Any other value is INVALID_ARGS.
MAGMA_EXPORT magma_status_t magma_connection_perform_buffer_op(magma_connection_t connection, magma_buffer_t buffer,
                                                               uint32_t options, uint64_t start_offset, uint64_t length);

// ---- Execution ----

// Submits command buffers on a context. The wait semaphores (the first wait_semaphore_count
// ids) must all signal before the work starts, and are then reset; the signal semaphores fire
// when it completes. INVALID_ARGS for a NULL descriptor, a NULL array with a nonzero count or
// counts past the protocol's limits.
MAGMA_EXPORT magma_status_t magma_connection_execute_command(magma_connection_t connection, uint32_t context_id,
                                                             magma_command_descriptor_t* descriptor);

// Submits |command_count| small commands carried in the message itself, split into messages of
// at most MAGMA_MAX_INLINE_COMMANDS_DATA_SIZE bytes. Each command's semaphores are the
// driver's to interpret (SoftGPU signals them when the command completes).
MAGMA_EXPORT magma_status_t magma_connection_execute_inline_commands(magma_connection_t connection, uint32_t context_id,
                                                                     uint64_t command_count,
                                                                     magma_inline_command_buffer_t* command_buffers);

// ---- Semaphores ----

// Creates an unsignaled semaphore.
MAGMA_EXPORT magma_status_t magma_connection_create_semaphore(magma_connection_t connection,
                                                              magma_semaphore_t* semaphore_out,
                                                              magma_semaphore_id_t* id_out);

// Releases a semaphore. Work already submitted keeps its own reference.
MAGMA_EXPORT void magma_connection_release_semaphore(magma_connection_t connection, magma_semaphore_t semaphore);

// Imports a semaphore from an eventfd (from magma_semaphore_export). Takes ownership of
// |semaphore_handle| on success and failure. With MAGMA_IMPORT_SEMAPHORE_ONE_SHOT in |flags|,
// GPU waits never reset it. INVALID_ARGS for any other descriptor or flag.
MAGMA_EXPORT magma_status_t magma_connection_import_semaphore2(magma_connection_t connection,
                                                               magma_handle_t semaphore_handle, uint64_t flags,
                                                               magma_semaphore_t* semaphore_out,
                                                               magma_semaphore_id_t* id_out);

// Signals a semaphore.
MAGMA_EXPORT void magma_semaphore_signal(magma_semaphore_t semaphore);

// Resets a semaphore (ignored for a one-shot import).
MAGMA_EXPORT void magma_semaphore_reset(magma_semaphore_t semaphore);

// Exports a semaphore: a new eventfd descriptor for magma_connection_import_semaphore2.
MAGMA_EXPORT magma_status_t magma_semaphore_export(magma_semaphore_t semaphore, magma_handle_t* semaphore_handle_out);

// ---- Waiting ----

// Waits until at least one item meets its condition, or |timeout_ns| passes (UINT64_MAX waits
// forever). A semaphore item (MAGMA_POLL_TYPE_SEMAPHORE) waits for
// MAGMA_POLL_CONDITION_SIGNALED, a handle item (MAGMA_POLL_TYPE_HANDLE, such as a notification
// channel) for MAGMA_POLL_CONDITION_READABLE; an item with condition 0 is ignored. Sets each
// item's result to the condition met, else 0, and never resets a semaphore. TIMED_OUT when
// nothing became ready; CONNECTION_LOST when a polled notification channel's connection has
// closed; INVALID_ARGS for an unknown semaphore, type or condition.
//
// Our extension of Fuchsia's magma_poll: work that fails never signals its semaphores, so once
// a connection has failed (a GPU fault, an illegal command, a watchdog kill, work abandoned with
// its destroyed context, an epitaph, a server that is gone), magma_poll returns at once, even
// for items that are ready, checked in this order: CONNECTION_LOST if the notification channel
// of a failed connection is among the items; else the connection's own error (for example
// CONTEXT_KILLED, or CONNECTION_LOST when the server is gone) if one of its semaphores or the
// notification handle of one of its performance-counter pools is.
MAGMA_EXPORT magma_status_t magma_poll(magma_poll_item_t* items, uint32_t count, uint64_t timeout_ns);

// ---- Performance counters ----
//
// Every connection starts without access, embedded or not, trusted or not: access comes only
// from presenting the device's token with magma_connection_enable_performance_counter_access.
// The counter calls below are feed-forward like every other request: made without access, a
// call returns OK and the connection closes with ACCESS_DENIED, which magma_connection_flush,
// magma_connection_get_error and every later call report (as Fuchsia's system driver does).
// A counter set is a bit set: word w, bit b selects counter 64w + b (SoftGPU: 0 instructions,
// 1 bytes read, 2 bytes written, 3 busy ns). A dump writes one little-endian u64 per enabled
// counter, in counter order, into the pool's oldest range. A bad request (an unknown counter
// or pool, a range outside its buffer or too small) closes the connection too.

// Linux extension: a new descriptor for |device|'s performance-counter token, which the caller
// owns and passes to magma_connection_enable_performance_counter_access. For the embedded
// device any caller gets it; for a magmad device opened by path with magma_device_open, it is
// fetched from the gpu-performance-counters endpoint beside the device (mode 0600: only users
// allowed to open it get it). ACCESS_DENIED otherwise, including for a device from
// magma_device_import, whose endpoint is not known.
MAGMA_EXPORT magma_status_t magma_device_get_performance_counter_token(magma_device_t device, magma_handle_t* token_out);

// Presents a performance-counter token to the connection (a synchronous call, as on Fuchsia).
// |channel| is either a connected SOCK_SEQPACKET socket to the device's
// gpu-performance-counters endpoint (Fuchsia's form: the token is fetched from it), or a token
// from magma_device_get_performance_counter_token. Takes ownership of |channel|. OK if access
// is granted (now or before); ACCESS_DENIED otherwise, and the connection stays open: a token
// of another device is ignored.
MAGMA_EXPORT magma_status_t magma_connection_enable_performance_counter_access(magma_connection_t connection,
                                                                               magma_handle_t channel);

// Selects the counters dumps write; they are enabled until the connection closes.
MAGMA_EXPORT magma_status_t magma_connection_enable_performance_counters(magma_connection_t connection,
                                                                         uint64_t* counters, uint64_t counters_count);

// Creates an empty pool. |*notification_handle_out| polls readable while a completion waits; it
// belongs to the pool (do not close it).
MAGMA_EXPORT magma_status_t magma_connection_create_performance_counter_buffer_pool(
    magma_connection_t connection, magma_perf_count_pool_t* pool_id_out, magma_handle_t* notification_handle_out);

// Releases a pool; no completions follow. INVALID_ARGS for an unknown pool.
MAGMA_EXPORT magma_status_t magma_connection_release_performance_counter_buffer_pool(magma_connection_t connection,
                                                                                     magma_perf_count_pool_t pool_id);

// Adds buffer ranges (by buffer id) to a pool, used oldest first, one per dump. The pool keeps
// their memory even after the buffers are released.
MAGMA_EXPORT magma_status_t magma_connection_add_performance_counter_buffer_offsets_to_pool(
    magma_connection_t connection, magma_perf_count_pool_t pool_id, const magma_buffer_offset_t* offsets,
    uint64_t offsets_count);

// Removes every range of a buffer from a pool.
MAGMA_EXPORT magma_status_t magma_connection_remove_performance_counter_buffer_from_pool(
    magma_connection_t connection, magma_perf_count_pool_t pool_id, magma_buffer_t buffer);

// Writes the enabled counters into the pool's oldest range, then queues a completion with
// |trigger_id|. Does nothing if the pool has no range.
MAGMA_EXPORT magma_status_t magma_connection_dump_performance_counters(magma_connection_t connection,
                                                                       magma_perf_count_pool_t pool_id,
                                                                       uint32_t trigger_id);

// Sets the listed counters to zero, for the whole device.
MAGMA_EXPORT magma_status_t magma_connection_clear_performance_counters(magma_connection_t connection,
                                                                        uint64_t* counters, uint64_t counters_count);

// Reads one completed dump of a pool: its trigger id, the buffer id and offset written, the
// CLOCK_MONOTONIC time of the sample and MAGMA_PERF_COUNTER_RESULT_* flags. TIMED_OUT when none
// is waiting.
MAGMA_EXPORT magma_status_t magma_connection_read_performance_counter_completion(
    magma_connection_t connection, magma_perf_count_pool_t pool_id, uint32_t* trigger_id_out,
    uint64_t* buffer_id_out, uint32_t* buffer_offset_out, uint64_t* time_out, uint32_t* result_flags_out);

// ---- Process set-up ----

// Tracing is a Fuchsia service; off Fuchsia this closes |channel| (if it is a descriptor) and
// returns OK.
MAGMA_EXPORT magma_status_t magma_initialize_tracing(magma_handle_t channel);

// Logging is a Fuchsia service; off Fuchsia this closes |channel| (if it is a descriptor) and
// returns OK.
MAGMA_EXPORT magma_status_t magma_initialize_logging(magma_handle_t channel);

#if defined(__cplusplus)
}
#endif

#endif  // MAGMA_H_
