// What the C test programs of Mesa's API share beyond the checks: finding a memory type and
// making a buffer, each counted as a check (c_test_checks.h).
#ifndef MESA_TEST_SUPPORT_H_
#define MESA_TEST_SUPPORT_H_

#include "magma_mesa.h"

// The first host-visible memory type of `physical_device`; a failed check (and 0) if it has none.
uint32_t host_visible_type(magma_physical_device_t physical_device);

// A buffer of `size` bytes of `memory_type` with `flags` (MAGMA_BUFFER_*); a failed check (and
// NULL) if the device refuses it.
magma_buffer_t make_buffer(magma_device_t device, uint32_t memory_type, uint64_t size, magma_buffer_flags_t flags);

#endif  // MESA_TEST_SUPPORT_H_
