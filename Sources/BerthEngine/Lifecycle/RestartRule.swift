import BerthModels
import BerthSystem

/// `--restart no|always|unless-stopped|on-failure[:N]` and dockerd's decision after an exit: the
/// delay before a restart starts at 100 ms and doubles up to a minute, back to 100 ms once a run
/// lasted 10 s; `on-failure` restarts only non-zero exits, at most N times (0: no limit).
public struct RestartRule: Sendable, Equatable {
    public enum Kind: String, Sendable { case no, always, unlessStopped = "unless-stopped", onFailure = "on-failure" }
    public var kind: Kind
    public var maxRetries: Int

    public static let none = RestartRule(kind: .no, maxRetries: 0)
    public static let firstDelayMs: Int64 = 100
    public static let maxDelayMs: Int64 = 60_000
    public static let resetAfterMs: Int64 = 10_000

    public init(kind: Kind, maxRetries: Int) { self.kind = kind; self.maxRetries = maxRetries }

    /// From the API's `RestartPolicy`, with dockerd's checks.
    public init(_ p: BerthModels.RestartPolicy?) throws {
        let name = p?.Name ?? ""
        let max = p?.MaximumRetryCount ?? 0
        switch name {
        case "", "no": kind = .no
        case "always": kind = .always
        case "unless-stopped": kind = .unlessStopped
        case "on-failure": kind = .onFailure
        default: throw BerthError.invalid("invalid restart policy: unknown policy '\(name)'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
        }
        if max < 0 { throw BerthError.invalid("invalid restart policy: maximum retry count can't be negative") }
        if max > 0 && kind != .onFailure {
            throw BerthError.invalid("invalid restart policy: maximum retry count can only be used with 'on-failure'")
        }
        maxRetries = max
    }

    public var isNone: Bool { kind == .no }

    /// What to do after an exit: restart (and after how long), with the backoff to keep.
    /// `restarts` is how many times the container was restarted by its policy so far.
    public func decide(exitCode: Int, manuallyStopped: Bool, ranForMs: Int64, restarts: Int, backoffMs: Int64)
        -> (restart: Bool, delayMs: Int64) {
        if isNone { return (false, 0) }
        var delay = ranForMs >= Self.resetAfterMs ? 0 : backoffMs
        delay = delay == 0 ? Self.firstDelayMs : min(Self.maxDelayMs, delay * 2)
        let restart: Bool
        switch kind {
        case .no: restart = false
        case .always: restart = true
        case .unlessStopped: restart = !manuallyStopped
        case .onFailure: restart = exitCode != 0 && (maxRetries == 0 || restarts < maxRetries)
        }
        return (restart, delay)
    }
}
