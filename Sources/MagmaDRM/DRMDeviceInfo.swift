import CMagmaDRM
import Glibc
import MagmaProtocol

/// A DRM device as enumeration finds it: its nodes, its driver and what the driver offers.
public struct DRMDeviceInfo: Sendable, Equatable {
    /// The render node's file name, "renderD128"; `DRMDevices.locatorPrefix` + this names the
    /// device to `DeviceLocator.named` ("drm/renderD128").
    public let nodeName: String
    /// The render node, "/dev/dri/renderD128".
    public let renderNodePath: String
    /// The primary node of the same device ("/dev/dri/card0"), from sysfs; nil if not found.
    /// vgem's dumb buffers are made only there (EACCES on the render node).
    public let cardNodePath: String?
    /// DRM_IOCTL_VERSION's answer.
    public let driver: DRMDriverVersion
    /// What GET_CAP reports.
    public let capabilities: DRMCapabilities
    /// The PCI vendor and device ids from sysfs, for a PCI device (virtio-gpu-pci: 0x1af4,
    /// 0x1050); nil for a platform device such as vgem.
    public let pci: PCIIdentity?
    /// Where the device is attached, from sysfs: PCI with its address (virtio-gpu-pci), a
    /// platform device (vgem), or unknown.
    public let bus: DeviceBus

    /// The name `DeviceLocator.named` takes: "drm/renderD128".
    public var locatorName: String { DRMDevices.locatorPrefix + nodeName }

    /// Probes the render node `nodeName` in `directory` (DRM_IOCTL_VERSION, GET_CAP, sysfs).
    public static func probe(nodeName: String, directory: String = DRMDevices.nodeDirectory,
                             sysfs: String = DRMDevices.sysfsDirectory) throws(MagmaError) -> DRMDeviceInfo {
        let path = directory + "/" + nodeName
        let file = try DRMFile(path: path)
        return DRMDeviceInfo(nodeName: nodeName, renderNodePath: path,
                             cardNodePath: cardNode(of: nodeName, directory: directory, sysfs: sysfs),
                             driver: try file.version(), capabilities: DRMCapabilities(file),
                             pci: PCIIdentity(sysfsDevice: "\(sysfs)/\(nodeName)/device"),
                             bus: DeviceBus(sysfsDevice: "\(sysfs)/\(nodeName)/device"))
    }

    /// The card node sysfs lists beside the render node (`<sysfs>/<node>/device/drm/card*`).
    static func cardNode(of nodeName: String, directory: String, sysfs: String) -> String? {
        DRMDevices.entries(of: "\(sysfs)/\(nodeName)/device/drm").first { $0.hasPrefix("card") }.map { directory + "/" + $0 }
    }
}

/// The GET_CAP answers MagmaDRM uses. A capability the kernel refuses to report counts as absent.
public struct DRMCapabilities: Sendable, Equatable {
    /// PRIME import (dma-buf -> handle).
    public let primeImport: Bool
    /// PRIME export (handle -> dma-buf).
    public let primeExport: Bool
    /// Binary DRM syncobjs (DRIVER_SYNCOBJ).
    public let syncobj: Bool
    /// Timeline DRM syncobjs (DRIVER_SYNCOBJ_TIMELINE).
    public let syncobjTimeline: Bool

    /// Asks `file`'s driver.
    init(_ file: DRMFile) {
        let prime = (try? file.capability(cmagma_drm_cap_prime)) ?? 0
        primeImport = prime & cmagma_drm_prime_cap_import != 0
        primeExport = prime & cmagma_drm_prime_cap_export != 0
        syncobj = ((try? file.capability(cmagma_drm_cap_syncobj)) ?? 0) != 0
        syncobjTimeline = ((try? file.capability(cmagma_drm_cap_syncobj_timeline)) ?? 0) != 0
    }

    /// The present capabilities' names, "prime-import prime-export syncobj syncobj-timeline".
    public var names: [String] {
        [(primeImport, "prime-import"), (primeExport, "prime-export"), (syncobj, "syncobj"), (syncobjTimeline, "syncobj-timeline")]
            .filter(\.0).map(\.1)
    }
}

/// A PCI device's vendor and device ids.
public struct PCIIdentity: Sendable, Equatable {
    public let vendorId: UInt16
    public let deviceId: UInt16

    /// Reads `<device>/vendor` and `<device>/device` ("0x1af4"); nil where they are absent.
    init?(sysfsDevice: String) {
        guard let vendor = Self.hex(sysfsDevice + "/vendor"), let device = Self.hex(sysfsDevice + "/device") else { return nil }
        vendorId = vendor
        deviceId = device
    }

    private static func hex(_ path: String) -> UInt16? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 32)
        guard fgets(&line, Int32(line.count), file) != nil else { return nil }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).filter { !$0.isWhitespace }
        return UInt16(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16)
    }
}
