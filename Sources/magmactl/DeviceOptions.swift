import ArgumentParser
import Magma

/// `--device PATH`: which device a command uses.
struct DeviceOptions: ParsableArguments {
    @Option(help: "A magmad device endpoint (for example $XDG_RUNTIME_DIR/magma/gpu/000). Without it, the embedded device.")
    var device: String?

    /// Opens the device and says what it is.
    func open() throws -> (device: Device, description: String) {
        if let path = device { return (try Device.open(.socket(path)), "magmad at \(path)") }
        return (try Device.open(.embedded), "embedded (MagmaSystem + SoftGPU in this process)")
    }
}
