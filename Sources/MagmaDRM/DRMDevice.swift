import Magma
import MagmaPlatform
import MagmaProtocol

/// A DRM device as a Magma device: queries from what the kernel reports, and connections that
/// each open the device's node anew (each open file has its own GEM and syncobj tables: a
/// connection's private object space).
public final class DRMDevice: DeviceBackend {
    /// What enumeration found.
    public let info: DRMDeviceInfo
    private let driver: any DRMDriver

    /// Opens the device whose render node is `path` ("/dev/dri/renderD128"): probes it, and
    /// picks the driver's buffer and submission code by DRM_IOCTL_VERSION's name.
    public init(renderNode path: String) throws(MagmaError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[..<$0]) } ?? "."
        let node = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard node.hasPrefix("renderD") else { throw .invalidArgs("\(path) is not a DRM render node") }
        info = try DRMDeviceInfo.probe(nodeName: node, directory: directory)
        driver = DRMDrivers.driver(named: info.driver.name)
    }

    /// vendor-id and device-id: the PCI ids (UNIMPLEMENTED for a device without, such as vgem);
    /// vendor-version: the driver's version as major << 32 | minor << 16 | patch level;
    /// is-total-time-supported: 0. total-time and maximum-inflight-params are UNIMPLEMENTED
    /// (the kernel keeps no busy time for Magma, and every call is synchronous: there is no
    /// flow control to bound). Other ids are INVALID_ARGS.
    public func query(_ id: QueryId) throws(MagmaError) -> QueryAnswer {
        switch id {
        case .vendorId, .deviceId:
            guard let pci = info.pci else { throw .unimplemented("\(info.driver.name) is not a PCI device: it has no \(id)") }
            return .value(UInt64(id == .vendorId ? pci.vendorId : pci.deviceId))
        case .vendorVersion:
            let version = info.driver
            return .value(UInt64(version.major) << 32 | UInt64(version.minor & 0xFFFF) << 16 | UInt64(version.patchLevel & 0xFFFF))
        case .isTotalTimeSupported:
            return .value(0)
        case .totalTime, .maximumInflightParams:
            throw .unimplemented("\(id) on DRM device \(info.locatorName)")
        default:
            throw .invalidArgs("unknown query \(id)")
        }
    }

    /// A connection on a new open file of the node the driver's buffers need (the card node
    /// for dumb buffers, the render node otherwise).
    public func connect() throws(MagmaError) -> any ConnectionBackend {
        let path: String
        if driver.opensCardNode {
            guard let card = info.cardNodePath else { throw .unimplemented("\(info.locatorName) has no card node for dumb buffers") }
            path = card
        } else {
            path = info.renderNodePath
        }
        return try DRMConnection(file: try DRMFile(path: path), device: info, driver: driver)
    }

    /// UNIMPLEMENTED: MagmaDRM has no performance counters.
    public func performanceCounterToken() throws(MagmaError) -> OwnedFileDescriptor {
        throw .unimplemented("performance counters on DRM device \(info.locatorName)")
    }
}
