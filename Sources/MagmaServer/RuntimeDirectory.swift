import Glibc

/// Where magmad puts its endpoints when not told: `$MAGMA_DEVICE_DIR`, else
/// `$XDG_RUNTIME_DIR/magma`, else `/tmp/magma-<uid>`.
public enum RuntimeDirectory {
    public static func resolve(environment: [String: String]) -> String {
        if let directory = environment["MAGMA_DEVICE_DIR"], !directory.isEmpty { return directory }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return "\(runtime)/magma" }
        return "/tmp/magma-\(getuid())"
    }
}
