import Foundation
@testable import MagmaDRM
import MagmaProtocol
import Testing

/// A device's bus from sysfs, on trees made here (the guest checks the real one:
/// DRMEnumerationTests), and PCI slot names. They need no device and run everywhere.
@Suite struct DRMSysfsBusTests {
    /// A device directory named `name` whose `subsystem` link ends in `subsystem` (nil: none).
    private func device(named name: String, subsystem: String?) throws -> (device: String, root: String) {
        let root = FileManager.default.temporaryDirectory.appending(path: "magma-sysfs-\(UUID().uuidString.prefix(8))").path
        let device = "\(root)/devices/\(name)"
        try FileManager.default.createDirectory(atPath: device, withIntermediateDirectories: true)
        if let subsystem {
            try FileManager.default.createDirectory(atPath: "\(root)/bus/\(subsystem)", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: "\(device)/subsystem", withDestinationPath: "../../bus/\(subsystem)")
        }
        // The class directory's `device` is a link to the device, as /sys/class/drm/<node>/device is.
        try FileManager.default.createSymbolicLink(atPath: "\(root)/device", withDestinationPath: device)
        return ("\(root)/device", root)
    }

    @Test func aPCIDeviceIsItsSlotName() throws {
        let (path, root) = try device(named: "0000:00:01.0", subsystem: "pci")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(DeviceBus(sysfsDevice: path) == .pci(PCIAddress(domain: 0, bus: 0, device: 1, function: 0)))
    }

    @Test func platformOtherAndMissingSubsystems() throws {
        for (subsystem, bus) in [("platform", DeviceBus.platform), ("usb", .unknown)] as [(String?, DeviceBus)] + [(nil, .unknown)] {
            let (path, root) = try device(named: "vgem", subsystem: subsystem)
            defer { try? FileManager.default.removeItem(atPath: root) }
            #expect(DeviceBus(sysfsDevice: path) == bus, "\(subsystem ?? "no subsystem")")
        }
        #expect(DeviceBus(sysfsDevice: "/nonexistent/device") == .unknown)
        // A "pci" device whose directory is no slot name is not given a made-up address.
        let (path, root) = try device(named: "not-a-slot", subsystem: "pci")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(DeviceBus(sysfsDevice: path) == .unknown)
    }

    @Test func slotNamesParseAndPrintBack() {
        let address = PCIAddress(slotName: "10000:3a:1f.7")
        #expect(address == PCIAddress(domain: 0x10000, bus: 0x3a, device: 0x1f, function: 7))
        #expect(PCIAddress(slotName: "0000:00:01.0")?.description == "0000:00:01.0")
        #expect(address?.description == "10000:3a:1f.7")
        for bad in ["", "00:01.0", "0000:00:20.0", "0000:00:01.8", "0000:0:01.0", "0000:00:01", "zzzz:00:01.0", "0000:00:01.0.1"] {
            #expect(PCIAddress(slotName: bad) == nil, "\(bad)")
        }
        #expect(DeviceBus.pci(address!).type == .pci && DeviceBus.platform.type == .platform && DeviceBus.unknown.type == .unknown)
        #expect(DeviceBus.platform.pciAddress == nil)
    }
}
