import BerthSystem
import Foundation

/// How big a container's log may grow: the monitor starts a new file when the current one would
/// pass `maxSize`, and `maxFiles` files are kept in all (the current one included). Docker's
/// `--log-opt max-size=… --log-opt max-file=…`, from the daemon's flags and each container's
/// `HostConfig.LogConfig.Config`.
public struct LogLimits: Sendable, Equatable {
    /// Bytes; 0 means unbounded (one file that grows for ever).
    public var maxSize: Int64
    public var maxFiles: Int

    public init(maxSize: Int64, maxFiles: Int) { self.maxSize = maxSize; self.maxFiles = maxFiles }

    /// Five files of 64 MiB: a container never holds more than 320 MiB of log.
    public static let defaults = LogLimits(maxSize: 64 << 20, maxFiles: 5)

    /// Options the file drivers accept; only the two limits change what Berth does.
    static let knownOptions: Set<String> = ["max-size", "max-file", "compress", "labels", "labels-regex",
                                            "env", "env-regex", "tag", "mode", "max-buffer-size"]

    /// These limits with `options` laid over them; dockerd's error text for bad ones.
    public func applying(_ options: [String: String], driver: String = "k8s-file") throws -> LogLimits {
        var l = self
        for (key, value) in options {
            switch key {
            case "max-size":
                guard let n = Self.parseSize(value) else {
                    throw BerthError.invalid("failed to initialize logging driver: invalid size: '\(value)'")
                }
                l.maxSize = n
            case "max-file":
                guard let n = Int(value), n >= 1 else { throw BerthError.invalid("failed to initialize logging driver: max-file cannot be less than 1") }
                l.maxFiles = n
            default:
                if !Self.knownOptions.contains(key) {
                    throw BerthError.invalid("unknown log opt '\(key)' for \(driver.isEmpty ? "json-file" : driver) log driver")
                }
            }
        }
        return l
    }

    /// Sizes as Docker writes them: `1024`, `512k`, `10m`, `1g`, `10MB`, `1.5GiB` (powers of 1024);
    /// `-1` for unbounded.
    public static func parseSize(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces).lowercased()
        if s == "-1" { return 0 }
        let digits = s.prefix(while: { $0.isNumber || $0 == "." })
        guard !digits.isEmpty, let value = Double(digits) else { return nil }
        var unit = s.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        if unit.hasSuffix("b") { unit.removeLast() }
        if unit.hasSuffix("i") { unit.removeLast() }
        let shift: Int
        switch unit {
        case "": shift = 0
        case "k": shift = 10
        case "m": shift = 20
        case "g": shift = 30
        case "t": shift = 40
        default: return nil
        }
        let bytes = value * Double(Int64(1) << shift)
        guard bytes >= 1, bytes < 9.2e18 else { return nil }
        return Int64(bytes)
    }
}
