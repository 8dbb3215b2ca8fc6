import Glibc

/// Where magmad puts its device endpoints and where clients look for them: `$MAGMA_DEVICE_DIR`,
/// else `$XDG_RUNTIME_DIR/magma`, else `/tmp/magma-<uid>`. Endpoints are `<directory>/gpu/<name>`.
public enum RuntimeDirectory {
    /// The directory for this environment.
    public static func resolve(environment: [String: String]) -> String {
        if let directory = environment["MAGMA_DEVICE_DIR"], !directory.isEmpty { return directory }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return "\(runtime)/magma" }
        return "/tmp/magma-\(getuid())"
    }

    /// The directory for this process's environment.
    public static var current: String {
        var environment: [String: String] = [:]
        for name in ["MAGMA_DEVICE_DIR", "XDG_RUNTIME_DIR"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return resolve(environment: environment)
    }

    /// The device endpoints (sockets) under `<directory>/gpu/`, sorted by name.
    public static func deviceEndpoints(in directory: String) -> [String] {
        guard let stream = opendir("\(directory)/gpu") else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != ".", name != ".." else { continue }
            var info = stat()
            let path = "\(directory)/gpu/\(name)"
            if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { names.append(path) }
        }
        return names.sorted()
    }
}
