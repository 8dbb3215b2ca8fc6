import Glibc
import MagmaProtocol

extension DeviceBus {
    /// The bus of the device sysfs describes at `sysfsDevice` (`/sys/class/drm/<node>/device`):
    /// its `subsystem` link names the bus ("pci", "platform"), and a PCI device's own directory
    /// is named by its slot ("0000:00:01.0"). `.unknown` for another bus, or where sysfs has
    /// neither.
    init(sysfsDevice: String) {
        switch Self.lastComponent(ofLink: sysfsDevice + "/subsystem") {
        case "pci":
            guard let resolved = realpath(sysfsDevice, nil) else { self = .unknown; return }
            defer { free(resolved) }
            let slot = String(cString: resolved).split(separator: "/").last.map(String.init) ?? ""
            self = PCIAddress(slotName: slot).map { .pci($0) } ?? .unknown
        case "platform":
            self = .platform
        default:
            self = .unknown
        }
    }

    /// The last path component of the symbolic link at `path`; nil if it is none.
    private static func lastComponent(ofLink path: String) -> String? {
        var target = [CChar](repeating: 0, count: Int(PATH_MAX))
        let length = readlink(path, &target, target.count - 1)
        guard length > 0 else { return nil }
        let text = String(decoding: target.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "/").last.map(String.init)
    }
}
