/// The versions `magmactl --version` and `magmad --version` print.
public enum MagmaVersion {
    /// This package's version (also the version of libmagma's pkg-config file, which
    /// scripts/install-libmagma.sh reads from this line).
    public static let package = "0.1.0"

    /// The package version and the protocol's wire format (`ProtocolLimits.wireFormat`, from
    /// protocol/magma.json), on one line.
    public static var description: String { "\(package) (Magma protocol wire format \(ProtocolLimits.wireFormat))" }
}
