import BerthExecutor
import BerthModels
import BerthSystem

/// Docker's log drivers as Berth keeps them: every file driver is conmon's k8s-file format on
/// disk (`json-file` is what is reported by default, as dockerd does), `none` keeps nothing.
public enum LogOptions {
    /// Drivers whose logs Berth keeps in files it can read back.
    public static let fileDrivers: Set<String> = ["", "k8s-file", "json-file", "local"]
    /// The drivers a container may ask for: the file drivers and `none`.
    public static let drivers: Set<String> = fileDrivers.union(["none"])

    /// dockerd's refusal of a driver Berth does not have.
    public static func checkDriver(_ name: String) throws {
        guard drivers.contains(name) else { throw BerthError.invalid("logger: no log driver named '\(name)' is registered") }
    }

    /// Whether `docker logs` can read what this driver kept.
    public static func readable(_ config: LogConfig?) -> Bool { (config?.Type ?? "") != "none" }

    /// The limits for a container: the daemon's, with the container's own options laid over.
    public static func limits(_ config: LogConfig?, defaults: LogLimits) throws -> LogLimits {
        guard let config else { return defaults }
        try checkDriver(config.Type)
        if config.Type == "none" {
            if let k = (config.Config ?? [:]).keys.sorted().first { throw BerthError.invalid("unknown log opt '\(k)' for none log driver") }
            return defaults
        }
        return try defaults.applying(config.Config ?? [:], driver: config.Type)
    }

    /// What the runtime needs: whether to keep a log, and its limits.
    public static func spec(_ config: LogConfig?, defaults: LogLimits) throws -> LogSpec {
        LogSpec(keep: readable(config), limits: try limits(config, defaults: defaults))
    }
}
