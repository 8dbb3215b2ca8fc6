import Glibc
import MagmaProtocol

/// Enumeration of the machine's DRM devices: every render node in `/dev/dri`.
public enum DRMDevices {
    /// Where the kernel's DRM nodes are.
    public static let nodeDirectory = "/dev/dri"
    /// Where sysfs describes them.
    public static let sysfsDirectory = "/sys/class/drm"
    /// The prefix of DRM device names in `DeviceLocator.named`: "drm/renderD128".
    public static let locatorPrefix = "drm/"

    /// The render nodes' file names in `directory`, in minor-number order ("renderD128", ...);
    /// empty when there is no such directory (a machine without DRM).
    public static func renderNodeNames(in directory: String = nodeDirectory) -> [String] {
        entries(of: directory).filter { $0.hasPrefix("renderD") }
            .sorted { (Int($0.dropFirst(7)) ?? 0, $0) < (Int($1.dropFirst(7)) ?? 0, $1) }
    }

    /// Every render node, probed; a node that cannot be opened or asked (EACCES for a user
    /// outside the video group) is left out.
    public static func all(in directory: String = nodeDirectory) -> [DRMDeviceInfo] {
        renderNodeNames(in: directory).compactMap { try? DRMDeviceInfo.probe(nodeName: $0, directory: directory) }
    }

    /// The names `DeviceLocator.named` takes for every render node: "drm/renderD128", ...
    public static func locatorNames(in directory: String = nodeDirectory) -> [String] {
        renderNodeNames(in: directory).map { locatorPrefix + $0 }
    }

    /// The render node path a locator name names: "drm/renderD128" -> "/dev/dri/renderD128";
    /// nil for a name without the prefix, or with a path separator or nothing after it.
    public static func nodePath(forLocatorName name: String) -> String? {
        guard name.hasPrefix(locatorPrefix) else { return nil }
        let node = name.dropFirst(locatorPrefix.count)
        guard !node.isEmpty, !node.contains("/"), node != ".", node != ".." else { return nil }
        return nodeDirectory + "/" + node
    }

    /// The names in a directory, without "." and ".."; empty if it cannot be read.
    static func entries(of directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }
}
