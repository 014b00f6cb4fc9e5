/// The states a container is in, as dockerd names them.
public enum ContainerStatus: String, Sendable, CaseIterable, Codable {
    case created, running, paused, restarting, exited, removing, dead

    /// Reads a stored status; an unknown text (a newer Berth wrote it) counts as dead.
    public init(stored: String) { self = ContainerStatus(rawValue: stored) ?? .dead }

    /// A process of the container exists (it may be frozen).
    public var hasProcess: Bool { self == .running || self == .paused }

    /// What Docker reports as `State.Running`: true while paused and while waiting to restart.
    public var reportsRunning: Bool { hasProcess || self == .restarting }
}
