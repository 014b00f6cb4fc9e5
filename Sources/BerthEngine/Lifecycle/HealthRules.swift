import BerthModels
import BerthSystem

/// Health checks as dockerd runs them, without I/O: the probe a container gets (its own
/// `--health-*` laid over the image's `HEALTHCHECK`), and what a probe's result does to the
/// health state.
public enum HealthRules {
    public static let defaultIntervalMs: Int64 = 30_000
    public static let defaultTimeoutMs: Int64 = 30_000
    public static let defaultStartIntervalMs: Int64 = 5_000
    public static let defaultRetries = 3
    /// dockerd keeps the last five results and 4 KiB of each one's output.
    public static let maxLog = 5
    public static let maxOutput = 4096

    /// A probe ready to run.
    public struct Probe: Sendable, Equatable {
        public var argv: [String]
        public var intervalMs: Int64
        public var timeoutMs: Int64
        public var startPeriodMs: Int64
        public var startIntervalMs: Int64
        public var retries: Int
        public init(argv: [String], intervalMs: Int64, timeoutMs: Int64, startPeriodMs: Int64, startIntervalMs: Int64, retries: Int) {
            self.argv = argv; self.intervalMs = intervalMs; self.timeoutMs = timeoutMs; self.startPeriodMs = startPeriodMs
            self.startIntervalMs = startIntervalMs; self.retries = retries
        }
    }

    /// The container's settings over the image's, field by field (dockerd's merge).
    public static func merge(_ user: HealthcheckConfig?, image: HealthcheckConfig?) -> HealthcheckConfig? {
        guard var u = user else { return image }
        guard let i = image else { return u }
        if (u.Test ?? []).isEmpty { u.Test = i.Test }
        if (u.Interval ?? 0) == 0 { u.Interval = i.Interval }
        if (u.Timeout ?? 0) == 0 { u.Timeout = i.Timeout }
        if (u.StartPeriod ?? 0) == 0 { u.StartPeriod = i.StartPeriod }
        if (u.StartInterval ?? 0) == 0 { u.StartInterval = i.StartInterval }
        if (u.Retries ?? 0) == 0 { u.Retries = i.Retries }
        return u
    }

    /// dockerd's checks at create.
    public static func check(_ h: HealthcheckConfig?) throws {
        guard let h else { return }
        for (v, name) in [(h.Interval, "Interval"), (h.Timeout, "Timeout"), (h.StartPeriod, "StartPeriod"), (h.StartInterval, "StartInterval")] {
            if let v, v != 0, v < 1_000_000 { throw BerthError.invalid("\(name) in Healthcheck cannot be less than 1ms") }
            if let v, v < 0 { throw BerthError.invalid("\(name) in Healthcheck cannot be negative") }
        }
        if let r = h.Retries, r < 0 { throw BerthError.invalid("Retries in Healthcheck cannot be negative") }
        if let t = h.Test, let first = t.first, !["NONE", "CMD", "CMD-SHELL"].contains(first) {
            throw BerthError.invalid("unknown type \(first) in Healthcheck test (use CMD, CMD-SHELL or NONE)")
        }
    }

    /// The probe to run, or nil when there is none (`NONE`, or no test).
    public static func probe(_ h: HealthcheckConfig?) -> Probe? {
        guard let h, let test = h.Test, let kind = test.first else { return nil }
        let argv: [String]
        switch kind {
        case "CMD": argv = Array(test.dropFirst())
        case "CMD-SHELL": argv = ["/bin/sh", "-c", test.dropFirst().joined(separator: " ")]
        default: return nil
        }
        guard !argv.isEmpty else { return nil }
        func ms(_ ns: Int64?, _ d: Int64) -> Int64 { let v = (ns ?? 0) / 1_000_000; return v > 0 ? v : d }
        return Probe(argv: argv, intervalMs: ms(h.Interval, defaultIntervalMs), timeoutMs: ms(h.Timeout, defaultTimeoutMs),
                     startPeriodMs: max(0, (h.StartPeriod ?? 0) / 1_000_000),
                     startIntervalMs: ms(h.StartInterval, defaultStartIntervalMs),
                     retries: (h.Retries ?? 0) > 0 ? h.Retries! : defaultRetries)
    }

    /// How long to wait before the next probe: the start interval while the start period runs.
    public static func delayMs(_ p: Probe, sinceStartMs: Int64, state: HealthState) -> Int64 {
        state.Status == "starting" && sinceStartMs < p.startPeriodMs ? min(p.startIntervalMs, p.intervalMs) : p.intervalMs
    }

    /// One probe's result applied to the state; returns whether the status changed. A failure
    /// within the start period does not count while the container has never been healthy.
    @discardableResult
    public static func record(_ state: inout HealthState, probe: Probe, exitCode: Int, output: String,
                              start: Int64, end: Int64, containerStarted: Int64) -> Bool {
        let before = state.Status
        if exitCode == 0 {
            state.FailingStreak = 0
            state.Status = "healthy"
        } else {
            let withinStart = state.Status == "starting" && (start - containerStarted) / 1_000_000 < probe.startPeriodMs
            if !withinStart {
                state.FailingStreak += 1
                if state.FailingStreak >= probe.retries { state.Status = "unhealthy" }
            }
        }
        var text = output
        if text.utf8.count > maxOutput { text = String(decoding: Array(text.utf8.prefix(maxOutput)), as: UTF8.self) }
        state.Log.append(HealthLogEntry(Start: Timestamp.rfc3339(nanos: start), End: Timestamp.rfc3339(nanos: end),
                                        ExitCode: exitCode, Output: text))
        if state.Log.count > maxLog { state.Log.removeFirst(state.Log.count - maxLog) }
        return state.Status != before
    }

    /// `(healthy)` and friends, as `docker ps` shows them after "Up …".
    public static func psSuffix(_ status: String?) -> String {
        switch status {
        case "starting": return " (health: starting)"
        case "healthy": return " (healthy)"
        case "unhealthy": return " (unhealthy)"
        default: return ""
        }
    }
}
