import Glibc

/// Where magmad puts its device endpoints and where clients look for them: `$MAGMA_DEVICE_DIR`,
/// else `$XDG_RUNTIME_DIR/magma`, else `/tmp/magma-<uid>`. A device named `<name>` has its
/// endpoint at `<directory>/gpu/<name>` and its performance-counter endpoint at
/// `<directory>/gpu-performance-counters/<name>`.
public enum RuntimeDirectory {
    /// The subdirectory of device endpoints.
    public static let devices = "gpu"
    /// The subdirectory of performance-counter endpoints.
    public static let performanceCounters = "gpu-performance-counters"

    /// The endpoint of device `name`.
    public static func deviceEndpoint(in directory: String, name: String) -> String { "\(directory)/\(devices)/\(name)" }

    /// The performance-counter endpoint of device `name`.
    public static func performanceCounterEndpoint(in directory: String, name: String) -> String {
        "\(directory)/\(performanceCounters)/\(name)"
    }

    /// The performance-counter endpoint beside a device endpoint, or nil if `devicePath` is not
    /// in a `gpu/` directory.
    public static func performanceCounterEndpoint(besideDevice devicePath: String) -> String? {
        guard let slash = devicePath.lastIndex(of: "/") else { return nil }
        let directory = devicePath[..<slash]
        guard directory.hasSuffix("/\(devices)") else { return nil }
        return performanceCounterEndpoint(in: String(directory.dropLast(devices.count + 1)), name: String(devicePath[devicePath.index(after: slash)...]))
    }

    /// The directory for this environment.
    public static func resolve(environment: [String: String]) -> String {
        if let directory = environment["MAGMA_DEVICE_DIR"], !directory.isEmpty { return directory }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return "\(runtime)/magma" }
        return "/tmp/magma-\(getuid())"
    }

    /// The directory for this process's environment.
    public static var current: String { resolve(environment: processEnvironment) }

    /// The variables `resolve(environment:)` reads, from this process's environment.
    private static var processEnvironment: [String: String] {
        var environment: [String: String] = [:]
        for name in ["MAGMA_DEVICE_DIR", "XDG_RUNTIME_DIR"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }

    /// The device name `magmad` serves by default.
    public static let defaultDeviceName = "000"

    /// The name that stands for "the running magmad's device" (`magmactl --device magmad`).
    public static let runningDaemon = "magmad"

    /// The endpoint a user's device name stands for (`magmactl --device`, `magma_device_open`):
    /// - a path starting with `/`, `./` or `../` is taken as it is;
    /// - `magmad` is the first device endpoint in `directory` (`<directory>/gpu/000` when none
    ///   is there yet, so the error names where magmad would serve);
    /// - any other name is a path relative to `directory`, for example `gpu/000`.
    public static func endpoint(named name: String, in directory: String) -> String {
        if name.hasPrefix("/") || name.hasPrefix("./") || name.hasPrefix("../") { return name }
        if name == runningDaemon {
            return deviceEndpoints(in: directory).first ?? deviceEndpoint(in: directory, name: defaultDeviceName)
        }
        return "\(directory)/\(name)"
    }

    /// The endpoint a user's device name stands for, in this process's runtime directory.
    public static func endpoint(named name: String) -> String { endpoint(named: name, in: current) }

    /// The device endpoints (sockets) under `<directory>/gpu/`, sorted by name.
    public static func deviceEndpoints(in directory: String) -> [String] {
        guard let stream = opendir("\(directory)/\(devices)") else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != ".", name != ".." else { continue }
            var info = stat()
            let path = deviceEndpoint(in: directory, name: name)
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { names.append(path) }
        }
        return names.sorted()
    }
}
