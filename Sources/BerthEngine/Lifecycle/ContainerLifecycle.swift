import BerthSystem

/// The container state machine: what each request and each runtime report does to a
/// container's state, with Docker's rules for what is allowed when (and its error texts).
/// Pure: `transition` reads the facts and an event and returns the new facts and what the
/// service must do; all I/O stays with the caller. Every status the store holds is written from
/// a transition.
public enum ContainerLifecycle {
    /// What the state machine knows of a container.
    public struct Facts: Sendable, Equatable {
        public var id: String
        /// Without the leading slash.
        public var name: String
        public var status: ContainerStatus
        public var policy: RestartRule
        public var restartCount: Int
        /// The delay the last policy restart waited (ms); doubles while runs stay short.
        public var backoffMs: Int64
        /// A user stopped the container (stop, kill): `unless-stopped` does not bring it back.
        public var manuallyStopped: Bool
        public var autoRemove: Bool

        public init(id: String, name: String = "", status: ContainerStatus, policy: RestartRule = .none, restartCount: Int = 0,
                    backoffMs: Int64 = 0, manuallyStopped: Bool = false, autoRemove: Bool = false) {
            self.id = id; self.name = name; self.status = status; self.policy = policy; self.restartCount = restartCount
            self.backoffMs = backoffMs; self.manuallyStopped = manuallyStopped; self.autoRemove = autoRemove
        }
    }

    public enum Event: Sendable, Equatable {
        /// A user asks to start it (`docker start`, `run`).
        case start
        /// The restart delay passed.
        case restartDue
        /// The runtime started the process.
        case launched
        /// The runtime could not start it (the error is recorded by the caller).
        case launchFailed
        case pause, unpause
        /// A user stops it, or kills it naming it `ref`.
        case stop
        case kill(ref: String)
        /// The process ended (exit code, how long it ran).
        case exited(code: Int, ranForMs: Int64)
        /// Its monitor is gone and with it the exit code (found at start-up).
        case monitorLost
        /// A user asks to remove it.
        case remove(force: Bool)
        /// Removal failed half way.
        case removeFailed
        /// Checks only: exec, attach.
        case exec, attach
    }

    public enum Action: Sendable, Equatable {
        /// Start the process now.
        case launch
        /// Send the stop or kill signal.
        case signal
        /// Wait this long, then deliver `.restartDue`.
        case scheduleRestart(afterMs: Int64)
        /// Forget a restart that was scheduled.
        case cancelRestart
        /// Release what the last run held (runtime state, mounts, cgroups).
        case teardown
        /// Remove the container (AutoRemove after its last run).
        case autoRemove
        /// Record the event for `/events`.
        case emit(String)
        /// The request changes nothing (304 for start and stop).
        case nothing
    }

    public struct Outcome: Sendable, Equatable {
        public var facts: Facts
        public var actions: [Action]
    }

    static func conflict(_ m: String) -> BerthError { .conflict(m) }

    /// The next facts and the actions for `event`; throws Docker's error when the event is not
    /// allowed in the current state.
    public static func transition(_ f: Facts, _ event: Event) throws -> Outcome {
        var n = f
        let id = f.id
        switch (event, f.status) {
        // start
        case (.start, .running), (.start, .restarting):
            return Outcome(facts: f, actions: [.nothing])
        case (.start, .paused):
            throw conflict("cannot start a paused container, try unpause instead")
        case (.start, .removing), (.start, .dead):
            throw conflict("container is marked for removal and cannot be started")
        case (.start, _):
            // A user start resets the policy's count and delay (dockerd's ResetRestartManager).
            n.manuallyStopped = false
            n.restartCount = 0
            n.backoffMs = 0
            return Outcome(facts: n, actions: [.launch])
        case (.restartDue, .restarting):
            return Outcome(facts: f, actions: [.launch])
        case (.restartDue, _):
            return Outcome(facts: f, actions: [])  // stopped or removed meanwhile
        case (.launched, _):
            n.status = .running
            return Outcome(facts: n, actions: [.emit("start")])
        case (.launchFailed, _):
            // A failed (re)start leaves the container stopped; its AutoRemove still applies.
            n.status = f.status == .created ? .created : .exited
            return Outcome(facts: n, actions: [.teardown] + (f.autoRemove ? [.autoRemove] : []))

        // pause / unpause
        case (.pause, .running):
            n.status = .paused
            return Outcome(facts: n, actions: [.emit("pause")])
        case (.pause, .paused):
            throw conflict("Container \(id) is already paused")
        case (.pause, .restarting):
            throw conflict("Container \(id) is restarting, wait until the container is running")
        case (.pause, _):
            throw conflict("Container \(id) is not running")
        case (.unpause, .paused):
            n.status = .running
            return Outcome(facts: n, actions: [.emit("unpause")])
        case (.unpause, _):
            throw conflict("Container \(id) is not paused")

        // stop / kill
        case (.stop, .restarting), (.kill(_), .restarting):
            // Stopped during the restart delay: the restart is called off.
            n.status = .exited
            n.manuallyStopped = true
            return Outcome(facts: n, actions: [.cancelRestart] + (f.autoRemove ? [.autoRemove] : []))
        case (.stop, .running), (.stop, .paused):
            n.manuallyStopped = true
            return Outcome(facts: n, actions: [.signal])
        case (.stop, _):
            return Outcome(facts: f, actions: [.nothing])
        case (.kill, .running), (.kill, .paused):
            n.manuallyStopped = true
            return Outcome(facts: n, actions: [.signal])
        case (.kill(let ref), _):
            throw conflict("Cannot kill container: \(ref): Container \(id) is not running")

        // exit
        case (.exited(let code, let ranFor), .running), (.exited(let code, let ranFor), .paused):
            let d = f.policy.decide(exitCode: code, manuallyStopped: f.manuallyStopped, ranForMs: ranFor,
                                    restarts: f.restartCount, backoffMs: f.backoffMs)
            // A user's stop or kill calls off any restart (dockerd cancels the restart manager).
            if d.restart && !f.manuallyStopped {
                n.status = .restarting
                n.restartCount += 1
                n.backoffMs = d.delayMs
                return Outcome(facts: n, actions: [.emit("die"), .teardown, .scheduleRestart(afterMs: d.delayMs)])
            }
            n.status = .exited
            return Outcome(facts: n, actions: [.emit("die"), .teardown] + (f.autoRemove ? [.autoRemove] : []))
        case (.exited, _):
            return Outcome(facts: f, actions: [])  // a late or repeated report
        case (.monitorLost, .running), (.monitorLost, .paused), (.monitorLost, .restarting):
            n.status = .exited
            return Outcome(facts: n, actions: [.emit("die"), .teardown])
        case (.monitorLost, _):
            return Outcome(facts: f, actions: [])

        // remove
        case (.remove(false), .running), (.remove(false), .paused), (.remove(false), .restarting):
            throw conflict("cannot remove container \"/\(f.name)\": container is \(f.status.rawValue): stop the container before removing or force remove")
        case (.remove, .removing):
            throw conflict("removal of container \(id) is already in progress")
        case (.remove(true), .running), (.remove(true), .paused):
            n.status = .removing
            n.manuallyStopped = true
            return Outcome(facts: n, actions: [.signal, .teardown])
        case (.remove, _):
            n.status = .removing
            return Outcome(facts: n, actions: [.cancelRestart, .teardown])
        case (.removeFailed, _):
            n.status = .dead
            return Outcome(facts: n, actions: [])

        // checks
        case (.exec, .running), (.attach, .running), (.attach, .created), (.attach, .exited):
            return Outcome(facts: f, actions: [])
        case (.exec, .paused):
            throw conflict("Container \(id) is paused, unpause the container before exec")
        case (.exec, .restarting):
            throw conflict("Container \(id) is restarting, wait until the container is running")
        case (.exec, _):
            throw conflict("Container \(id) is not running")
        case (.attach, .paused):
            throw conflict("You cannot attach to a paused container, unpause it first")
        case (.attach, .restarting):
            throw conflict("You cannot attach to a restarting container, wait until it is running")
        case (.attach, _):
            throw conflict("You cannot attach to a stopped container, start it first")
        }
    }

    /// At daemon start, for a container that does not run: whether its policy starts it again
    /// (dockerd: `always`, and `unless-stopped` or `on-failure` when their rules allow).
    public static func restartsAtDaemonStart(_ f: Facts, exitCode: Int) -> Bool {
        guard f.status == .exited || f.status == .restarting else { return false }
        if f.status == .restarting { return true }
        let d = f.policy.decide(exitCode: exitCode, manuallyStopped: f.manuallyStopped, ranForMs: 0,
                                restarts: f.restartCount, backoffMs: 0)
        return d.restart && (f.policy.kind == .always || !f.manuallyStopped)
    }
}
