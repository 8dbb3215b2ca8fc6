import Magma
import MagmaProtocol

/// The physical device's description `info` prints: identity, limits, heaps with a fresh
/// connection's budget, memory types, queue families.
enum PhysicalDeviceReport {
    static func lines(_ device: Device) throws -> [String] {
        let info = try device.physicalDeviceInfo()
        let connection = try device.createConnection()
        defer { connection.release() }
        var lines = [
            "name                    \(info.name) (driver \(info.driverName), version 0x\(String(info.driverVersion, radix: 16)))",
            "bus                     \(busDescription(info.bus))",
            "address-space           \(info.limits.addressSpaceSize) bytes, pages of \(info.limits.pageSize), allocations up to \(info.limits.maxAllocationSize) bytes",
        ]
        for (index, heap) in info.memoryProperties.heaps.enumerated() {
            lines.append(column("heap \(index)") + "\(heap.size) bytes\(heap.flags.contains(.deviceLocal) ? ", device-local" : ""); " + budget(connection, UInt32(index)))
        }
        for (index, type) in info.memoryProperties.types.enumerated() {
            lines.append(column("memory-type \(index)") + "heap \(type.heapIndex): \(names(type.propertyFlags))")
        }
        for (index, family) in info.queueFamilies.enumerated() {
            lines.append(column("queue-family \(index)") + "\(names(family.flags)): \(family.count) contexts per connection")
        }
        if info.queueFamilies.isEmpty { lines.append(column("queue-families") + "none (this backend submits no work)") }
        return lines
    }

    private static func busDescription(_ bus: DeviceBus) -> String {
        switch bus {
        case .unknown: "unknown"
        case .platform: "platform"
        case .pci(let address): "pci \(address)"
        }
    }

    private static func column(_ label: String) -> String { label.padding(toLength: 24, withPad: " ", startingAt: 0) }

    private static func budget(_ connection: Connection, _ heap: UInt32) -> String {
        do {
            let budget = try connection.memoryBudget(heap: heap)
            return "a new connection may use \(budget.budget) (uses \(budget.usage))"
        } catch {
            return "budget \(error.status == .unimplemented ? "unimplemented (\(error.message))" : "\(error)")"
        }
    }

    private static func names(_ flags: MemoryPropertyFlags) -> String {
        let named: [(MemoryPropertyFlags, String)] = [(.deviceLocal, "device-local"), (.hostVisible, "host-visible"),
                                                      (.hostCoherent, "host-coherent"), (.hostCached, "host-cached")]
        let present = named.filter { flags.contains($0.0) }.map(\.1)
        return present.isEmpty ? "no properties" : present.joined(separator: ", ")
    }

    private static func names(_ flags: QueueFlags) -> String {
        let named: [(QueueFlags, String)] = [(.graphics, "graphics"), (.compute, "compute"), (.transfer, "transfer"),
                                             (.sparseBinding, "sparse-binding")]
        return named.filter { flags.contains($0.0) }.map(\.1).joined(separator: ", ")
    }
}
