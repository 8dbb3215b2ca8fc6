import Glibc

/// The random numbers of a test: SplitMix64 from a seed that `MAGMA_TEST_SEED` sets (decimal
/// or 0x-hex) and that is otherwise drawn at random. The seed is printed when the generator is
/// made and is in its description, so a failure message that includes the generator says how
/// to replay the run.
public struct SeededRandom: RandomNumberGenerator, CustomStringConvertible, Sendable {
    /// The seed this generator started from.
    public let seed: UInt64
    private var state: UInt64

    /// A generator for `purpose` (printed with the seed), from `MAGMA_TEST_SEED` if set.
    public init(for purpose: String) {
        self.init(seed: Self.environmentSeed ?? UInt64.random(in: 0...UInt64.max))
        print("\(purpose): \(self)")
    }

    /// A generator from `seed`, printing nothing.
    public init(seed: UInt64) {
        self.seed = seed
        state = seed
    }

    /// An independent generator for one of several threads, determined by this one's seed
    /// and `stream`.
    public func stream(_ stream: Int) -> SeededRandom {
        SeededRandom(seed: seed ^ (UInt64(stream) &+ 1) &* 0xD1B5_4A32_D192_ED03)
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public var description: String { "seed \(Self.hex(seed)) (replay with MAGMA_TEST_SEED=\(Self.hex(seed)))" }

    /// The seed `MAGMA_TEST_SEED` names, if it is set; a value that is not a number stops the run.
    static var environmentSeed: UInt64? {
        guard let raw = getenv("MAGMA_TEST_SEED").map({ String(cString: $0) }), !raw.isEmpty else { return nil }
        guard let seed = raw.hasPrefix("0x") ? UInt64(raw.dropFirst(2), radix: 16) : UInt64(raw) else {
            fatalError("MAGMA_TEST_SEED=\(raw) is not a decimal or 0x-hex UInt64")
        }
        return seed
    }

    private static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
