import Glibc
import Magma
import MagmaPlatform
import MagmaProtocol

/// How long a synchronous call to magmad waits for its answer: a query, a connect, a
/// performance-counter token, a flush. A stopped magmad (SIGSTOP) or a socket nobody serves
/// then gives TIMED_OUT instead of a hang.
public enum DeviceCallTimeout {
    /// Five seconds: far longer than magmad takes to answer, even while its GPU is busy.
    public static let defaultNanoseconds: UInt64 = 5_000_000_000

    /// The environment variable that sets the bound, in milliseconds (0: no bound).
    public static let environmentVariable = "MAGMA_DEVICE_TIMEOUT_MS"

    /// `MAGMA_DEVICE_TIMEOUT_MS` when it is a number of milliseconds (0 waits forever), else
    /// `defaultNanoseconds`.
    public static var fromEnvironment: UInt64 { nanoseconds(milliseconds: getenv(environmentVariable).map { String(cString: $0) }) }

    /// The bound a value of MAGMA_DEVICE_TIMEOUT_MS means: that many milliseconds, 0 for no
    /// bound; the default when it is absent or not a number.
    public static func nanoseconds(milliseconds text: String?) -> UInt64 {
        guard let text, let milliseconds = UInt64(text) else { return defaultNanoseconds }
        if milliseconds == 0 { return Poller.forever }
        let (nanoseconds, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
        return overflow ? Poller.forever : nanoseconds
    }

    /// TIMED_OUT for `call`, which got no answer within `timeoutNanoseconds`.
    static func error(_ call: String, _ timeoutNanoseconds: UInt64) -> MagmaError {
        MagmaError(.timedOut, "\(call): no answer from the server within \(timeoutNanoseconds / 1_000_000) ms "
            + "(is magmad stopped? \(environmentVariable) sets the bound)")
    }
}
