#include "mesa_test_support.h"

#include <stddef.h>

#include "c_test_checks.h"

uint32_t host_visible_type(magma_physical_device_t physical_device) {
    magma_memory_properties_t properties = {.s_type = MAGMA_STRUCTURE_TYPE_MEMORY_PROPERTIES, .size = sizeof properties};
    CHECK_STATUS(magma_get_memory_properties(physical_device, &properties), MAGMA_STATUS_OK);
    for (uint32_t i = 0; i < properties.memory_type_count; i++)
        if (properties.memory_types[i].property_flags & MAGMA_MEMORY_PROPERTY_HOST_VISIBLE) return i;
    CHECK(!"a host-visible memory type");
    return 0;
}

magma_buffer_t make_buffer(magma_device_t device, uint32_t memory_type, uint64_t size, magma_buffer_flags_t flags) {
    magma_create_buffer_info_t info = {.s_type = MAGMA_STRUCTURE_TYPE_CREATE_BUFFER_INFO, .size = sizeof info,
                                       .buffer_size = size, .memory_type_index = memory_type, .flags = flags};
    magma_buffer_t buffer = NULL;
    CHECK_STATUS(magma_create_buffer(device, &info, &buffer), MAGMA_STATUS_OK);
    return buffer;
}
