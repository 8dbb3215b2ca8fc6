/// Where a physical device is attached: on PCI at an address, a platform device, or not known
/// (a device in software, such as SoftGPU). The Mesa API's `bus_type` and `pci_*` fields.
public enum DeviceBus: Hashable, Sendable {
    /// Not known, or not on a bus.
    case unknown
    /// A platform device (a SoC's, or a kernel's virtual device such as vgem).
    case platform
    /// A PCI device at `address`.
    case pci(PCIAddress)

    /// The bus's kind, as the spec numbers it.
    public var type: BusType {
        switch self {
        case .unknown: .unknown
        case .platform: .platform
        case .pci: .pci
        }
    }

    /// The PCI address; nil off PCI.
    public var pciAddress: PCIAddress? {
        if case .pci(let address) = self { address } else { nil }
    }
}

/// A PCI function's address, domain:bus:device.function ("0000:00:01.0", the kernel's slot
/// name).
public struct PCIAddress: Hashable, Sendable, CustomStringConvertible {
    /// The PCI domain (segment), 16 bits on Linux's slot names but 32 in the kernel.
    public var domain: UInt32
    /// The bus, 0-255.
    public var bus: UInt8
    /// The device, 0-31.
    public var device: UInt8
    /// The function, 0-7.
    public var function: UInt8

    public init(domain: UInt32, bus: UInt8, device: UInt8, function: UInt8) {
        self.domain = domain
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Parses a slot name, "0000:00:01.0" (hexadecimal fields; the domain may be longer than
    /// four digits); nil for anything else, or a device above 31 or a function above 7.
    public init?(slotName: String) {
        let colons = slotName.split(separator: ":", omittingEmptySubsequences: false)
        guard colons.count == 3 else { return nil }
        let last = colons[2].split(separator: ".", omittingEmptySubsequences: false)
        guard last.count == 2, colons[1].count == 2, last[0].count == 2, last[1].count == 1,
              let domain = UInt32(colons[0], radix: 16), let bus = UInt8(colons[1], radix: 16),
              let device = UInt8(last[0], radix: 16), let function = UInt8(last[1], radix: 16),
              device < 32, function < 8 else { return nil }
        self.init(domain: domain, bus: bus, device: device, function: function)
    }

    /// "0000:00:01.0".
    public var description: String {
        func hex(_ value: some BinaryInteger, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text
        }
        return "\(hex(domain, 4)):\(hex(bus, 2)):\(hex(device, 2)).\(function)"
    }
}
