import MagmaPlatform

/// One path measured twice in the same run: through Magma, and as the floor (the same syscalls
/// or the same work with no Magma on top).
public protocol BenchmarkPath: AnyObject {
    /// What is measured, for the table.
    var name: String { get }
    /// What one operation is ("round trip", "command", "MiB", ...).
    var unit: String { get }
    /// Operations one call of `runMagma` or `runFloor` performs.
    var operations: Int { get }
    /// Performs `operations` operations through Magma.
    func runMagma() throws
    /// Performs `operations` operations without Magma.
    func runFloor() throws
    /// Releases what the path set up.
    func close()
}

/// A measured path: nanoseconds per operation, median of the runs.
public struct BenchmarkResult: Codable, Sendable {
    public var path: String
    public var unit: String
    /// Nanoseconds per operation through Magma; nil for rows without a measurement.
    public var magma: Double?
    /// Nanoseconds per operation of the floor; nil when a row has no floor.
    public var floor: Double?
    /// Bytes, for memory rows.
    public var bytes: Double?
    /// A count in `unit`, as text (for example "6 → 6" threads), for rows that count.
    public var count: String?
    /// Magma / floor, when both were measured.
    public var ratio: Double?

    public init(path: String, unit: String, magma: Double? = nil, floor: Double? = nil, bytes: Double? = nil, count: String? = nil) {
        self.path = path
        self.count = count
        self.unit = unit
        self.magma = magma
        self.floor = floor
        self.bytes = bytes
        ratio = magma.flatMap { magma in floor.map { magma / $0 } }
    }
}

/// Runs paths: one warm-up of each side (not counted), then `runs` measured runs with the two
/// sides alternating, and keeps the median of each side.
public struct BenchmarkRunner {
    public var runs: Int

    public init(runs: Int) { self.runs = max(1, runs) }

    public func measure(_ path: any BenchmarkPath) throws -> BenchmarkResult {
        defer { path.close() }
        try path.runMagma()
        try path.runFloor()
        var magma: [Double] = []
        var floor: [Double] = []
        for _ in 0..<runs {
            magma.append(try time(path.runMagma) / Double(path.operations))
            floor.append(try time(path.runFloor) / Double(path.operations))
        }
        return BenchmarkResult(path: path.name, unit: path.unit, magma: Self.median(magma), floor: Self.median(floor))
    }

    private func time(_ body: () throws -> Void) throws -> Double {
        let start = Clock.monotonicNanoseconds()
        try body()
        return Double(Clock.monotonicNanoseconds() - start)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
